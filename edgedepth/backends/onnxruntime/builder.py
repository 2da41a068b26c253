"""The ONNX Runtime "engine": the ONNX graph after ONNX Runtime's offline graph optimisations.

The payload is written by ``SessionOptions.optimized_model_filepath`` at ORT_ENABLE_EXTENDED:
constant folding, Conv+BN/activation fusions and Q/DQ fusion into QLinear* kernels are done once
here instead of at every session start. ORT_ENABLE_ALL would also bake in CPU-specific memory
layouts (NCHWc for the AVX width of *this* CPU), so the runner applies that level online instead.
"""
from __future__ import annotations

import tempfile
from pathlib import Path

from edgedepth.backends.base import BuildRequest, Built
from edgedepth.errors import EngineError


def optimise(onnx_path: str | Path, *, provider: str) -> bytes:
    """Optimise ``onnx_path`` for ``provider`` and return the optimised ONNX bytes."""
    import onnxruntime as ort

    from edgedepth.backends.onnxruntime.runner import session_options

    options = session_options(None, level="ORT_ENABLE_EXTENDED")
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


def build(request: BuildRequest) -> Built:
    """FP16 and INT8 come from the converted ONNX: ONNX Runtime runs the precision the graph holds."""
    import onnxruntime as ort

    from edgedepth.backends.onnxruntime.runner import providers_for
    from edgedepth.device import cpu_model, cuda_device

    info = request.onnx if request.onnx.precision == request.precision else request.convert(request.precision)
    provider = providers_for("auto")[0]
    if provider == "CPUExecutionProvider":
        device = {"name": cpu_model(), "compute_capability": None, "provider": provider}
    else:  # the optimised graph runs on any GPU of the provider, so no compute capability is pinned
        device = {**(cuda_device() or {}), "compute_capability": None, "provider": provider}
    options = {"provider": provider, "graph_optimization_level": "ORT_ENABLE_EXTENDED"}
    batch_range = [1, None] if info.dynamic_batch else [info.input_shape[0]] * 2
    return Built(info, optimise(info.path, provider=provider), ort.__version__, device, options, batch_range)
