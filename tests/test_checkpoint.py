"""edgedepth.checkpoint: atomic CPU-tensor checkpoints, read with weights_only=True, with errors that say why."""
import os
import pickle
import zipfile

import pytest
import torch

from edgedepth.checkpoint import (
    load_checkpoint,
    load_depth_net,
    load_semantic_net,
    load_state_dict_checked,
    save_checkpoint,
)
from edgedepth.config import Config, to_dict
from edgedepth.errors import CheckpointError
from edgedepth.models import build_models


def _state(cfg: Config, depth, semantic=None) -> dict:
    return {"config": to_dict(cfg), "models": {"depth": depth.state_dict(), "semantic": semantic.state_dict() if semantic else {}},
            "step": 3}


@pytest.fixture(scope="module")
def nets():
    cfg = Config()
    cfg.model.semantic_channels = 16
    torch.manual_seed(0)
    depth, semantic, _ = build_models(cfg.model)
    return cfg, depth.eval(), semantic.eval()


def test_round_trip_and_format_tags(tmp_path, nets):
    cfg, depth, semantic = nets
    path = tmp_path / "m.pt"
    save_checkpoint(path, _state(cfg, depth, semantic))
    state = load_checkpoint(path)
    assert state["format"] == "edgedepth-checkpoint" and state["version"] == 1 and state["step"] == 3
    assert [p.name for p in tmp_path.iterdir()] == ["m.pt"]  # the atomic write left no temporary file
    net, model_cfg = load_depth_net(path)
    assert model_cfg == cfg.model and not net.training
    x = torch.rand(1, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(net.predict_depth(x), depth.predict_depth(x))
    s = load_semantic_net(state, path, model_cfg, net)
    with torch.no_grad():
        torch.testing.assert_close(s(x)["logits"], semantic(x)["logits"])


def test_without_a_semantic_network(tmp_path, nets):
    cfg, depth, _ = nets
    path = tmp_path / "m.pt"
    save_checkpoint(path, _state(cfg, depth))
    assert load_semantic_net(load_checkpoint(path), path, cfg.model, depth) is None


def test_missing_truncated_and_foreign_files(tmp_path, nets):
    cfg, depth, _ = nets
    with pytest.raises(CheckpointError, match="does not exist"):
        load_checkpoint(tmp_path / "none.pt")
    good = tmp_path / "good.pt"
    save_checkpoint(good, _state(cfg, depth))
    cut = tmp_path / "cut.pt"
    cut.write_bytes(good.read_bytes()[: len(good.read_bytes()) // 2])
    with pytest.raises(CheckpointError, match="cannot be read"):
        load_checkpoint(cut)
    other = tmp_path / "other.pt"
    torch.save({"weights": torch.zeros(2)}, other)
    with pytest.raises(CheckpointError, match="is not an edgedepth checkpoint"):
        load_checkpoint(other)


class _Payload:
    """Any class: unpickling it would run code of the file's choosing."""

    def __reduce__(self):
        return (print, ("unpickled!",))


def test_pickled_objects_are_never_unpickled(tmp_path, capsys):
    path = tmp_path / "evil.pt"
    with zipfile.ZipFile(path, "w"):
        pass
    torch.save({"format": "edgedepth-checkpoint", "obj": _Payload()}, path, pickle_protocol=pickle.HIGHEST_PROTOCOL)
    with pytest.raises(CheckpointError, match="refusing to unpickle"):
        load_checkpoint(path)
    assert "unpickled!" not in capsys.readouterr().out


def test_weights_for_another_architecture_say_so(tmp_path, nets):
    cfg, depth, _ = nets
    other = Config()
    other.model.encoder = "resnet34"
    wrong = build_models(other.model)[0]
    with pytest.raises(CheckpointError, match="does not fit the depth network") as e:
        load_state_dict_checked(wrong, depth.state_dict(), what="depth", path="m.pt")
    assert "architecture" in e.value.fix


@pytest.mark.parametrize("content", [os.urandom(4096), b"a text file, not a checkpoint\n"])
def test_random_bytes_are_a_damaged_file_not_a_pickle_refusal(tmp_path, content):
    path = tmp_path / "model.pt"
    path.write_bytes(content)
    with pytest.raises(CheckpointError) as err:
        load_checkpoint(path)
    msg = err.value.message()
    assert "truncated or corrupt" in msg and "unpickle" not in msg and str(path) in msg
