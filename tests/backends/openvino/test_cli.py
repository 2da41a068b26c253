"""`edgedepth bench` and `edgedepth infer` on an OpenVINO engine, through the real entry point."""
import json

import numpy as np
import pytest

pytest.importorskip("openvino", reason="the openvino backend needs `pip install openvino` (the openvino extra)")

from edgedepth.backends import build_engine  # noqa: E402
from edgedepth.cli import main as cli  # noqa: E402


@pytest.fixture
def engine(onnx_files, tmp_path):
    path = tmp_path / "int8.engine"
    build_engine(onnx_files["int8"], path, precision="int8", backend="openvino")
    return path


def run(monkeypatch, capsys, command, *argv):
    monkeypatch.setattr(cli, "COMMAND_MODULES", [command])
    code = cli.main([command, *map(str, argv)])
    out, err = capsys.readouterr()
    assert code == 0 and "Traceback" not in out + err, err
    return out


def test_bench_an_engine_and_an_onnx_file_on_openvino(engine, onnx_files, tmp_path, monkeypatch, capsys):
    run(monkeypatch, capsys, "bench", "--engine", engine, "--compare", onnx_files["fp32"], "--backend", "openvino",
        "--iterations", "3", "--warmup", "1", "--threads", "1", "--json", tmp_path / "b.json")
    report = json.loads((tmp_path / "b.json").read_text())
    assert [(r["name"], r["backend"], r["precision"]) for r in report["results"]] == [
        ("int8.engine", "openvino", "int8"), ("fp32.onnx", "openvino", "fp32")]
    assert report["device"]["versions"]["openvino"]


def test_infer_a_folder_with_an_openvino_engine(engine, tmp_path, monkeypatch, capsys):
    import cv2

    frames = tmp_path / "frames"
    frames.mkdir()
    for i, image in enumerate(np.random.default_rng(0).integers(0, 255, (3, 48, 96, 3), dtype=np.uint8)):
        cv2.imwrite(str(frames / f"{i:03d}.png"), image)
    run(monkeypatch, capsys, "infer", "--engine", engine, "--source", frames, "--out", tmp_path / "out", "--threads", "1")
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert (summary["backend"], summary["precision"], summary["frames"]) == ("openvino", "int8", 3)
    assert sorted(p.name for p in (tmp_path / "out" / "depth").iterdir()) == ["000000.png", "000001.png", "000002.png"]
