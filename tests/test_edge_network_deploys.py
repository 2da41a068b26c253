"""An edge network goes the whole deploy way: checkpoint -> ONNX -> FP16 / INT8 -> every backend's engine -> runner.

The edge family's graph (Conv, Add, ReLU, nearest Resize, Sigmoid, DepthToSpace) is not the ResNet one the other
deploy tests use, so it is carried through every path here: training one step, export, FP16 and INT8 conversion,
build-engine on ONNX Runtime, OpenVINO, TensorRT (the strict fake, real ONNX files) and the torch runner, with
each engine's output compared with the PyTorch network.
"""
from __future__ import annotations

import sys

import numpy as np
import pytest
from helpers.fake_tensorrt import FakeTensorRT

pytest.importorskip("onnxruntime")
torch = pytest.importorskip("torch")

SIZE = (64, 128)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A one-step edge_s checkpoint (full method), its ONNX export, FP16 and INT8 variants and the torch reference."""
    from edgedepth.checkpoint import load_depth_net
    from edgedepth.config import load_config
    from edgedepth.export import export_onnx
    from edgedepth.export.calibration import load_calibration_set
    from edgedepth.export.fp16 import convert_fp16
    from edgedepth.export.quantize import quantize_int8
    from edgedepth.train import train

    root = tmp_path_factory.mktemp("edge")
    train(load_config(None, [
        "model.encoder=edge_s", "model.semantic_backbone=edge_s", "model.semantic_channels=16", "model.disc_channels=8",
        f"data.size=[{SIZE[0]},{SIZE[1]}]", "data.train_length=4", "data.test_length=2", "data.batch_size=2",
        "train.steps=1", "train.ckpt_every=0", "train.tensorboard=false", "train.progress=false", f"train.out={root / 'run'}"]))
    ckpt = root / "run" / "model.pt"
    net, _ = load_depth_net(ckpt)
    fp32 = root / "model.onnx"
    export_onnx(net, fp32, size=SIZE, batch="dynamic")
    convert_fp16(fp32, root / "model.fp16.onnx")
    calib, _ = load_calibration_set("synthetic", size=SIZE, n=8, seed=0)
    quantize_int8(fp32, root / "model.int8.onnx", calibration_images=calib, method="minmax")
    images, _ = load_calibration_set("synthetic", size=SIZE, n=3, seed=10_000, split="test")
    with torch.no_grad():
        reference = net.predict_depth(torch.from_numpy(images)).numpy()
    return {"root": root, "ckpt": ckpt, "fp32": fp32, "fp16": root / "model.fp16.onnx", "int8": root / "model.int8.onnx",
            "images": images, "reference": reference}


def _relative_error(depth: np.ndarray, reference: np.ndarray) -> float:
    return float(np.mean(np.abs(depth - reference) / reference))


def _run_engine(path, images, **kwargs) -> np.ndarray:
    from edgedepth.backends import open_runner

    with open_runner(path, threads=2, **kwargs) as runner:
        return np.concatenate([runner.infer(images[i:i + 1]) for i in range(len(images))])


@pytest.mark.parametrize("backend, precision, source, tolerance", [
    ("onnxruntime", "fp32", "fp32", 1e-4),
    ("onnxruntime", "fp16", "fp32", 0.02),
    ("onnxruntime", "int8", "int8", 0.05),
    ("openvino", "fp32", "fp32", 1e-4),
    ("openvino", "int8", "int8", 0.05),
])
def test_every_cpu_engine_computes_the_network(trained, tmp_path, backend, precision, source, tolerance):
    from edgedepth.backends import build_engine

    if backend == "openvino":
        pytest.importorskip("openvino")
    engine = tmp_path / f"{backend}-{precision}.engine"
    header = build_engine(trained[source], engine, precision=precision, backend=backend)
    assert (header["backend"], header["precision"], header["input_shape"][1:]) == (backend, precision, [3, *SIZE])
    depth = _run_engine(engine, trained["images"])
    assert depth.shape == trained["reference"].shape
    assert _relative_error(depth, trained["reference"]) < tolerance


def test_int8_keeps_only_the_head_in_float(trained):
    import onnx

    graph = onnx.load(trained["int8"]).graph
    float_convs = [n.name for n in graph.node if n.op_type == "Conv" and not any(
        p.op_type == "DequantizeLinear" for p in graph.node if p.output and p.output[0] in n.input[:1])]
    assert len(float_convs) == 1  # the sub-pixel disparity head; every other conv reads a DequantizeLinear


def test_torch_runner_on_the_checkpoint(trained):
    depth = _run_engine(trained["ckpt"], trained["images"], backend="torch", device="cpu")
    assert _relative_error(depth, trained["reference"]) < 1e-5


@pytest.mark.parametrize("version", ["10.3.0", "11.4.1"])
@pytest.mark.parametrize("precision", ["fp16", "int8"])
def test_tensorrt_builds_the_edge_onnx(trained, tmp_path, monkeypatch, version, precision):
    """The strict fake (only what NVIDIA's stubs declare) parses the real edge ONNX files and builds the plan."""
    from edgedepth import device as device_probe
    from edgedepth.backends import build_engine

    trt = FakeTensorRT(version)
    monkeypatch.setitem(sys.modules, "tensorrt", trt)
    monkeypatch.setattr(device_probe, "cuda_device", lambda: {"name": "Orin", "compute_capability": "8.7"})
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    src = trained["int8" if precision == "int8" else "fp32"]
    header = build_engine(src, tmp_path / "m.engine", precision=precision, backend="tensorrt")
    assert header["backend"] == "tensorrt" and header["precision"] == precision
    assert header["options"]["strongly_typed"] is (precision == "int8" or version.startswith("11"))
    parsed = trt.called("parse_from_file")[0][1]
    assert parsed.endswith(".onnx")
