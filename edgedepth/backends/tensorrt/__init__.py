"""TensorRT 10 (JetPack 6) and 11 (strongly typed): the only place that talks to the ``tensorrt`` module.

``builder.plan_build`` decides every builder setting in plain Python (tested anywhere);
``builder.build_tensorrt`` executes a plan; ``runner.TensorRTRunner`` runs engines on one CUDA stream.
Code that calls TensorRT imports it as ``import tensorrt as trt`` after :func:`require_tensorrt`, so a
type checker reads NVIDIA's stubs for it (tests/backends/tensorrt/test_typecheck.py).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from edgedepth.backends.base import BuildRequest, Built, Runner
from edgedepth.errors import EngineError


def _load():
    import tensorrt

    # `pip install tensorrt-stubs` leaves an importable `tensorrt` folder holding only type stubs.
    if not hasattr(tensorrt, "Builder"):
        raise ImportError("only the TensorRT type stubs (tensorrt-stubs) are installed, not TensorRT")
    return tensorrt


def require_tensorrt() -> str:
    """The installed TensorRT's version, or an EngineError saying how to get TensorRT."""
    try:
        return _load().__version__
    except ImportError as e:
        raise EngineError(
            "TensorRT is not installed",
            why=str(e),
            fix="on Jetson it ships with JetPack (python3-libnvinfer); elsewhere `pip install tensorrt`; or use --backend onnxruntime",
        ) from None


def usable() -> bool:
    """TensorRT imports (OSError: the wheel is there but libnvinfer is not)."""
    try:
        _load()
    except (ImportError, OSError):
        return False
    return True


def suitability(machine: dict[str, Any], precision: str) -> int | None:
    """The fastest wherever it runs: an NVIDIA GPU with TensorRT installed."""
    return 100 if machine.get("gpu") and usable() else None


def build(request: BuildRequest) -> Built:
    from edgedepth.backends.tensorrt.builder import build as build_plan

    return build_plan(request)


def open_engine(engine, *, device: str = "auto", threads: int | None = None) -> Runner:
    from edgedepth.backends.tensorrt.runner import TensorRTRunner

    if device == "cpu":
        raise EngineError(f"'{engine.path}' is a TensorRT engine; it runs on a CUDA GPU only",
                          fix="use an .onnx file or an ONNX Runtime engine on the CPU")
    return TensorRTRunner(engine)


def open_file(path: Path, *, device: str = "auto", threads: int | None = None) -> Runner:
    raise EngineError(f"TensorRT runs engines, not '{path}'", fix=f"build one: edgedepth build-engine --onnx {path} --precision fp16 --backend tensorrt --out model.engine")
