"""The one TensorRT module: decide how to build (pure Python, testable anywhere), then build.

TensorRT 10 (JetPack 6 on Orin) is weakly typed: precision comes from builder flags, INT8 from
the Q/DQ nodes of the ONNX plus the INT8 flag (explicit quantisation; implicit calibrators are
deprecated since 10.1 and not used). TensorRT 11 removed the precision flags: every network is
strongly typed, so the tensor types of the ONNX *are* the precision and an FP16 engine needs an
FP16 ONNX. :func:`plan_build` encodes these rules; :func:`build_tensorrt` only executes a plan.
Sources: TensorRT "Migrating from 10.x to 11.x" Python API pages, "Working with DLA".
"""
from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgedepth.backends.base import BuildRequest, Built
from edgedepth.contract import OnnxModelInfo
from edgedepth.errors import EngineError
from edgedepth.utils.io import atomic_write_bytes

SUPPORTED_MAJORS = (10, 11)
OPT_LEVELS = range(0, 6)  # builder_optimization_level: 0 fastest build … 5 most kernels tried; 3 is TensorRT's default


@dataclass(frozen=True)
class BuildPlan:
    """Every decision of a TensorRT build, so tests can check them without TensorRT.

    ``profile`` is (min, opt, max) shapes of the input for a dynamic-batch ONNX, else None.
    ``builder_flags`` are names of ``trt.BuilderFlag`` members.
    """

    onnx_path: Path
    input_name: str
    trt_major: int
    precision: str
    strongly_typed: bool
    builder_flags: tuple[str, ...]
    profile: tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...]] | None
    dla_core: int | None
    workspace_bytes: int | None
    opt_level: int
    timing_cache: Path | None

    def describe(self) -> dict[str, Any]:
        return {k: (str(v) if isinstance(v, Path) else v) for k, v in dataclasses.asdict(self).items()}


def tensorrt_major(version: str) -> int:
    """Major version from ``trt.__version__``; refuses versions whose API we did not write against."""
    try:
        major = int(str(version).split(".")[0])
    except ValueError:
        raise EngineError(f"cannot read the TensorRT version '{version}'") from None
    if major not in SUPPORTED_MAJORS:
        raise EngineError(
            f"TensorRT {version} is not supported",
            why=f"edgedepth builds with TensorRT {' and '.join(map(str, SUPPORTED_MAJORS))} (their APIs differ)",
            fix="install TensorRT 10 (JetPack 6) or 11, or use --backend onnxruntime",
        )
    return major


def _flags_for(info: OnnxModelInfo, precision: str, trt_major: int, dla: bool) -> tuple[str, ...]:
    have = info.precision
    onnx_name = str(info.path)
    if precision == "int8" and have != "int8":
        raise EngineError(
            f"--precision int8 needs a Q/DQ ONNX, but '{onnx_name}' is {have}",
            why="edgedepth uses explicit quantisation only (TensorRT 11 has no calibrator; TensorRT 10 deprecated it)",
            fix="pass --calib DIR|synthetic so build-engine quantises it, or pass the INT8 ONNX from `edgedepth export --int8`",
        )
    if have == "int8" and precision != "int8":
        raise EngineError(f"'{onnx_name}' is a Q/DQ (INT8) ONNX but --precision {precision} was asked", fix="pass --precision int8, or the FP32 ONNX")
    if trt_major >= 11:
        if precision != have:
            fix = "pass the FP16 ONNX (`edgedepth export --fp16`, or let `edgedepth build-engine` convert it)" if precision == "fp16" else "pass the FP32 ONNX"
            raise EngineError(
                f"TensorRT {trt_major} cannot build a {precision} engine from the {have} ONNX '{onnx_name}'",
                why="TensorRT 11 networks are strongly typed: the precision comes only from the ONNX tensor types",
                fix=fix,
            )
        if dla and precision == "fp32":
            raise EngineError("DLA runs FP16 or INT8 only, and this ONNX is FP32", fix="pass the FP16 or Q/DQ ONNX with --dla-core, or drop --dla-core")
        return ("GPU_FALLBACK",) if dla else ()
    if precision == "fp32" and have == "fp16":
        raise EngineError(f"'{onnx_name}' is an FP16 ONNX but --precision fp32 was asked", fix="pass --precision fp16, or the FP32 ONNX")
    if dla and precision == "fp32":
        raise EngineError("DLA runs FP16 or INT8 only", fix="pass --precision fp16 or int8 with --dla-core, or drop --dla-core")
    flags: list[str] = []
    if precision == "fp16":
        flags.append("FP16")
    if precision == "int8":
        # Q/DQ layers run INT8; layers the sensitivity pass left unquantised stay FP32 on the GPU,
        # as validated by the exporter. DLA has no FP32, so there they must be allowed FP16.
        flags += ["INT8", "FP16"] if dla else ["INT8"]
    if dla:
        flags.append("GPU_FALLBACK")
    return tuple(flags)


