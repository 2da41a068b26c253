"""A tiny depth-like ONNX model ("image" [N,3,H,W] -> "depth" [N,1,H,W] metres) for bench/infer tests."""
from __future__ import annotations

from pathlib import Path

import numpy as np


def export_tiny_onnx(path: Path, *, size=(32, 64)) -> Path:
    import torch

    class TinyDepth(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = torch.nn.Conv2d(3, 1, 3, padding=1)

        def forward(self, image):
            return 0.5 + 79.5 * torch.sigmoid(self.conv(image))

    torch.onnx.export(TinyDepth().eval(), torch.rand(1, 3, *size), str(path), input_names=["image"],
                      output_names=["depth"], dynamic_axes={"image": {0: "N"}, "depth": {0: "N"}},
                      opset_version=17, dynamo=False)
    return path


class OrtRunner:
    """Minimal stand-in for edgedepth.runtime's Runner, used only while the runtime is not there."""

    backend, precision = "onnxruntime", "fp32"

    def __init__(self, path):
        import types

        import onnxruntime as ort

        self.session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        inp = self.session.get_inputs()[0]
        self.input_spec = types.SimpleNamespace(name=inp.name, shape=(-1, 3, inp.shape[2], inp.shape[3]),
                                                dtype="float32", height=inp.shape[2], width=inp.shape[3],
                                                min_depth=0.5, max_depth=80.0)

    def infer(self, images: np.ndarray) -> np.ndarray:
        return self.session.run(None, {"image": np.ascontiguousarray(images, dtype=np.float32)})[0]

    def close(self):
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def open_test_runner(path):
    """open_runner from the runtime when it exists, else the stand-in."""
    try:
        from edgedepth.runtime import open_runner
    except ImportError:
        return OrtRunner(path)
    return open_runner(path, backend="onnxruntime", device="cpu", threads=1)
