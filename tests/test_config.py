"""edgedepth.config: typed sections from YAML, key=value overrides, errors that name the key, the resolved file."""
import pytest
import yaml

from edgedepth.config import Config, from_dict, load_config, packaged_config, parse_overrides, save_config, to_dict
from edgedepth.errors import ConfigError


def test_defaults_and_overrides_are_typed():
    cfg = load_config(None, ["train.steps=12", "data.size=[64,192]", "optim.lr=1e-3", "model.semantics=false",
                             "train.resume=null", "loss.kernel=reference"])
    assert isinstance(cfg, Config)
    assert cfg.train.steps == 12 and cfg.data.size == (64, 192) and cfg.optim.lr == 1e-3
    assert cfg.model.semantics is False and cfg.train.resume is None and cfg.loss.kernel == "reference"
    assert load_config().train.steps == Config().train.steps


def test_yaml_file_then_overrides_on_top(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump({"train": {"steps": 5, "seed": 3}, "data": {"batch_size": 2}}))
    cfg = load_config(path, ["train.steps=7"])
    assert (cfg.train.steps, cfg.train.seed, cfg.data.batch_size) == (7, 3, 2)


@pytest.mark.parametrize("overrides, message", [
    (["train.stepz=3"], "unknown config key 'train.stepz'"),
    (["nosection.x=1"], "unknown config key 'nosection'"),
    (["train.steps=many"], "config key 'train.steps' must be an integer"),
    (["optim.lr=true"], "config key 'optim.lr' must be a number"),
    (["data.size=[64]"], "config key 'data.size' must be a list of 2 values"),
    (["loss.adv_kind=wgan"], "config key 'loss.adv_kind' is 'wgan', which is not allowed"),
    (["model.encoder=vgg16"], "config key 'model.encoder' is 'vgg16', which is not allowed"),
    (["model.semantic_backbone=mobilenet_v3_large"], "'model.semantic_backbone' is 'mobilenet_v3_large'"),
    (["train.steps"], "is not of the form key=value"),
    (["train.out=3"], "config key 'train.out' must be a string"),
    (["train.steps.x=1"], r"config key 'train.steps' must be an integer, got \{'x': 1\}"),
])
def test_bad_overrides_name_the_key_and_the_fix(overrides, message):
    with pytest.raises(ConfigError, match=message) as e:
        load_config(None, overrides)
    assert e.value.fix


def test_registry_names_are_the_allowed_values():
    from edgedepth.models import encoder_names

    with pytest.raises(ConfigError) as e:
        load_config(None, ["model.encoder=vgg16"])
    assert all(repr(name) in e.value.fix for name in encoder_names())


@pytest.mark.parametrize("text, message", [
    ("train: [1, 2]", "config section 'train' must be a mapping"),
    ("- a\n- b\n", "must hold a mapping of sections"),
    ("train: {steps: [}", "is not valid YAML"),
])
def test_bad_files(tmp_path, text, message):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message):
        load_config(path)
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "missing.yaml")


def test_saved_config_reads_back_identically(tmp_path):
    cfg = load_config(None, ["data.size=[32,96]", "model.encoder=resnet34", "curriculum.enabled=true"])
    save_config(cfg, tmp_path / "config.yaml")
    assert load_config(tmp_path / "config.yaml") == cfg
    assert from_dict(to_dict(cfg)) == cfg
    assert to_dict(cfg)["data"]["size"] == [32, 96]  # plain lists: YAML and JSON friendly


def test_overrides_parse_yaml_values():
    assert parse_overrides(["a.b=1", "a.c=[1, 2]", "d=text", "e="]) == {"a": {"b": 1, "c": [1, 2]}, "d": "text", "e": None}


def test_the_packaged_demo_config_loads():
    cfg = load_config(packaged_config("synthetic_demo"))
    assert cfg.data.size == (128, 384) and cfg.train.steps > 0
    assert cfg.model.encoder == "edge_l" and cfg.model.semantic_backbone == "edge_l"  # the edge network, end to end


@pytest.mark.parametrize("override, words", [
    ("data.size=[63,190]", ["'data.size' is [63, 190]", "multiples of 32", "data.size=[64,192]"]),
    ("data.size=[16,64]", ["multiples of 32", "data.size=[32,64]"]),
    ("train.steps=-5", ["'train.steps' is -5", "at least 1"]),
    ("train.steps=0", ["'train.steps' is 0"]),
    ("data.batch_size=0", ["'data.batch_size' is 0", "at least 1"]),
    ("train.log_every=0", ["'train.log_every' is 0"]),
    ("train.ckpt_every=-1", ["'train.ckpt_every' is -1"]),
    ("train.ema=1.0", ["'train.ema' is 1.0", "[0, 1)"]),
    ("loss.view_fallback=true", ["'loss.view_fallback'", "data.views=both"]),
])
def test_unusable_values_are_refused_naming_the_key(override, words):
    with pytest.raises(ConfigError) as err:
        load_config(None, [override])
    assert all(w in err.value.message() for w in words)


def test_usable_edge_values_load():
    cfg = load_config(None, ["data.size=[64,192]", "train.steps=1", "train.ckpt_every=0", "data.batch_size=1"])
    assert cfg.data.size == (64, 192) and cfg.train.steps == 1