def plan_build(
    info: OnnxModelInfo,
    *,
    precision: str,
    trt_major: int,
    dla_core: int | None = None,
    workspace: int | None = None,
    opt_level: int = 3,
    batch: int = 1,
    max_batch: int = 8,
    timing_cache: str | Path | None = None,
) -> BuildPlan:
    """Decide flags, profile and limits for building ``info`` at ``precision`` with TensorRT ``trt_major``.

    ``batch`` is the batch size to optimise for; a dynamic-batch ONNX gets the profile
    (1, batch, max(batch, max_batch)), except on DLA, which has no dynamic shapes (min=opt=max=batch).
    ``workspace`` is in bytes (None: TensorRT's default, the device memory).
    """
    if trt_major not in SUPPORTED_MAJORS:
        raise EngineError(f"TensorRT {trt_major} is not supported", fix="use TensorRT 10 or 11")
    if opt_level not in OPT_LEVELS:
        raise EngineError(f"--opt-level {opt_level} is out of range", fix="pass 0 (fastest build) to 5 (slowest build, most tactics); 3 is the default")
    if dla_core is not None and dla_core < 0:
        raise EngineError(f"--dla-core {dla_core} is negative", fix="pass 0 or 1 (Jetson Orin AGX has two DLA cores)")
    if workspace is not None and workspace <= 0:
        raise EngineError(f"workspace {workspace} bytes is not positive", fix="pass --workspace-mb N with N > 0")
    if batch < 1 or max_batch < 1:
        raise EngineError(f"batch {batch} / max batch {max_batch} must be at least 1")
    flags = _flags_for(info, precision, trt_major, dla_core is not None)

    profile = None
    if info.dynamic_batch:
        chw = tuple(info.input_shape[1:])
        low, high = (batch, batch) if dla_core is not None else (1, max(batch, max_batch))
        profile = ((low, *chw), (batch, *chw), (high, *chw))
    elif batch != info.input_shape[0] and batch != 1:
        raise EngineError(
            f"'{info.path}' has a fixed batch of {info.input_shape[0]}; cannot optimise for batch {batch}",
            fix="export with `--batch dynamic`, or drop the batch option",
        )
    return BuildPlan(
        onnx_path=info.path,
        input_name=info.input_name,
        trt_major=trt_major,
        precision=precision,
        strongly_typed=trt_major >= 11,
        builder_flags=flags,
        profile=profile,
        dla_core=dla_core,
        workspace_bytes=workspace,
        opt_level=opt_level,
        timing_cache=Path(timing_cache) if timing_cache else None,
    )


