"""ONNX Runtime runner for .onnx files and ONNX Runtime engines (CPU, or the CUDA execution provider)."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from edgedepth.errors import EngineError
from edgedepth.runtime.base import InputSpec, Runner

DEVICES = ("auto", "cpu", "cuda")


def _providers(device: str, engine_provider: str | None) -> list[str]:
    import onnxruntime as ort

    if device not in DEVICES:
        raise EngineError(f"unknown device '{device}'", fix=f"pass one of {', '.join(DEVICES)}")
    has_cuda = "CUDAExecutionProvider" in ort.get_available_providers()
    if device == "cuda" and not has_cuda:
        raise EngineError("device 'cuda' was asked but this onnxruntime has no CUDA execution provider", fix="pip install onnxruntime-gpu, or use device cpu")
    # An engine optimised for the CPU may hold CPU-only fused kernels, so it stays on the CPU.
    use_cuda = has_cuda and device != "cpu" and engine_provider in (None, "CUDAExecutionProvider")
    return ["CUDAExecutionProvider", "CPUExecutionProvider"] if use_cuda else ["CPUExecutionProvider"]


class OnnxRuntimeRunner(Runner):
    """Runs ``path`` (.onnx or an engine container with backend onnxruntime) with ONNX Runtime."""

    backend = "onnxruntime"

    def __init__(self, path: str | Path, *, device: str = "auto", threads: int | None = None):
        import onnxruntime as ort

        from edgedepth.engine.container import MAGIC, check_compatible, read_engine
        from edgedepth.engine.onnx_info import graph_precision

        path = Path(path)
        with open(path, "rb") as f:
            is_engine = f.read(len(MAGIC)) == MAGIC
        header = None
        if is_engine:
            header, model = read_engine(path)
            if header["backend"] != "onnxruntime":
                raise EngineError(f"'{path}' is a {header['backend']} engine, not an ONNX Runtime one", fix="open it with edgedepth.runtime.open_runner")
            check_compatible(header, path=path, backend_version=ort.__version__, device=None, match="minor")
            engine_provider = header.get("options", {}).get("provider")
            if engine_provider == "CUDAExecutionProvider" and "CUDAExecutionProvider" not in ort.get_available_providers():
                raise EngineError(f"engine '{path}' was optimised for the CUDA execution provider, which this onnxruntime lacks", fix=f"rebuild it here: {header['rebuild_command']}")
        else:
            model, engine_provider = str(path), None

        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        if threads:
            options.intra_op_num_threads = threads
        try:
            self._session = ort.InferenceSession(model, sess_options=options, providers=_providers(device, engine_provider))
        except Exception as e:  # ORT's own exception types (InvalidGraph, Fail, ...)
            raise EngineError(f"ONNX Runtime cannot load '{path}'", why=str(e).splitlines()[0] if str(e) else type(e).__name__,
                              fix=f"rebuild it: {header['rebuild_command']}" if header else "re-export it with `edgedepth export`") from None
        inp, out = self._session.get_inputs()[0], self._session.get_outputs()[0]
        self._input, self._output = inp.name, out.name
        shape = tuple(d if isinstance(d, int) and d > 0 else -1 for d in inp.shape)
        if header:
            meta = header
            self.precision = header["precision"]
        else:
            import onnx

            meta = self._session.get_modelmeta().custom_metadata_map
            self.precision = graph_precision(onnx.load(str(path), load_external_data=False))
        self.providers = self._session.get_providers()
        self._spec = InputSpec(
            name=inp.name, shape=shape, dtype="float32",  # type: ignore[arg-type]
            height=int(meta.get("height", shape[2])), width=int(meta.get("width", shape[3])),
            min_depth=float(meta.get("min_depth", "nan")), max_depth=float(meta.get("max_depth", "nan")),
        )

    @property
    def input_spec(self) -> InputSpec:
        return self._spec

    def _run(self, images: np.ndarray) -> np.ndarray:
        return self._session.run([self._output], {self._input: images})[0]

    def close(self) -> None:
        self._session = None
