"""The one TensorRT module: decide how to build (pure Python, testable anywhere), then build.

TensorRT 10 (JetPack 6 on Orin) is weakly typed by default: precision comes from builder flags.
TensorRT 11 removed the precision flags: every network is strongly typed, so the tensor types of
the ONNX *are* the precision and an FP16 engine needs an FP16 ONNX. INT8 is explicit quantisation
(Q/DQ nodes in the ONNX; implicit calibrators are deprecated since 10.1 and not used), built strongly
typed on both majors from the Q/DQ ONNX whose float region is FP16; only TensorRT 10's DLA builds it
weakly typed, with the INT8 and FP16 flags (see :func:`_typing_for`).
:func:`plan_build` encodes these rules; :func:`build_tensorrt` only executes a plan.
Sources: TensorRT "Migrating from 10.x to 11.x" Python API pages, "Working with DLA",
"Explicit Quantization" (quantized-types-explicit-quantization).
"""
from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from edgedepth.backends.base import BuildRequest, Built
from edgedepth.contract import OnnxModelInfo
from edgedepth.errors import EngineError
from edgedepth.utils.io import atomic_write_bytes

if TYPE_CHECKING:
    import tensorrt as trt

SUPPORTED_MAJORS = (10, 11)
OPT_LEVELS = range(0, 6)  # builder_optimization_level: 0 fastest build … 5 most kernels tried; 3 is TensorRT's default


