import json

import pytest
from PIL import Image

from edgedepth.cli.main import main


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    """An untrained resnet18 D/S/F checkpoint whose config asks for 2 synthetic test frames at 64x128.

    S shares D's encoder and is narrower than DeepLabv3+'s default, as in the demo config: eval must
    rebuild S from the checkpoint's config, not from defaults."""
    from edgedepth.checkpoint import save_checkpoint
    from edgedepth.config import Config, to_dict
    from edgedepth.models import build_models

    cfg = Config()
    cfg.data.size = (64, 128)
    cfg.data.test_length = 2
    cfg.model.shared_backbone = True
    cfg.model.semantic_channels = 32
    depth, semantic, disc = build_models(cfg.model)
    path = tmp_path_factory.mktemp("ckpt") / "model.pt"
    models = {"depth": depth.state_dict(), "semantic": semantic.state_dict(), "discriminator": disc.state_dict()}
    save_checkpoint(path, {"config": to_dict(cfg), "models": models, "step": 0})
    return path


def test_missing_checkpoint_is_a_clear_error(tmp_path, capsys):
    code = main(["eval", "--checkpoint", str(tmp_path / "nope.pt"), "--data", "synthetic-target"])
    err = capsys.readouterr().err
    assert code != 0
    assert "nope.pt" in err and "does not exist" in err and "Traceback" not in err


def test_truncated_checkpoint_is_a_clear_error(tmp_path, checkpoint, capsys):
    bad = tmp_path / "cut.pt"
    bad.write_bytes(checkpoint.read_bytes()[:1000])
    code = main(["eval", "--checkpoint", str(bad), "--data", "synthetic-target"])
    err = capsys.readouterr().err
    assert code != 0 and "cut.pt" in err and "Traceback" not in err


def test_unknown_dataset_is_a_clear_error(tmp_path, checkpoint, capsys):
    code = main(["eval", "--checkpoint", str(checkpoint), "--data", str(tmp_path / "missing-folder")])
    err = capsys.readouterr().err
    assert code != 0 and "missing-folder" in err and "Traceback" not in err


def test_eval_end_to_end(tmp_path, checkpoint, capsys):
    out = tmp_path / "out"
    code = main([
        "eval", "--checkpoint", str(checkpoint), "--data", "synthetic-target", "--batch-size", "2",
        "--json", str(out / "eval.json"), "--markdown", str(out / "eval.md"), "--grid", str(out / "grid.png"),
        "--grid-samples", "2", "--max-depth", "50",
    ])  # fmt: skip
    printed = capsys.readouterr().out
    assert code == 0
    assert "abs_rel" in printed and "boundary" in printed
    data = json.loads((out / "eval.json").read_text())
    assert set(data["metrics"]) == {"abs_rel", "sq_rel", "rmse", "rmse_log", "a1", "a2", "a3"}
    assert data["num_images"] == 2 and data["settings"]["max_depth"] == 50.0
    assert data["miou"] is not None  # the synthetic target has semantic labels and the checkpoint an S net
    assert "| all images |" in (out / "eval.md").read_text()
    assert Image.open(out / "grid.png").size == (4 * 130 - 2, 2 * 66 - 2)


@pytest.fixture
def synth_folder(tmp_path):
    from edgedepth.data import SyntheticWorld
    from edgedepth.data.folder import write_dataset

    world = SyntheticWorld(domain="target", size=(64, 128), length=3, seed=0, views="none")
    return write_dataset(tmp_path / "data", world, progress=False)


def test_a_missing_depth_file_is_an_error_not_an_image_less(tmp_path, checkpoint, synth_folder, capsys):
    (synth_folder / "depth" / "000001.png").unlink()
    code = main(["eval", "--checkpoint", str(checkpoint), "--data", str(synth_folder), "--json", str(tmp_path / "e.json")])
    err = capsys.readouterr().err
    assert code == 2 and "depth/000001.png" in err and "missing" in err and "Traceback" not in err
    assert not (tmp_path / "e.json").exists()


def test_images_without_ground_truth_are_named_in_a_warning(tmp_path, checkpoint, synth_folder, capsys):
    import numpy as np

    empty = synth_folder / "depth" / "000002.png"
    Image.fromarray(np.zeros((64, 128), np.uint16)).save(empty)  # every pixel "unknown"
    code = main(["eval", "--checkpoint", str(checkpoint), "--data", str(synth_folder), "--json", str(tmp_path / "e.json"),
                 "--no-semantics"])
    assert code == 0 and "warning: 1 of 3 images have no ground-truth depth" in capsys.readouterr().err
    data = json.loads((tmp_path / "e.json").read_text())
    assert data["num_images"] == 2 and data["num_samples"] == 3 and data["skipped"] == [2]


def test_read_only_json_folder_fails_before_evaluating(tmp_path, checkpoint, capsys, monkeypatch):
    from helpers.readonly import make_read_only

    import edgedepth.eval

    monkeypatch.setattr(edgedepth.eval, "evaluate", lambda *a, **k: pytest.fail("evaluation started"))
    folder = make_read_only(monkeypatch, tmp_path / "ro")
    code = main(["eval", "--checkpoint", str(checkpoint), "--data", "synthetic-target", "--json", str(folder / "e.json")])
    err = capsys.readouterr().err
    assert code == 2 and "cannot write" in err and str(folder) in err and "Traceback" not in err
