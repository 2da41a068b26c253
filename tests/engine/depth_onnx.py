"""Tiny ONNX depth models with the exporter's I/O contract, for engine and runtime tests.

input "image" [N,3,H,W] float32 in [0,1] -> output "depth" [N,1,H,W] metres, with the metadata
build-engine reads. FP32, FP16 (float16 weights, FP32 I/O) and Q/DQ INT8 (ONNX Runtime's
static quantiser, symmetric) variants.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import torch
from torch import nn

MIN_DEPTH, MAX_DEPTH = 0.5, 80.0


class TinyDepth(nn.Module):
    def __init__(self, dtype=torch.float32):
        super().__init__()
        self.dtype = dtype
        self.body = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 1, 3, padding=1)).to(dtype)

    def forward(self, image):
        disp = torch.sigmoid(self.body(image.to(self.dtype)).float())
        return 1.0 / (1.0 / MAX_DEPTH + (1.0 / MIN_DEPTH - 1.0 / MAX_DEPTH) * disp)


def add_metadata(path: Path, *, height: int, width: int, precision: str, drop: tuple[str, ...] = ()) -> None:
    model = onnx.load(str(path))
    meta = {"height": height, "width": width, "min_depth": MIN_DEPTH, "max_depth": MAX_DEPTH, "preprocessing": "rgb in [0,1], normalised in graph", "precision": precision}
    del model.metadata_props[:]
    for key, value in meta.items():
        if key not in drop:
            model.metadata_props.add(key=key, value=str(value))
    onnx.save(model, str(path))


def export_tiny(path: Path, *, height: int = 32, width: int = 64, dynamic: bool = True, batch: int = 1, precision: str = "fp32", drop_metadata: tuple[str, ...] = ()) -> Path:
    """Write a tiny depth ONNX at ``path``; precision "fp32", "fp16" or "int8" (Q/DQ)."""
    torch.manual_seed(0)
    net = TinyDepth(torch.float16 if precision == "fp16" else torch.float32).eval()
    fp32_path = path if precision != "int8" else path.with_suffix(".fp32.onnx")
    torch.onnx.export(
        net, (torch.rand(batch, 3, height, width),), str(fp32_path), input_names=["image"], output_names=["depth"],
        opset_version=17, dynamo=False, dynamic_axes={"image": {0: "batch"}, "depth": {0: "batch"}} if dynamic else None,
    )
    if precision == "int8":
        from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static

        class Reader(CalibrationDataReader):
            def __init__(self):
                rng = np.random.default_rng(0)
                self.batches = iter([{"image": rng.random((1, 3, height, width), dtype=np.float32)} for _ in range(4)])

            def get_next(self):
                return next(self.batches, None)

        quantize_static(str(fp32_path), str(path), Reader(), quant_format=QuantFormat.QDQ, activation_type=QuantType.QInt8,
                        weight_type=QuantType.QInt8, per_channel=True, extra_options={"ActivationSymmetric": True})
    add_metadata(path, height=height, width=width, precision=precision, drop=drop_metadata)
    return path