@dataclass(frozen=True)
class BuildPlan:
    """Every decision of a TensorRT build, so tests can check them without TensorRT.

    ``profile`` is (min, opt, max) shapes of the input for a dynamic-batch ONNX, else None.
    ``builder_flags`` are names of ``trt.BuilderFlag`` members. ``strongly_typed``: the ONNX tensor
    types are the precision (always on TensorRT 11; on 10 for INT8 on the GPU).
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


def _check_precision(info: OnnxModelInfo, precision: str, trt_major: int, dla: bool) -> None:
    """Refuse a precision this ONNX cannot give with this TensorRT (or on DLA, which has no FP32)."""
    have, onnx_name = info.precision, str(info.path)
    if precision == "int8" and have != "int8":
        raise EngineError(
            f"--precision int8 needs a Q/DQ ONNX, but '{onnx_name}' is {have}",
            why="edgedepth uses explicit quantisation only (TensorRT 11 has no calibrator; TensorRT 10 deprecated it)",
            fix="pass --calib DIR|synthetic so build-engine quantises it, or pass the INT8 ONNX from `edgedepth export --int8`",
        )
    if have == "int8" and precision != "int8":
        raise EngineError(f"'{onnx_name}' is a Q/DQ (INT8) ONNX but --precision {precision} was asked", fix="pass --precision int8, or the FP32 ONNX")
    if trt_major >= 11 and precision != have:
        fix = "pass the FP16 ONNX (`edgedepth export --fp16`, or let `edgedepth build-engine` convert it)" if precision == "fp16" else "pass the FP32 ONNX"
        raise EngineError(
            f"TensorRT {trt_major} cannot build a {precision} engine from the {have} ONNX '{onnx_name}'",
            why="TensorRT 11 networks are strongly typed: the precision comes only from the ONNX tensor types",
            fix=fix,
        )
    if precision == "fp32" and have == "fp16":
        raise EngineError(f"'{onnx_name}' is an FP16 ONNX but --precision fp32 was asked", fix="pass --precision fp16, or the FP32 ONNX")
    if dla and precision == "fp32":
        raise EngineError(f"DLA runs FP16 or INT8 only, and --precision fp32 was asked for '{onnx_name}'",
                          fix="pass --precision fp16 or int8 (the FP16 or Q/DQ ONNX on TensorRT 11) with --dla-core, or drop --dla-core")


def _typing_for(precision: str, trt_major: int, dla: bool) -> tuple[bool, tuple[str, ...]]:
    """(strongly typed, builder flags) for a precision :func:`_check_precision` accepted."""
    fallback = ("GPU_FALLBACK",) if dla else ()
    if trt_major >= 11:
        return True, fallback
    if precision == "int8" and not dla:
        # NVIDIA: "Use explicit quantization with Strong Typing. Precision-control build flags are not
        # required and should not be specified" (TensorRT docs, Explicit Quantization); weak typing is
        # deprecated since 10.12. The unquantised layers then run in the ONNX's float type: build() hands
        # over the Q/DQ ONNX with an FP16 float region (export.convert_qdq_fp16), as NVIDIA ModelOpt's ONNX
        # quantizer writes by default (high_precision_dtype="fp16"), while the depth head and the layers
        # the sensitivity pass kept in float stay FP32. Weak typing with the FP16 flag (trtexec --int8
        # --fp16) would let TensorRT run the head in FP16 too.
        return True, ()
    if precision == "int8":
        # DLA has no FP32 and strong typing on DLA is documented only for 11: weak INT8 + FP16 flags.
        return False, ("INT8", "FP16", *fallback)
    return False, (("FP16",) if precision == "fp16" else ()) + fallback


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
    _check_precision(info, precision, trt_major, dla_core is not None)
    strongly_typed, flags = _typing_for(precision, trt_major, dla_core is not None)

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
        strongly_typed=strongly_typed,
        builder_flags=flags,
        profile=profile,
        dla_core=dla_core,
        workspace_bytes=workspace,
        opt_level=opt_level,
        timing_cache=Path(timing_cache) if timing_cache else None,
    )


def _parse(builder: trt.Builder, logger: trt.ILogger, plan: BuildPlan) -> trt.INetworkDefinition:
    import tensorrt as trt

    # Explicit batch is the only mode since 10.0. Strong typing is opt-in on 10 and always on in 11,
    # where the creation flag is deprecated and ignored: set it only on 10.
    flags = 1 << int(trt.NetworkDefinitionCreationFlag.STRONGLY_TYPED) if plan.strongly_typed and plan.trt_major == 10 else 0
    network = builder.create_network(flags)
    parser = trt.OnnxParser(network, logger)
    if not parser.parse_from_file(str(plan.onnx_path)):
        errors = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors))
        raise EngineError(f"TensorRT cannot parse '{plan.onnx_path}'", why=errors or "the parser gave no reason", fix="check the ONNX opset (17+) with `edgedepth export`, or use --backend onnxruntime")
    return network


def _configure(builder: trt.Builder, plan: BuildPlan) -> trt.IBuilderConfig:
    import tensorrt as trt

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
        low, opt, high = (trt.Dims(list(shape)) for shape in plan.profile)
        profile.set_shape(plan.input_name, low, opt, high)
        config.add_optimization_profile(profile)
    if plan.timing_cache is not None:
        cached = plan.timing_cache.read_bytes() if plan.timing_cache.is_file() else b""
        # A cache from another TensorRT version or GPU is ignored rather than failing the build.
        config.set_timing_cache(config.create_timing_cache(cached), True)
    return config


def build_tensorrt(plan: BuildPlan) -> bytes:
    """Execute ``plan``: parse the ONNX, configure the builder, return the serialised plan.

    The timing cache is read before and written back after the build, so later builds on the
    same GPU and TensorRT version skip most kernel timing.
    """
    from edgedepth.backends.tensorrt import require_tensorrt

    require_tensorrt()
    import tensorrt as trt

    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    network = _parse(builder, logger, plan)
    config = _configure(builder, plan)
    serialized: trt.IHostMemory | None = builder.build_serialized_network(network, config)
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


def _onnx_for(request: BuildRequest, major: int) -> OnnxModelInfo:
    """The ONNX variant this TensorRT builds ``request.precision`` from (converted by build-engine)."""
    info, precision = request.onnx, request.precision
    if precision == "int8":
        # TensorRT 10 on DLA builds weakly typed from the Q/DQ ONNX as exported (see _typing_for); every
        # strongly typed INT8 build takes the Q/DQ ONNX whose unquantised layers are FP16.
        weak = major == 10 and request.options.get("dla_core") is not None
        return request.convert("int8" if weak else "int8-fp16")
    if precision == "fp16" and info.precision == "fp32" and major >= 11:
        return request.convert("fp16")
    return info


def build(request: BuildRequest) -> Built:
    """Check library, version and GPU first (a missing GPU should not cost a calibration run), then build."""
    from edgedepth.backends.tensorrt import require_tensorrt
    from edgedepth.device import cuda_device

    version = require_tensorrt()
    major = tensorrt_major(version)
    device = cuda_device()
    if device is None:
        raise EngineError("the TensorRT backend needs a CUDA GPU, and none was found", fix="use --backend onnxruntime on this machine")
    info, o = _onnx_for(request, major), request.options
    workspace_mb = o.get("workspace_mb")
    plan = plan_build(
        info, precision=request.precision, trt_major=major, dla_core=o.get("dla_core"),
        workspace=workspace_mb * (1 << 20) if workspace_mb else None, opt_level=o.get("opt_level") or 3,
        batch=o.get("batch") or 1, max_batch=o.get("max_batch") or 8,
        timing_cache=Path(o["timing_cache"]) if o.get("timing_cache") else default_timing_cache(version, device),
    )
    batch_range = [plan.profile[0][0], plan.profile[2][0]] if plan.profile else [info.input_shape[0]] * 2
    return Built(info, build_tensorrt(plan), version, device, plan.describe(), batch_range)
