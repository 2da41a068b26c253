"""OpenVINO on the CPU: oneDNN kernels for AVX2, AVX-512 VNNI and AMX (INT8 and BF16).

Runs .onnx files directly and builds engines holding the OpenVINO IR (see builder.py): fp32 and
int8 from the same files as ONNX Runtime, and bf16, a precision of its own, on CPUs with AMX or
AVX512-BF16. FP16 is not offered: OpenVINO's x86 CPU plugin computes FP16 only on CPUs with
AVX512-FP16, where bf16 is there too.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from edgedepth.backends.base import BuildRequest, Built, Runner
from edgedepth.device import installed
from edgedepth.errors import EngineError

# --backend auto scores; ONNX Runtime on a CPU is 20. Ahead of it only where measured: on CPUs with
# INT8 dot-product instructions (VNNI, AMX), the 2-core Xeon at 192x640, 2 threads: OpenVINO
# 1.28x ONNX Runtime at FP32 and 2.9x at INT8. Behind it elsewhere: on an AVX2 AMD EPYC without VNNI
# (benchmarks/results/openvino_bench_amd_epyc.md, two runs) OpenVINO was 0.94-1.01x ONNX Runtime at
# FP32 and 0.96-1.05x at INT8, a tie that ONNX Runtime keeps (its sessions open in a third of the
# time); ARM is not measured. BF16 only OpenVINO builds, on CPUs with BF16 instructions.
INT8_DOT_PRODUCT = ("avx512_vnni", "avx_vnni", "amx_int8")
AHEAD_OF_ONNXRUNTIME, BEHIND_ONNXRUNTIME, ONLY_BACKEND = 30, 15, 40


def _installed():
    return installed("openvino")


def suitability(machine: dict[str, Any], precision: str) -> int | None:
    """Ahead of ONNX Runtime on CPUs with VNNI or AMX, behind it elsewhere (see the measurements above);
    bf16 only where the CPU has BF16 instructions."""
    from edgedepth.backends.openvino.builder import BF16_FEATURES

    if _installed() is None:
        return None
    features = set(machine.get("cpu_features") or ())
    if precision == "bf16":
        return ONLY_BACKEND if features & set(BF16_FEATURES) else None
    return AHEAD_OF_ONNXRUNTIME if features & set(INT8_DOT_PRODUCT) else BEHIND_ONNXRUNTIME


def build(request: BuildRequest) -> Built:
    from edgedepth.backends.openvino.builder import build as build_ir

    return build_ir(request)


def _check_engine(engine) -> None:
    """Refuse an IR from a newer OpenVINO (it may use operator sets this one lacks) and a bf16 engine on a CPU without BF16."""
    from edgedepth.backends.openvino.builder import BF16_FEATURES, version
    from edgedepth.device import cpu_features, cpu_model

    header, here = engine.header, version()
    built = str(header["backend_version"])
    if _release(built) > _release(here):
        raise EngineError(f"engine '{engine.path}' was built with openvino {built}, but this machine has {here}",
                          why="an IR written by a newer OpenVINO may use operators an older one cannot read",
                          fix=f"rebuild it on this machine: {engine.rebuild_hint()}, or update openvino")
    if header["precision"] == "bf16" and not set(cpu_features()) & set(BF16_FEATURES):
        raise EngineError(f"engine '{engine.path}' is bf16, but this CPU ({cpu_model()}) has no BF16 instructions",
                          why=f"it was built on {(header.get('device') or {}).get('name')}; without {' or '.join(BF16_FEATURES)} "
                          "OpenVINO would run it in f32",
                          fix=f"rebuild it as fp32 or int8 here: {engine.rebuild_hint()} (with --precision fp32)")


def _release(text: str) -> tuple[int, ...]:
    """(year, release) of an OpenVINO version such as "2026.4.1"; unreadable parts count as 0."""
    parts = text.split(".")[:2]
    return tuple(int(p) if p.isdigit() else 0 for p in parts)


def open_engine(engine, *, device: str = "auto", threads: int | None = None) -> Runner:
    from edgedepth.backends.openvino.builder import unpack_ir
    from edgedepth.backends.openvino.runner import OpenVinoRunner

    _refuse_cuda(device, engine.path)
    _check_engine(engine)
    fix = f"rebuild it: {engine.rebuild_hint()}"
    model = unpack_ir(engine.payload, name=str(engine.path), fix=fix)
    return OpenVinoRunner(model, meta=engine.header, name=str(engine.path), precision=engine.header["precision"],
                          rebuild=fix, threads=threads)


def open_file(path: Path, *, device: str = "auto", threads: int | None = None) -> Runner:
    """An exported .onnx file (its contract checked); a Q/DQ file runs its INT8 layers in INT8."""
    from edgedepth.backends.openvino.builder import read_onnx
    from edgedepth.backends.openvino.runner import OpenVinoRunner
    from edgedepth.contract import inspect_onnx

    _refuse_cuda(device, path)
    info = inspect_onnx(path)
    return OpenVinoRunner(read_onnx(path), meta=info.metadata, name=str(path), precision=info.precision,
                          rebuild="re-export it with `edgedepth export`", threads=threads)


def _refuse_cuda(device: str, path) -> None:
    if device == "cuda":
        raise EngineError(f"the openvino backend runs '{path}' on the CPU, and device 'cuda' was asked",
                          fix="use --device cpu or auto, or a tensorrt/onnxruntime/torch engine on the GPU")
