"""OpenVINO runner for .onnx files and OpenVINO engines, on the CPU plugin.

The model is compiled when the runner opens, for the CPU it runs on: oneDNN picks the kernels for
that CPU's instruction set (AVX2, AVX-512 VNNI, AMX) then. Compiled models are cached under
``$XDG_CACHE_HOME/edgedepth/openvino`` (default ``~/.cache``; OpenVINO keys each blob by the model,
the compile options, the CPU and its own version), so only the first open of an engine on a
machine pays the full compile: ResNet-18 INT8 at 192x640 on 2 busy cores, 5.5 s, then 1.4-2 s.
"""
from __future__ import annotations

import contextlib
import functools
import os
import re
from pathlib import Path
from typing import Any

import numpy as np

from edgedepth.backends.base import InputSpec, Runner
from edgedepth.errors import EngineError

# Our precision name -> OpenVINO's INFERENCE_PRECISION_HINT. INT8 layers come from the graph's
# FakeQuantize (the Q/DQ pairs); the hint sets the precision of every other layer, and it must be
# explicit: the CPU plugin's default is bf16 on CPUs with AMX and f16 on ARM, not f32.
INFERENCE_PRECISION = {"fp32": "f32", "fp16": "f32", "int8": "f32", "bf16": "bf16"}
_SOURCE_LOCATION = re.compile(r"\.(cpp|hpp|h):\d+:?$")  # "Exception from src/.../core.cpp:84:"


@functools.lru_cache(maxsize=None)
def core():
    """The process's one ``openvino.Core``. One, not one per model: each Core loads its own CPU plugin,
    which sets the calling thread's alternate signal stack when it loads and resets it when compiled
    models are freed (seen with gdb, OpenVINO 2026.4). With a Core per model the main thread was left
    with an alternate stack in unmapped memory, and the next signal handled there (Ctrl+C in
    `edgedepth infer`) killed the process with SIGSEGV."""
    import openvino as ov

    return ov.Core()


def cache_dir() -> Path | None:
    """Where compiled models are cached; None (compile every time) where it cannot be created."""
    path = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "edgedepth" / "openvino"
    with contextlib.suppress(OSError):
        path.mkdir(parents=True, exist_ok=True)
        if os.access(path, os.W_OK):
            return path
    return None


def compile_config(inference_precision: str, threads: int | None) -> dict[str, Any]:
    """Compile options for one low-latency stream (one image at a time, as a camera delivers them)."""
    config: dict[str, Any] = {"INFERENCE_PRECISION_HINT": inference_precision, "PERFORMANCE_HINT": "LATENCY"}
    if threads:
        config["INFERENCE_NUM_THREADS"] = threads
    if (cache := cache_dir()) is not None:
        config["CACHE_DIR"] = str(cache)
    return config


def compile_cpu(model, *, inference_precision: str, threads: int | None, name: str, fix: str):
    """``model`` (an ``openvino.Model``) compiled for the CPU; what OpenVINO refuses becomes an EngineError."""
    try:
        return core().compile_model(model, "CPU", compile_config(inference_precision, threads))
    except Exception as e:  # OpenVINO raises RuntimeError subclasses with multi-line reports
        raise EngineError(f"OpenVINO cannot compile '{name}' for the CPU", why=reason(e), fix=fix) from None


def reason(error: Exception) -> str:
    """What an OpenVINO error says is wrong, without the lines that name its C++ source files
    (a frontend failure ends with a summary: that is the part worth showing)."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip() and not _SOURCE_LOCATION.search(line)]
    if "Summary:" in lines:
        lines = [" ".join(lines[lines.index("Summary:") + 1:]).lstrip("- ")]
    return lines[0] if lines else type(error).__name__


def ran_precision(compiled) -> str:
    """The precision the compiled model really computes its float layers in ("f32", "bf16", "f16")."""
    return str(compiled.get_property("INFERENCE_PRECISION_HINT").get_type_name())


class OpenVinoRunner(Runner):
    """Runs an ``openvino.Model`` on the CPU with one infer request.

    ``meta`` carries the contract (height, width, depth range) from the engine header or the ONNX
    metadata; ``precision`` is our name for what runs (fp32, int8, bf16); ``rebuild`` is the fix
    shown when OpenVINO refuses the model.
    """

    backend = "openvino"

    def __init__(self, model, *, meta: dict[str, Any], name: str, precision: str, rebuild: str, threads: int | None = None):
        self.precision = precision
        self._compiled = compile_cpu(model, inference_precision=INFERENCE_PRECISION[precision], threads=threads, name=name, fix=rebuild)
        self._request = self._compiled.create_infer_request()
        inp = self._compiled.input(0)
        shape = tuple(d.get_length() if d.is_static else -1 for d in inp.get_partial_shape())
        self._spec = InputSpec(
            name=inp.get_any_name(), shape=shape, dtype="float32",  # type: ignore[arg-type]
            height=int(meta.get("height", shape[2])), width=int(meta.get("width", shape[3])),
            min_depth=float(meta.get("min_depth", "nan")), max_depth=float(meta.get("max_depth", "nan")),
        )

    @property
    def input_spec(self) -> InputSpec:
        return self._spec

    @property
    def threads(self) -> int:
        return int(self._compiled.get_property("INFERENCE_NUM_THREADS"))

    def _run(self, images: np.ndarray) -> np.ndarray:
        # share_outputs=False (the default) copies the output: the request reuses its buffer next call.
        return self._request.infer({0: images}, share_inputs=True)[0]

    def close(self) -> None:
        self._request = self._compiled = None
