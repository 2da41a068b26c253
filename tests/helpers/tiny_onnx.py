"""Tiny depth ONNX files made by the real exporter (edgedepth.export), for backend, bench, infer and CLI tests.

input "image" [N,3,H,W] float32 in [0,1] -> output "depth" [N,1,H,W] metres, with the metadata
build-engine reads. FP32 (`export_onnx`), FP16 (`convert_fp16`, FP32 I/O) and INT8 Q/DQ
(`quantize_int8`, symmetric) variants of a two-convolution network, small enough for 2 CPU cores.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import torch
from torch import nn

MIN_DEPTH, MAX_DEPTH = 0.5, 80.0


class TinyDepth(nn.Module):
    """Conv-ReLU-Conv-sigmoid, then monodepth2's disparity -> depth: the DepthNet interface in miniature."""

    min_depth, max_depth, encoder_name = MIN_DEPTH, MAX_DEPTH, "tiny"

    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 1, 3, padding=1))

    def predict_depth(self, image):
        disp = torch.sigmoid(self.body(image))
        return 1.0 / (1.0 / MAX_DEPTH + (1.0 / MIN_DEPTH - 1.0 / MAX_DEPTH) * disp)

    forward = predict_depth


def add_metadata(path: Path, **values) -> None:
    """Overwrite metadata entries of the ONNX file at ``path``."""
    model = onnx.load(str(path))
    meta = {p.key: p.value for p in model.metadata_props}
    meta.update({k: str(v) for k, v in values.items()})
    del model.metadata_props[:]
    for key, value in meta.items():
        model.metadata_props.add(key=key, value=value)
    onnx.save(model, str(path))


def drop_metadata(path: Path, keys: tuple[str, ...]) -> None:
    model = onnx.load(str(path))
    kept = [(p.key, p.value) for p in model.metadata_props if p.key not in keys]
    del model.metadata_props[:]
    for key, value in kept:
        model.metadata_props.add(key=key, value=value)
    onnx.save(model, str(path))


def with_unknown_op(onnx_in: Path, onnx_out: Path) -> Path:
    """A copy of ``onnx_in`` whose first node is of the op type "NoSuchOp", which no runtime can load."""
    model = onnx.load(str(onnx_in))
    model.graph.node[0].op_type = "NoSuchOp"
    onnx.save(model, str(onnx_out))
    return onnx_out


def export_tiny(path: Path, *, height: int = 32, width: int = 64, dynamic: bool = True, batch: int = 1, precision: str = "fp32", drop: tuple[str, ...] = ()) -> Path:
    """Write a tiny depth ONNX at ``path``; precision "fp32", "fp16" or "int8" (Q/DQ)."""
    from edgedepth.export import convert_fp16, export_onnx, quantize_int8

    torch.manual_seed(0)
    net = TinyDepth().eval()
    fp32_path = path if precision == "fp32" else path.with_suffix(".fp32.onnx")
    export_onnx(net, fp32_path, size=(height, width), batch="dynamic" if dynamic else batch)
    if precision == "fp16":
        convert_fp16(fp32_path, path)
    elif precision == "int8":
        images = np.random.default_rng(0).random((4, 3, height, width), dtype=np.float32)
        quantize_int8(fp32_path, path, calibration_images=images)
    if drop:
        drop_metadata(path, drop)
    return path


def reference_depth(images: np.ndarray) -> np.ndarray:
    """What the tiny network of every export_tiny file computes for ``images`` (it seeds the same way)."""
    torch.manual_seed(0)
    with torch.no_grad():
        return TinyDepth().eval()(torch.from_numpy(images)).numpy()


def check_runner(runner, images: np.ndarray, *, batch: int) -> None:
    """A runner of an export_tiny file (``batch`` -1: dynamic) keeps the contract and computes what PyTorch does."""
    spec = runner.input_spec
    assert (spec.name, spec.height, spec.width, spec.min_depth, spec.max_depth) == ("image", 32, 64, MIN_DEPTH, MAX_DEPTH)
    assert spec.shape == (batch, 3, 32, 64)
    depth = runner.infer(images)  # 3 images: a static batch-2 model runs 2 chunks
    assert depth.shape == (len(images), 1, 32, 64) and depth.dtype == np.float32
    np.testing.assert_allclose(depth, reference_depth(images), rtol=1e-4, atol=1e-4)
