"""ONNX Runtime runner for .onnx files and ONNX Runtime engines: CPU, or the CUDA / TensorRT execution
providers of onnxruntime-gpu (with I/O binding, so the output stays on the GPU until it is read)."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from edgedepth.backends.base import InputSpec, Runner
from edgedepth.errors import EngineError

GPU_PROVIDERS = ("TensorrtExecutionProvider", "CUDAExecutionProvider")


def providers_for(device: str, engine_provider: str | None = None) -> list[str]:
    """Execution providers in preference order for ``device`` ("auto", "cpu", "cuda").

    An engine optimised for the CPU may hold CPU-only fused kernels, so it stays on the CPU."""
    import onnxruntime as ort

    available = ort.get_available_providers()
    gpu = [p for p in GPU_PROVIDERS if p in available]
    if device == "cuda" and not gpu:
        raise EngineError("device 'cuda' was asked but this onnxruntime has no CUDA execution provider",
                          fix="pip install onnxruntime-gpu, or use device cpu")
    use_gpu = gpu and device != "cpu" and engine_provider in (None, *GPU_PROVIDERS)
    return [*gpu, "CPUExecutionProvider"] if use_gpu else ["CPUExecutionProvider"]


def session_options(threads: int | None, level: str = "ORT_ENABLE_ALL"):
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.graph_optimization_level = getattr(ort.GraphOptimizationLevel, level)
    if threads:
        options.intra_op_num_threads = threads
    return options


class OnnxRuntimeRunner(Runner):
    """Runs an ONNX model (bytes or a path) with ONNX Runtime.

    ``meta`` carries the contract (height, width, depth range, precision) from the engine header or
    the ONNX metadata; ``rebuild`` is the fix shown when ONNX Runtime refuses the model.
    """

    backend = "onnxruntime"

    def __init__(self, model: bytes | str, *, meta: dict[str, Any], name: str, rebuild: str, device: str = "auto",
                 threads: int | None = None, engine_provider: str | None = None):
        import onnxruntime as ort

        try:
            self._session = ort.InferenceSession(model, sess_options=session_options(threads),
                                                 providers=providers_for(device, engine_provider))
        except Exception as e:  # ORT's own exception types (InvalidGraph, Fail, ...)
            raise EngineError(f"ONNX Runtime cannot load '{name}'", why=str(e).splitlines()[0] if str(e) else type(e).__name__,
                              fix=rebuild) from None
        inp, out = self._session.get_inputs()[0], self._session.get_outputs()[0]
        self._input, self._output = inp.name, out.name
        self.providers = self._session.get_providers()
        self.precision = str(meta.get("precision", "fp32"))
        shape = tuple(d if isinstance(d, int) and d > 0 else -1 for d in inp.shape)
        self._spec = InputSpec(
            name=inp.name, shape=shape, dtype="float32",  # type: ignore[arg-type]
            height=int(meta.get("height", shape[2])), width=int(meta.get("width", shape[3])),
            min_depth=float(meta.get("min_depth", "nan")), max_depth=float(meta.get("max_depth", "nan")),
        )
        self._on_gpu = self.providers[0] in GPU_PROVIDERS

    @property
    def input_spec(self) -> InputSpec:
        return self._spec

    def _run(self, images: np.ndarray) -> np.ndarray:
        if not self._on_gpu:
            return self._session.run([self._output], {self._input: images})[0]
        binding = self._session.io_binding()
        binding.bind_cpu_input(self._input, images)
        binding.bind_output(self._output, "cuda")
        self._session.run_with_iobinding(binding)
        return binding.copy_outputs_to_cpu()[0]

    def close(self) -> None:
        self._session = None


def open_onnx(path: Path, *, device: str, threads: int | None) -> OnnxRuntimeRunner:
    """A runner for an exported .onnx file; its metadata must follow the contract (see edgedepth.contract)."""
    from edgedepth.contract import inspect_onnx

    info = inspect_onnx(path)
    meta = {**info.metadata, "precision": info.precision}
    return OnnxRuntimeRunner(str(path), meta=meta, name=str(path), device=device, threads=threads,
                             rebuild="re-export it with `edgedepth export`")