def build_tensorrt(plan: BuildPlan, *, trt=None) -> bytes:
    """Execute ``plan``: parse the ONNX, configure the builder, return the serialised plan.

    ``trt`` is the tensorrt module (imported here when None; tests pass a recording fake).
    The timing cache is read before and written back after the build, so later builds on the
    same GPU and TensorRT version skip most kernel timing.
    """
    from edgedepth.backends.tensorrt import import_tensorrt

    trt = trt or import_tensorrt()
    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    # Explicit batch is the only mode since 10.0, and 11 is always strongly typed: no creation flags.
    network = builder.create_network()
    parser = trt.OnnxParser(network, logger)
    if not parser.parse_from_file(str(plan.onnx_path)):
        errors = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors))
        raise EngineError(f"TensorRT cannot parse '{plan.onnx_path}'", why=errors or "the parser gave no reason", fix="check the ONNX opset (17+) with `edgedepth export`, or use --backend onnxruntime")

    config = builder.create_builder_config()
    for flag in plan.builder_flags:
        config.set_flag(getattr(trt.BuilderFlag, flag))
    if plan.workspace_bytes is not None:
        config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, plan.workspace_bytes)
    config.builder_optimization_level = plan.opt_level
    if plan.dla_core is not None:
        config.default_device_type = trt.DeviceType.DLA
        config.DLA_core = plan.dla_core
    if plan.profile is not None:
        profile = builder.create_optimization_profile()
        profile.set_shape(plan.input_name, *plan.profile)
        config.add_optimization_profile(profile)

    if plan.timing_cache is not None:
        cached = plan.timing_cache.read_bytes() if plan.timing_cache.is_file() else b""
        cache = config.create_timing_cache(cached)
        # A cache from another TensorRT version or GPU is ignored rather than failing the build.
        config.set_timing_cache(cache, True)

    serialized = builder.build_serialized_network(network, config)
    # The plan is an IHostMemory (read through the buffer protocol); None or empty means the build failed.
    plan_bytes = b"" if serialized is None else bytes(memoryview(serialized))
    if not plan_bytes:
        raise EngineError(
            f"TensorRT failed to build an engine from '{plan.onnx_path}'",
            why="see the TensorRT messages above (unsupported layer, out of memory, or DLA restrictions)",
            fix="try --workspace-mb with more memory, a lower --opt-level, or without --dla-core",
        )
    if plan.timing_cache is not None:
        atomic_write_bytes(plan.timing_cache, bytes(memoryview(config.get_timing_cache().serialize())))
    return plan_bytes


def default_timing_cache(trt_version: str, device: dict[str, Any]) -> Path:
    """Per TensorRT version and GPU architecture, under the user's cache folder, kept between builds."""
    root = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "edgedepth" / "tensorrt"
    return root / f"timing-{trt_version}-sm{device['compute_capability'].replace('.', '')}.cache"


def build(request: BuildRequest, *, trt=None) -> Built:
    """Check library, version and GPU first (a missing GPU should not cost a calibration run), then build."""
    from edgedepth.backends.tensorrt import import_tensorrt
    from edgedepth.device import cuda_device

    trt = trt or import_tensorrt()
    major = tensorrt_major(trt.__version__)
    device = cuda_device()
    if device is None:
        raise EngineError("the TensorRT backend needs a CUDA GPU, and none was found", fix="use --backend onnxruntime on this machine")
    info, precision, o = request.onnx, request.precision, request.options
    if precision == "int8" and info.precision != "int8":
        info = request.convert("int8")
    if precision == "fp16" and info.precision == "fp32" and major >= 11:
        info = request.convert("fp16")
    workspace_mb = o.get("workspace_mb")
    plan = plan_build(
        info, precision=precision, trt_major=major, dla_core=o.get("dla_core"),
        workspace=workspace_mb * (1 << 20) if workspace_mb else None, opt_level=o.get("opt_level") or 3,
        batch=o.get("batch") or 1, max_batch=o.get("max_batch") or 8,
        timing_cache=Path(o["timing_cache"]) if o.get("timing_cache") else default_timing_cache(trt.__version__, device),
    )
    batch_range = [plan.profile[0][0], plan.profile[2][0]] if plan.profile else [info.input_shape[0]] * 2
    return Built(info, build_tensorrt(plan, trt=trt), trt.__version__, device, plan.describe(), batch_range)
