"""The deploy half runs with torch made unimportable, as on a Jetson or x86 box with `edgedepth[onnx,camera]`:
build-engine (FP32, FP16, INT8 calibrated on a folder of images), bench --engine, infer --engine and info."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
# Every import of these fails in the child process, as if they were not installed.
BLOCK = "import sys\nfor m in ('torch', 'torchvision', 'tensorboard'):\n    sys.modules[m] = None\n"
RUN_CLI = BLOCK + "from edgedepth.cli.main import main\nsys.exit(main(sys.argv[1:]))\n"


def edgedepth_without_torch(*args, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "EDGEDEPTH_NO_PROGRESS": "1", "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    return subprocess.run([sys.executable, "-c", RUN_CLI, *map(str, args)], cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def images(tmp_path_factory) -> Path:
    """A folder of camera-like images of another size than the model's (they are resized to cover it)."""
    folder = tmp_path_factory.mktemp("frames")
    rng = np.random.default_rng(0)
    for i in range(6):
        Image.fromarray(rng.integers(0, 255, (48, 80, 3), dtype=np.uint8)).save(folder / f"frame_{i:02d}.png")
    return folder


def test_the_child_really_has_no_torch(tmp_path):
    code = BLOCK + "try:\n    import torch\nexcept ImportError:\n    print('no torch')\n"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.stdout.strip() == "no torch"


@pytest.mark.parametrize("precision", ["fp32", "fp16", "int8"])
def test_build_bench_and_infer_without_torch(onnx_files, images, tmp_path, precision):
    engine = tmp_path / f"{precision}.engine"
    calib = ["--calib", images] if precision == "int8" else []
    build = edgedepth_without_torch("build-engine", "--onnx", onnx_files["fp32"], "--precision", precision, *calib,
                                    "--backend", "onnxruntime", "--out", engine, cwd=tmp_path)
    assert build.returncode == 0, build.stderr
    assert f"precision   {precision} (from the fp32 ONNX)" in build.stdout
    bench = edgedepth_without_torch("bench", "--engine", engine, "--iterations", "2", "--warmup", "1",
                                    "--json", tmp_path / "bench.json", cwd=tmp_path)
    assert bench.returncode == 0, bench.stderr
    assert json.loads((tmp_path / "bench.json").read_text())["results"][0]["precision"] == precision
    infer = edgedepth_without_torch("infer", "--engine", engine, "--source", images, "--out", tmp_path / "out", cwd=tmp_path)
    assert infer.returncode == 0, infer.stderr
    assert len(list((tmp_path / "out" / "depth").glob("*.png"))) == 6


def test_info_without_torch(tmp_path):
    result = edgedepth_without_torch("info", cwd=tmp_path)
    assert result.returncode == 0 and "torch          not installed" in result.stdout


def test_a_dataset_folder_for_calibration_says_it_needs_torch(onnx_files, tmp_path):
    dataset = tmp_path / "data"
    dataset.mkdir()
    (dataset / "meta.yaml").write_text("format: edgedepth-synth\n")
    result = edgedepth_without_torch("build-engine", "--onnx", onnx_files["fp32"], "--precision", "int8", "--calib", dataset,
                                     "--backend", "onnxruntime", "--out", tmp_path / "m.engine", cwd=tmp_path)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "needs torch" in result.stderr and "png/jpg" in result.stderr


def test_bench_accuracy_without_torch(onnx_files, tmp_path):
    """bench --accuracy-data renders the synthetic world and reads synth folders with numpy."""
    bench = edgedepth_without_torch("bench", "--onnx", onnx_files["fp32"], "--iterations", "2", "--warmup", "1",
                                    "--backend", "onnxruntime", "--accuracy-data", "synthetic-target",
                                    "--accuracy-samples", "2", "--json", tmp_path / "bench.json", cwd=tmp_path)
    assert bench.returncode == 0, bench.stderr
    accuracy = json.loads((tmp_path / "bench.json").read_text())["results"][0]["accuracy"]
    assert accuracy["abs_rel"] > 0 and {"rmse", "a1"} <= set(accuracy)

    from edgedepth.data import SyntheticWorld
    from edgedepth.data.folder import write_dataset

    write_dataset(tmp_path / "synth", SyntheticWorld("target", size=(32, 64), length=2, seed=4, views="none"), progress=False)
    folder = edgedepth_without_torch("bench", "--onnx", onnx_files["fp32"], "--iterations", "1", "--warmup", "0",
                                     "--backend", "onnxruntime", "--accuracy-data", tmp_path / "synth",
                                     "--json", tmp_path / "folder.json", cwd=tmp_path)
    assert folder.returncode == 0, folder.stderr
    assert json.loads((tmp_path / "folder.json").read_text())["results"][0]["accuracy"]["abs_rel"] > 0
    real = edgedepth_without_torch("bench", "--onnx", onnx_files["fp32"], "--iterations", "1", "--warmup", "0",
                                   "--backend", "onnxruntime", "--accuracy-data", "kitti", cwd=tmp_path)
    assert real.returncode != 0 and "Traceback" not in real.stderr and "edgedepth eval" in real.stderr
