"""`edgedepth info` reports the kernel backend and where it came from (tests edgedepth/cli/info.py)."""
import argparse
import json

import pytest

from edgedepth.cli import info
from edgedepth.kernels import ops


def _run(capsys, *argv) -> str:
    parser = argparse.ArgumentParser()
    info.register(parser.add_subparsers())
    args = parser.parse_args(["info", *argv])
    assert args.func(args) == 0
    return capsys.readouterr().out


def test_json_report_names_backend_and_library(capsys):
    report = json.loads(_run(capsys, "--json"))
    torch_info = report["torch"]
    assert torch_info["kernel_backend"] == ("fused" if ops.load() else "reference")
    assert (torch_info["kernel_library"] is not None) == ops.load()
    assert isinstance(torch_info["cuda_available"], bool)
    assert torch_info["kernel_cpu_threading"] in ("openmp", "single-threaded", "unknown", "none")
    assert set(report) >= {"edgedepth", "onnxruntime", "tensorrt"}


def test_text_report(capsys):
    text = _run(capsys)
    assert "warp kernels" in text and "CUDA available" in text and "onnxruntime" in text


def test_text_report_warns_about_a_single_threaded_library(capsys, monkeypatch):
    if not ops.load():
        pytest.skip("no compiled library: info reports the reference backend instead")
    monkeypatch.setattr(ops, "cpu_threading", lambda: "single-threaded")
    assert "built without OpenMP" in _run(capsys)
