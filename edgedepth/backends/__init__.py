"""Inference backends: one folder each, one row each in :data:`BACKENDS`.

``build_engine`` (ONNX -> .engine), ``open_runner`` (.engine/.onnx/.pt -> Runner), ``bench`` and
``infer`` find backends only through this table. A backend's package imports its library lazily,
so a Jetson runs TensorRT engines without onnxruntime or torch, and a CPU box ONNX files without
TensorRT. Adding a backend = a folder ``edgedepth/backends/<name>/`` + a row here (docs/deployment.md).
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from edgedepth.backends.base import BuildRequest, Built, InputSpec, Runner
from edgedepth.contract import PRECISIONS as ONNX_PRECISIONS
from edgedepth.errors import EngineError

__all__ = ["BACKENDS", "PRECISIONS", "BuildRequest", "Built", "InputSpec", "Runner", "build_engine", "choose_backend", "load_backend",
           "open_runner", "rank_backends"]


@dataclass(frozen=True)
class BackendEntry:
    """One row of the registry.

    ``opens``: plain model files the backend runs without an engine (by suffix); ``options``: the
    build-engine options it takes (others are refused with a message naming the backend that does);
    ``precisions``: the engine precisions it builds (the ONNX ones, or a compute precision such as bf16).
    """

    name: str
    module: str
    summary: str
    opens: tuple[str, ...] = ()
    options: tuple[str, ...] = ()
    precisions: tuple[str, ...] = ONNX_PRECISIONS


BACKENDS: dict[str, BackendEntry] = {
    e.name: e
    for e in (
        BackendEntry("tensorrt", "edgedepth.backends.tensorrt", "TensorRT 10/11 engines on NVIDIA GPUs and Jetson (FP32, FP16, INT8 Q/DQ, DLA)",
                     options=("dla_core", "workspace_mb", "opt_level", "timing_cache", "batch", "max_batch")),
        BackendEntry("onnxruntime", "edgedepth.backends.onnxruntime", "ONNX Runtime: CPU, or the CUDA/TensorRT execution providers of onnxruntime-gpu",
                     opens=(".onnx",)),
        BackendEntry("torch", "edgedepth.backends.torch", "PyTorch from the checkpoint: FP16, channels_last, CUDA graphs on GPUs without TensorRT",
                     opens=(".pt", ".pth"), options=("batch", "max_batch")),
        BackendEntry("openvino", "edgedepth.backends.openvino", "OpenVINO on CPUs: FP32, INT8 from the Q/DQ ONNX (oneDNN VNNI/AMX), BF16 on CPUs with AMX or AVX512-BF16",
                     opens=(".onnx",), precisions=("fp32", "int8", "bf16")),
    )
}
NAMES = ("auto", *BACKENDS)
PRECISIONS = tuple(dict.fromkeys(p for entry in BACKENDS.values() for p in entry.precisions))  # what build-engine takes


def load_backend(name: str) -> ModuleType:
    """The package of backend ``name`` (its library is not imported yet)."""
    if name not in BACKENDS:
        raise EngineError(f"unknown backend '{name}'", fix=f"pass one of {', '.join(NAMES)}")
    return importlib.import_module(BACKENDS[name].module)


def rank_backends(precision: str, *, machine: dict[str, Any], candidates: tuple[str, ...] | None = None) -> dict[str, int]:
    """``suitability`` of every installed candidate that can run ``precision`` on ``machine`` (higher = faster)."""
    scores = {}
    for name in candidates or tuple(BACKENDS):
        if precision not in BACKENDS[name].precisions:
            continue
        score = load_backend(name).suitability(machine, precision)
        if score is not None:
            scores[name] = score
    if not scores:
        raise EngineError(
            f"no installed backend can run {precision} here",
            why=f"machine: GPU {machine.get('gpu') or 'none'}, CPU {machine.get('cpu')}",
            fix="install one: pip install 'edgedepth[onnx]' (ONNX Runtime), TensorRT on NVIDIA GPUs, or torch",
        )
    return scores


def choose_backend(precision: str, *, machine: dict[str, Any] | None = None, candidates: tuple[str, ...] | None = None) -> str:
    """The backend ``--backend auto`` picks: the highest ``suitability`` among ``candidates`` on this machine."""
    from edgedepth.device import machine as probe

    scores = rank_backends(precision, machine=machine if machine is not None else probe(), candidates=candidates)
    return max(scores, key=lambda n: scores[n])


def _file_backend(path: Path) -> str:
    from edgedepth.backends.container import is_engine, read_engine_header

    if is_engine(path):
        return read_engine_header(path)["backend"]
    for name, entry in BACKENDS.items():
        if path.suffix.lower() in entry.opens:
            return name
    raise EngineError(f"cannot tell what '{path}' is", fix="pass an .engine (build-engine), .onnx (export) or .pt (train) file")


def open_runner(path: str | Path, *, backend: str = "auto", device: str = "auto", threads: int | None = None) -> Runner:
    """A runner for an .engine container, an .onnx file or a .pt checkpoint.

    ``backend`` must agree with the file (an engine records its backend; an .onnx file runs on any
    backend that opens .onnx); ``device`` is "auto", "cpu" or "cuda"; ``threads`` caps CPU threads.
    The engine file is read once and handed to the backend.
    """
    from edgedepth.backends.container import is_engine, read_engine

    if backend not in NAMES:
        raise EngineError(f"unknown runtime backend '{backend}'", fix=f"pass one of {', '.join(NAMES)}")
    if device not in ("auto", "cpu", "cuda"):
        raise EngineError(f"unknown device '{device}'", fix="pass auto, cpu or cuda")
    path = Path(path)
    if not path.is_file():
        raise EngineError(f"'{path}' does not exist", fix="pass an .engine (edgedepth build-engine), .onnx (edgedepth export) or .pt (edgedepth train) file")
    kind = _file_backend(path)
    chosen = kind if backend == "auto" else backend
    if is_engine(path):
        if chosen != kind:
            raise EngineError(f"'{path}' is a {kind} engine, not a {backend} one", fix=f"use --backend {kind} or auto")
        return load_backend(kind).open_engine(read_engine(path), device=device, threads=threads)
    if path.suffix.lower() not in BACKENDS[chosen].opens:
        fix = (f"build an engine: edgedepth build-engine --onnx {path} --precision fp16 --backend {backend} --out model.engine"
               if path.suffix == ".onnx" else f"use --backend {kind} or auto")
        raise EngineError(f"'{path}' runs on {kind}, not {backend}", fix=fix)
    return load_backend(chosen).open_file(path, device=device, threads=threads)


def build_engine(*args, **kwargs) -> dict[str, Any]:
    """See :func:`edgedepth.backends.build.build_engine`."""
    from edgedepth.backends.build import build_engine as build

    return build(*args, **kwargs)
