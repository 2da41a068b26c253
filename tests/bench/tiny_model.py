"""A tiny depth-like ONNX model ("image" [N,3,H,W] -> "depth" [N,1,H,W] metres) for bench/infer/CLI tests."""
from __future__ import annotations

from pathlib import Path


def export_tiny_onnx(path: Path, *, size=(32, 64)) -> Path:
    """One conv + sigmoid scaled to 0.5..80 m, dynamic batch, with the metadata edgedepth export writes."""
    import onnx
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
    model = onnx.load(str(path))
    for key, value in {"height": size[0], "width": size[1], "min_depth": 0.5, "max_depth": 80.0}.items():
        model.metadata_props.add(key=key, value=str(value))
    onnx.save(model, str(path))
    return path


def write_foreign_engine(path: Path, onnx_path: Path) -> Path:
    """An ONNX Runtime engine container that says it was built for a Jetson Orin GPU (not this machine)."""
    import onnxruntime as ort

    from edgedepth.engine.container import rebuild_command, write_engine

    header = {
        "edgedepth_version": "0.1.0", "backend": "onnxruntime", "backend_version": ort.__version__,
        "device": {"name": "Orin", "compute_capability": "8.7"}, "precision": "fp32", "input_name": "image",
        "input_shape": [-1, 3, 32, 64], "output_name": "depth", "preprocessing": "rgb01", "min_depth": 0.5,
        "max_depth": 80.0, "onnx_sha256": "0" * 64, "build_time": "2026-01-01T00:00:00Z",
        "rebuild_command": rebuild_command(onnx=onnx_path, out=path, precision="fp32", backend="onnxruntime"),
    }
    write_engine(path, header, Path(onnx_path).read_bytes())
    return path
