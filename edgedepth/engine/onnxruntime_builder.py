"""The ONNX Runtime "engine": the ONNX graph after ONNX Runtime's offline graph optimisations.

The payload is written by ``SessionOptions.optimized_model_filepath`` at ORT_ENABLE_EXTENDED:
constant folding, Conv+BN/activation fusions and Q/DQ fusion into QLinear* kernels are done once
here instead of at every session start. ORT_ENABLE_ALL would also bake in CPU-specific memory
layouts (NCHWc for the AVX width of *this* CPU), so the runner applies that level online instead.
"""
from __future__ import annotations

import tempfile
from pathlib import Path

from edgedepth.errors import EngineError


def available_provider(prefer_cuda: bool = True) -> str:
    """``CUDAExecutionProvider`` when ONNX Runtime has it and ``prefer_cuda``, else ``CPUExecutionProvider``."""
    import onnxruntime as ort

    if prefer_cuda and "CUDAExecutionProvider" in ort.get_available_providers():
        return "CUDAExecutionProvider"
    return "CPUExecutionProvider"


def build_onnxruntime(onnx_path: str | Path, *, provider: str) -> bytes:
    """Optimise ``onnx_path`` for ``provider`` and return the optimised ONNX bytes."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED
    with tempfile.TemporaryDirectory(prefix="edgedepth-ort-") as tmp:
        optimized = Path(tmp) / "optimized.onnx"
        options.optimized_model_filepath = str(optimized)
        try:
            ort.InferenceSession(str(onnx_path), sess_options=options, providers=[provider])
        except Exception as e:  # onnxruntime raises its own Fail/InvalidGraph/NotImplemented types
            raise EngineError(
                f"ONNX Runtime cannot load '{onnx_path}'",
                why=str(e).splitlines()[0] if str(e) else type(e).__name__,
                fix="re-export the model with `edgedepth export`, or update onnxruntime",
            ) from None
        if not optimized.is_file():
            raise EngineError(f"ONNX Runtime wrote no optimised model for '{onnx_path}'", fix="update onnxruntime")
        return optimized.read_bytes()
