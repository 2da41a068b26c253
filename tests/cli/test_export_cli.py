import onnx
import pytest
import torch

from edgedepth.cli.main import main


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    from edgedepth.checkpoint import save_checkpoint
    from edgedepth.config import Config, to_dict
    from edgedepth.models import build_depth_net

    torch.manual_seed(0)
    net = build_depth_net(encoder="resnet18")
    path = tmp_path_factory.mktemp("ckpt") / "model.pt"
    save_checkpoint(path, {"config": to_dict(Config()), "models": {"depth": net.state_dict()}, "step": 0})
    return path


def test_export_fp32_fp16_int8(checkpoint, tmp_path, capsys):
    out = tmp_path / "model.onnx"
    code = main(["export", "--checkpoint", str(checkpoint), "--out", str(out), "--size", "64x128", "--fp16", "--int8",
                 "--calib", "synthetic", "--calib-n", "2", "--calib-method", "minmax", "--holdout-n", "2"])
    assert code == 0
    text = capsys.readouterr().out
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.fp16.onnx", "model.int8.onnx", "model.onnx"]
    assert "max |diff|/depth" in text and "after onnxslim" in text
    assert "| fp32 |" in text and "| fp16 |" in text and "| int8 |" in text  # accuracy side by side
    meta = {p.key: p.value for p in onnx.load(str(tmp_path / "model.int8.onnx")).metadata_props}
    assert meta["precision"] == "int8" and meta["height"] == "64"


def test_dynamic_batch(checkpoint, tmp_path, capsys):
    out = tmp_path / "dyn.onnx"
    assert main(["export", "--checkpoint", str(checkpoint), "--out", str(out), "--size", "64x128", "--batch", "dynamic"]) == 0
    assert "[N,3,64,128]" in capsys.readouterr().out


@pytest.mark.parametrize("extra, words", [
    (["--size", "65x128"], "multiple of 32"),
    (["--size", "64x128", "--int8", "--calib", "no/such/dir", "--calib-n", "1", "--holdout-n", "1"], "does not exist"),
    (["--size", "64x128", "--max-accuracy-drop", "0.02"], "--int8"),
])
def test_bad_input_is_a_clear_error(checkpoint, tmp_path, capsys, extra, words):
    code = main(["export", "--checkpoint", str(checkpoint), "--out", str(tmp_path / "m.onnx"), *extra])
    err = capsys.readouterr().err
    assert code != 0 and words in err and "Traceback" not in err


def test_missing_checkpoint(tmp_path, capsys):
    code = main(["export", "--checkpoint", str(tmp_path / "none.pt"), "--out", str(tmp_path / "m.onnx")])
    assert code != 0 and "does not exist" in capsys.readouterr().err
    assert not (tmp_path / "m.onnx").exists()


def test_bad_batch_is_an_argument_error(checkpoint, tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["export", "--checkpoint", str(checkpoint), "--out", str(tmp_path / "m.onnx"), "--batch", "lots"])
    assert exc.value.code == 2 and "dynamic" in capsys.readouterr().err
