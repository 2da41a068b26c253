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
    assert "max |diff|/depth" in text and "after onnxslim" in text and "replaced" not in text
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


def test_read_only_output_folder_fails_before_any_work(checkpoint, tmp_path, capsys, monkeypatch):
    from helpers.readonly import make_read_only

    import edgedepth.export

    monkeypatch.setattr(edgedepth.export, "export_from_checkpoint", lambda *a, **k: pytest.fail("export started"))
    folder = make_read_only(monkeypatch, tmp_path / "ro")
    code = main(["export", "--checkpoint", str(checkpoint), "--out", str(folder / "m.onnx"), "--size", "64x128"])
    err = capsys.readouterr().err
    assert code == 2 and "cannot write" in err and str(folder) in err and "Traceback" not in err


def test_replacing_a_file_says_so_and_a_second_writer_is_refused(checkpoint, tmp_path, capsys):
    from edgedepth.utils.io import exclusive_output

    out = tmp_path / "model.onnx"
    args = ["export", "--checkpoint", str(checkpoint), "--out", str(out), "--size", "64x128", "--no-simplify"]
    out.write_bytes(b"an older export")
    assert main(args) == 0 and f"replaced the previous {out}" in capsys.readouterr().out
    before = out.read_bytes()
    with exclusive_output(out):  # another export of the same file is running
        code = main(args)
    err = capsys.readouterr().err
    assert code == 2 and "another process is writing" in err and str(out) in err
    assert out.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.onnx"]  # no lock or temporary file left
