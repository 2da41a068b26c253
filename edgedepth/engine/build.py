"""`build_engine`: one ONNX file in, one .engine container out, for the backend at hand."""
from __future__ import annotations

import importlib
import os
import platform
import tempfile
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from edgedepth import __version__
from edgedepth.engine import container
from edgedepth.engine.onnx_info import PRECISIONS, OnnxModelInfo, inspect_onnx
from edgedepth.errors import EngineError

BACKENDS = ("auto", "tensorrt", "onnxruntime")
CALIBRATION_IMAGES = 32  # min-max ranges settle after a few dozen images; more is for `edgedepth export --int8`


def tensorrt_usable() -> bool:
    """TensorRT imports and a CUDA GPU is present (what ``--backend auto`` asks)."""
    try:
        import tensorrt  # noqa: F401
    except (ImportError, OSError):  # OSError: the wheel is there but libnvinfer is not
        return False
    from edgedepth.engine.tensorrt_builder import cuda_device

    return cuda_device() is not None


def resolve_backend(backend: str) -> str:
    if backend not in BACKENDS:
        raise EngineError(f"unknown backend '{backend}'", fix=f"pass one of {', '.join(BACKENDS)}")
    if backend == "auto":
        return "tensorrt" if tensorrt_usable() else "onnxruntime"
    return backend


def cpu_name() -> str:
    """The CPU model ("AMD EPYC 7B13") where Linux says it, else the architecture."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def default_timing_cache(trt_version: str, device: dict[str, Any]) -> Path:
    """Per TensorRT version and GPU architecture, under the user's cache folder, kept between builds."""
    root = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "edgedepth" / "tensorrt"
    return root / f"timing-{trt_version}-sm{device['compute_capability'].replace('.', '')}.cache"


def _exporter(name: str):
    try:
        module = importlib.import_module("edgedepth.export")
        return getattr(module, name)
    except (ImportError, AttributeError) as e:
        raise EngineError(
            f"converting the ONNX needs edgedepth.export.{name}, which cannot be imported",
            why=str(e),
            fix="install the export extras (`pip install edgedepth[onnx,train]`), or pass an ONNX already in the asked precision",
        ) from None


def _quantize(info: OnnxModelInfo, calib: str | Path | None, workdir: Path) -> OnnxModelInfo:
    if calib is None:
        raise EngineError(
            f"--precision int8 needs calibration data: '{info.path}' is an {info.precision} ONNX without Q/DQ nodes",
            fix="pass --calib DIR (a dataset folder, e.g. from `edgedepth data synth`) or --calib synthetic, or the INT8 ONNX from `edgedepth export --int8`",
        )
    # Lazy: only INT8 builds from an FP32 ONNX need the quantiser and the calibration data loaders.
    quantize_int8 = _exporter("quantize_int8")
    from edgedepth.export.calibration import load_calibration_set

    images, _ = load_calibration_set(calib, size=(info.height, info.width), n=CALIBRATION_IMAGES)
    out = workdir / "model.int8.onnx"
    quantize_int8(info.path, out, calibration_images=images)
    return inspect_onnx(out)


def _convert_fp16(info: OnnxModelInfo, workdir: Path) -> OnnxModelInfo:
    convert_fp16 = _exporter("convert_fp16")  # lazy: only FP16 builds from FP32 need it
    out = workdir / "model.fp16.onnx"
    convert_fp16(info.path, out)
    return inspect_onnx(out)


def _check_same_precision(info: OnnxModelInfo, precision: str, backend: str) -> None:
    if info.precision != precision:
        raise EngineError(
            f"--precision {precision} was asked but '{info.path}' is an {info.precision} ONNX",
            why=f"{backend} runs the precision the ONNX graph holds",
            fix=f"pass --precision {info.precision}, or the FP32 ONNX so build-engine converts it",
        )


@dataclass
class _Built:
    info: OnnxModelInfo  # the ONNX actually built (after conversion)
    payload: bytes
    backend_version: str
    device: dict[str, Any]
    options: dict[str, Any]
    batch_range: list


def _build_with_tensorrt(info: OnnxModelInfo, workdir: Path, *, precision: str, calib, dla_core, workspace_mb, opt_level, timing_cache, batch, max_batch) -> _Built:
    from edgedepth.engine import tensorrt_builder as trtb

    # Library, version and GPU first: a missing GPU should not cost a calibration run.
    trt = trtb.import_tensorrt()
    major = trtb.tensorrt_major(trt.__version__)
    device = trtb.cuda_device()
    if device is None:
        raise EngineError("the TensorRT backend needs a CUDA GPU, and none was found", fix="use --backend onnxruntime on this machine")
    if precision == "int8" and info.precision != "int8":
        info = _quantize(info, calib, workdir)
    if precision == "fp16" and info.precision == "fp32" and major >= 11:
        info = _convert_fp16(info, workdir)
    plan = trtb.plan_build(
        info, precision=precision, trt_major=major, dla_core=dla_core,
        workspace=workspace_mb * (1 << 20) if workspace_mb else None, opt_level=opt_level, batch=batch, max_batch=max_batch,
        timing_cache=Path(timing_cache) if timing_cache else default_timing_cache(trt.__version__, device),
    )
    batch_range = [plan.profile[0][0], plan.profile[2][0]] if plan.profile else [info.input_shape[0]] * 2
    return _Built(info, trtb.build_tensorrt(plan, trt=trt), trt.__version__, device, plan.describe(), batch_range)


