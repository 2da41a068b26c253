"""ONNX Runtime: runs .onnx files directly and builds "engines" (the graph after offline optimisation).

CPU everywhere; with onnxruntime-gpu the CUDA (and TensorRT, when present) execution providers.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from edgedepth.backends.base import BuildRequest, Built, Runner
from edgedepth.device import installed


def _installed():
    return installed("onnxruntime")


def suitability(machine: dict[str, Any], precision: str) -> int | None:
    """On a GPU with the CUDA provider it is a good second to TensorRT; on a CPU the baseline."""
    ort = _installed()
    if ort is None:
        return None
    if machine.get("gpu") and "CUDAExecutionProvider" in ort.get_available_providers():
        return 80
    return 20


def build(request: BuildRequest) -> Built:
    from edgedepth.backends.onnxruntime.builder import build as build_payload

    return build_payload(request)


def open_engine(engine, *, device: str = "auto", threads: int | None = None) -> Runner:
    import onnxruntime as ort

    from edgedepth.backends.container import check_compatible
    from edgedepth.backends.onnxruntime.runner import OnnxRuntimeRunner
    from edgedepth.errors import EngineError

    header = engine.header
    check_compatible(header, path=engine.path, backend_version=ort.__version__, device=None, match="minor")
    provider = header.get("options", {}).get("provider")
    if provider != "CPUExecutionProvider" and provider not in ort.get_available_providers():
        raise EngineError(f"engine '{engine.path}' was optimised for the {provider}, which this onnxruntime lacks",
                          fix=f"rebuild it here: {engine.rebuild_hint()}")
    return OnnxRuntimeRunner(engine.payload, meta=header, name=str(engine.path), device=device, threads=threads,
                             engine_provider=provider, rebuild=f"rebuild it: {engine.rebuild_hint()}")


def open_file(path: Path, *, device: str = "auto", threads: int | None = None) -> Runner:
    from edgedepth.backends.onnxruntime.runner import open_onnx

    return open_onnx(path, device=device, threads=threads)
