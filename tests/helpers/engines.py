"""Engine files for tests: a container written by hand (e.g. one built for another GPU)."""
from __future__ import annotations

from pathlib import Path


def write_foreign_engine(path: Path, onnx_path: Path) -> Path:
    """An ONNX Runtime engine container that says it was built for a Jetson Orin GPU (not this machine)."""
    import onnxruntime as ort

    from edgedepth.backends.container import rebuild_command, write_engine

    header = {
        "edgedepth_version": "0.1.0", "backend": "onnxruntime", "backend_version": ort.__version__,
        "device": {"name": "Orin", "compute_capability": "8.7"}, "precision": "fp32", "input_name": "image",
        "input_shape": [-1, 3, 32, 64], "output_name": "depth", "preprocessing": "rgb01", "min_depth": 0.5,
        "max_depth": 80.0, "onnx_sha256": "0" * 64, "build_time": "2026-01-01T00:00:00Z",
        "rebuild_command": rebuild_command(onnx=onnx_path, out=path, precision="fp32", backend="onnxruntime"),
    }
    write_engine(path, header, Path(onnx_path).read_bytes())
    return path