def _build_with_onnxruntime(info: OnnxModelInfo, workdir: Path, *, precision: str, calib) -> _Built:
    import onnxruntime as ort

    from edgedepth.engine import onnxruntime_builder as ortb

    if precision == "int8" and info.precision != "int8":
        info = _quantize(info, calib, workdir)
    if precision == "fp16" and info.precision == "fp32":
        info = _convert_fp16(info, workdir)
    _check_same_precision(info, precision, "ONNX Runtime")
    provider = ortb.available_provider()
    if provider == "CUDAExecutionProvider":
        from edgedepth.engine.tensorrt_builder import cuda_device

        device = {**(cuda_device() or {}), "compute_capability": None, "provider": provider}
    else:
        device = {"name": cpu_name(), "compute_capability": None, "provider": provider}
    options = {"provider": provider, "graph_optimization_level": "ORT_ENABLE_EXTENDED"}
    batch_range = [1, None] if info.dynamic_batch else [info.input_shape[0]] * 2
    return _Built(info, ortb.build_onnxruntime(info.path, provider=provider), ort.__version__, device, options, batch_range)


def build_engine(
    onnx_path: str | Path,
    out: str | Path,
    *,
    precision: str,
    backend: str = "auto",
    calib: str | Path | None = None,
    dla_core: int | None = None,
    workspace_mb: int | None = None,
    opt_level: int = 3,
    timing_cache: str | Path | None = None,
    batch: int = 1,
    max_batch: int = 8,
) -> dict[str, Any]:
    """Build ``onnx_path`` into the engine container ``out`` (written atomically); returns its header.

    INT8 needs a Q/DQ ONNX, or an FP32 ONNX plus ``calib`` (a dataset folder or "synthetic"),
    which is quantised with :func:`edgedepth.export.quantize_int8`. FP16 from an FP32 ONNX is
    converted with :func:`edgedepth.export.convert_fp16` for ONNX Runtime and TensorRT 11;
    TensorRT 10 sets its FP16 builder flag instead. ``batch``/``max_batch`` shape the TensorRT
    optimisation profile of a dynamic-batch ONNX; ``timing_cache`` defaults to a per-version,
    per-GPU file under the user's cache folder.
    """
    if precision not in PRECISIONS:
        raise EngineError(f"unknown precision '{precision}'", fix=f"pass --precision {'|'.join(PRECISIONS)}")
    if calib is not None and precision != "int8":
        raise EngineError(f"--calib is only used with --precision int8 (got {precision})", fix="drop --calib or pass --precision int8")
    source = inspect_onnx(onnx_path)
    chosen = resolve_backend(backend)
    if dla_core is not None and chosen != "tensorrt":
        raise EngineError("--dla-core needs the TensorRT backend", why=f"the {chosen} backend was chosen", fix="build on a Jetson with TensorRT, or drop --dla-core")

    extra = []
    for flag, value, default in (("--calib", calib, None), ("--dla-core", dla_core, None), ("--workspace-mb", workspace_mb, None),
                                 ("--opt-level", opt_level, 3), ("--batch", batch, 1), ("--max-batch", max_batch, 8)):
        if value != default:
            extra += [flag, str(value)]
    rebuild = container.rebuild_command(onnx=onnx_path, out=out, precision=precision, backend=chosen, extra=extra)

    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="edgedepth-build-") as tmp:
        if chosen == "tensorrt":
            built = _build_with_tensorrt(source, Path(tmp), precision=precision, calib=calib, dla_core=dla_core, workspace_mb=workspace_mb,
                                         opt_level=opt_level, timing_cache=timing_cache, batch=batch, max_batch=max_batch)
        else:
            built = _build_with_onnxruntime(source, Path(tmp), precision=precision, calib=calib)
    info = built.info
    header = {
        "edgedepth_version": __version__,
        "backend": chosen,
        "backend_version": built.backend_version,
        "device": built.device,
        "precision": precision,
        "input_name": info.input_name,
        "input_shape": list(info.input_shape),
        "batch_range": built.batch_range,
        "output_name": info.output_name,
        "height": info.height,
        "width": info.width,
        "preprocessing": info.preprocessing,
        "min_depth": info.min_depth,
        "max_depth": info.max_depth,
        "onnx": str(onnx_path),
        "onnx_sha256": source.sha256,
        "onnx_precision": source.precision,
        "build_time": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "build_seconds": round(time.perf_counter() - started, 2),
        "options": built.options,
        "rebuild_command": rebuild,
    }
    return container.write_engine(out, header, built.payload)
