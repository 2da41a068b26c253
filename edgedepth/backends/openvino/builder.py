"""The OpenVINO engine: the model as OpenVINO IR (``model.xml`` + ``model.bin`` in an uncompressed
zip), compiled for the CPU when a runner opens it.

Why the IR and not ``CompiledModel.export_model()``: an exported blob is the graph after the CPU
plugin's own transformations, for the instruction set of the CPU that built it (a BF16 blob built on
an AMX Xeon is not the blob an AVX2 box would build) and for exactly that OpenVINO release. The IR
is what OpenVINO reads from the ONNX after its frontend and offline passes (a Q/DQ ONNX becomes
FakeQuantize layers with int8 weights, so an INT8 payload is about 4x smaller than FP32); any later
OpenVINO reads it on any CPU, and oneDNN then picks the kernels of the CPU at hand (VNNI, AMX).
The cost is compiling when the runner opens: for the ResNet-18 network at 192x640 on 2 busy cores,
2.2 s (FP32) and 5.6 s (INT8) against about 1 s to import a blob. OpenVINO's model cache (see
runner.py) removes most of it after the first open on a machine. What the payload cannot say the
header records: the precision of the float layers (``options.inference_precision``), and the CPU
and the features it was built on; ``open_engine`` refuses a bf16 engine on a CPU without BF16 and
an IR from a newer OpenVINO.
"""
from __future__ import annotations

import io
import tempfile
import zipfile
from pathlib import Path

from edgedepth.backends.base import BuildRequest, Built
from edgedepth.errors import EngineError

IR_FILES = ("model.xml", "model.bin")
BF16_FEATURES = ("amx_bf16", "avx512_bf16")  # CPU flags with BF16 dot products; OpenVINO runs f32 without them


def version() -> str:
    """The OpenVINO release ("2026.4.1"), without its build number and branch."""
    import openvino as ov

    return ov.__version__.split("-")[0]


def read_onnx(path: Path):
    """``path`` as an ``openvino.Model`` (the ONNX frontend turns Q/DQ pairs into FakeQuantize)."""
    from edgedepth.backends.openvino.runner import core, reason

    try:
        return core().read_model(str(path))
    except Exception as e:  # RuntimeError subclasses with OpenVINO's multi-line report
        raise EngineError(f"OpenVINO cannot read '{path}'", why=reason(e),
                          fix="re-export the model with `edgedepth export`, or update openvino") from None


def pack_ir(model) -> bytes:
    """``model`` serialised as IR, FP32 weights kept as they are (OpenVINO would halve them to FP16 by default)."""
    import openvino as ov

    with tempfile.TemporaryDirectory(prefix="edgedepth-openvino-") as tmp:
        ov.save_model(model, Path(tmp) / IR_FILES[0], compress_to_fp16=False)
        blob = io.BytesIO()
        with zipfile.ZipFile(blob, "w", compression=zipfile.ZIP_STORED) as archive:
            for name in IR_FILES:
                archive.write(Path(tmp) / name, name)
    return blob.getvalue()


def unpack_ir(payload: bytes, *, name: str, fix: str):
    """The ``openvino.Model`` of an engine payload written by :func:`pack_ir`."""
    from edgedepth.backends.openvino.runner import core, reason

    try:
        with zipfile.ZipFile(io.BytesIO(payload)) as archive:
            xml, weights = (archive.read(n) for n in IR_FILES)
        return core().read_model(xml, weights)
    except (zipfile.BadZipFile, KeyError) as e:
        raise EngineError(f"engine '{name}' holds no OpenVINO IR", why=str(e), fix=fix) from None
    except RuntimeError as e:
        raise EngineError(f"OpenVINO cannot read the IR in engine '{name}'", why=reason(e), fix=fix) from None


def build(request: BuildRequest) -> Built:
    """fp32 and bf16 from the FP32 ONNX, int8 from a Q/DQ ONNX (or the FP32 one quantised with --calib).

    The model is compiled once here, so a model or precision this CPU cannot run fails the build,
    not the first run; bf16 is refused where OpenVINO would quietly compute in f32.
    """
    from edgedepth.backends.openvino.runner import INFERENCE_PRECISION, compile_cpu, ran_precision
    from edgedepth.device import cpu_features, cpu_model, cpu_vendor

    if request.onnx.precision == "fp16":
        raise EngineError(f"'{request.onnx.path}' is an FP16 ONNX; OpenVINO builds from the FP32 ONNX (fp32, bf16) or a Q/DQ ONNX (int8)",
                          fix="pass the FP32 ONNX written by `edgedepth export`")
    wanted = "int8" if request.precision == "int8" else "fp32"
    info = request.onnx if request.onnx.precision == wanted else request.convert(wanted)
    model = read_onnx(info.path)
    inference_precision = INFERENCE_PRECISION[request.precision]
    compiled = compile_cpu(model, inference_precision=inference_precision, threads=None, name=str(info.path),
                           fix="re-export the model with `edgedepth export`, or update openvino")
    features = list(cpu_features())
    if ran_precision(compiled) != inference_precision:
        raise EngineError(
            f"this CPU ({cpu_model()}) has no BF16 instructions, so OpenVINO would run the {request.precision} engine in {ran_precision(compiled)}",
            why=f"bf16 needs one of the CPU features {', '.join(BF16_FEATURES)}; this CPU has {', '.join(features) or 'none of note'}",
            fix="pass --precision fp32 or int8, or build on a CPU with AMX (Xeon Sapphire Rapids or later) or AVX512-BF16",
        )
    device = {"name": cpu_model(), "compute_capability": None, "cpu_vendor": cpu_vendor(), "cpu_features": features}
    options = {"inference_precision": inference_precision, "payload": "OpenVINO IR (zip of model.xml, model.bin)"}
    batch_range = [1, None] if info.dynamic_batch else [info.input_shape[0]] * 2
    return Built(info, pack_ir(model), version(), device, options, batch_range)
