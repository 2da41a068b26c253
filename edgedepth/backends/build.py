"""`build_engine`: one ONNX file (or checkpoint) in, one .engine container out, for the chosen backend."""
from __future__ import annotations

import shlex
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

from edgedepth import __version__
from edgedepth.backends import BACKENDS, NAMES, PRECISIONS, load_backend, rank_backends
from edgedepth.backends.base import BuildRequest, Built
from edgedepth.backends.container import rebuild_command, write_engine
from edgedepth.contract import CHECKPOINT_KEY, CHECKPOINT_SHA256_KEY, OnnxModelInfo, file_sha256, inspect_onnx
from edgedepth.errors import EngineError

QDQ_FP16 = "int8-fp16"  # a convert() variant: the Q/DQ INT8 ONNX with its float region in FP16
CALIBRATION_IMAGES = 32  # min-max ranges settle after a few dozen images; more is for `edgedepth export --int8`
# build_engine keyword -> command-line flag, for messages and the rebuild command
OPTION_FLAGS = {"dla_core": "--dla-core", "workspace_mb": "--workspace-mb", "opt_level": "--opt-level",
                "timing_cache": "--timing-cache", "batch": "--batch", "max_batch": "--max-batch"}


def _converter(info: OnnxModelInfo, calib: str | Path | None, workdir: Path) -> Callable[[str], OnnxModelInfo]:
    """``convert(precision)``: ``info`` as an FP16, a Q/DQ INT8 or an "int8-fp16" ONNX (Q/DQ INT8 whose
    unquantised layers are FP16, for strongly typed TensorRT builds), converted once, on first use."""
    done: dict[str, OnnxModelInfo] = {info.precision: info}
    if info.metadata.get("float_precision") == "fp16":
        done[QDQ_FP16] = info

    def convert(precision: str) -> OnnxModelInfo:
        if precision in done:
            return done[precision]
        if precision == QDQ_FP16:
            from edgedepth.export.fp16 import convert_qdq_fp16  # onnx + numpy only

            convert_qdq_fp16(convert("int8").path, workdir / "model.int8-fp16.onnx")
            done[precision] = inspect_onnx(workdir / "model.int8-fp16.onnx")
            return done[precision]
        if info.precision != "fp32":
            raise EngineError(f"cannot convert the {info.precision} ONNX '{info.path}' to {precision}",
                              fix=f"pass --precision {info.precision}, or the FP32 ONNX written by `edgedepth export`")
        if precision == "int8":
            done[precision] = _quantize(info, calib, workdir)
        else:
            from edgedepth.export.fp16 import convert_fp16  # onnx + numpy only

            convert_fp16(info.path, workdir / "model.fp16.onnx")
            done[precision] = inspect_onnx(workdir / "model.fp16.onnx")
        return done[precision]

    return convert


def _quantize(info: OnnxModelInfo, calib: str | Path | None, workdir: Path) -> OnnxModelInfo:
    if calib is None:
        raise EngineError(
            f"--precision int8 needs calibration data: '{info.path}' is an {info.precision} ONNX without Q/DQ nodes",
            fix="pass --calib DIR (a folder of images, or a dataset folder from `edgedepth data synth`) or --calib synthetic, "
            "or the INT8 ONNX from `edgedepth export --int8`",
        )
    from edgedepth.export.calibration import load_calibration_set  # numpy image readers; torch only for datasets
    from edgedepth.export.quantize import quantize_int8

    images, _ = load_calibration_set(calib, size=(info.height, info.width), n=CALIBRATION_IMAGES)
    quantize_int8(info.path, workdir / "model.int8.onnx", calibration_images=images)
    return inspect_onnx(workdir / "model.int8.onnx")


def _choose(backend: str, precision: str, *, has_checkpoint: bool) -> tuple[str, dict[str, Any] | None]:
    """(backend name, how auto chose it) — the torch backend needs the checkpoint's weights."""
    if backend not in NAMES:
        raise EngineError(f"unknown backend '{backend}'", fix=f"pass one of {', '.join(NAMES)}")
    if backend != "auto":
        return backend, None
    from edgedepth.device import machine

    seen = machine()
    scores = rank_backends(precision, machine=seen, candidates=tuple(n for n in BACKENDS if has_checkpoint or n != "torch"))
    return max(scores, key=lambda n: scores[n]), {"machine": seen, "scores": scores}


def _check_precision(chosen: str, precision: str) -> None:
    if precision not in BACKENDS[chosen].precisions:
        takers = [n for n, e in BACKENDS.items() if precision in e.precisions]
        raise EngineError(f"the {chosen} backend does not build {precision} engines",
                          why=f"it builds {', '.join(BACKENDS[chosen].precisions)}; {precision} is built by: {', '.join(takers)}",
                          fix=f"pass --precision {'|'.join(BACKENDS[chosen].precisions)}, or --backend {'|'.join(takers)}")


def _check_options(chosen: str, options: dict[str, Any]) -> None:
    for key, value in options.items():
        if value is not None and key not in BACKENDS[chosen].options:
            takers = [n for n, e in BACKENDS.items() if key in e.options]
            raise EngineError(f"{OPTION_FLAGS[key]} is not an option of the {chosen} backend",
                              why=f"it applies to: {', '.join(takers)}", fix=f"drop {OPTION_FLAGS[key]}, or pass --backend {takers[0]}")


def _find_checkpoint(info: OnnxModelInfo, checkpoint: str | Path | None) -> Path | None:
    """The checkpoint given, or the one the ONNX was exported from when it lies next to it unchanged."""
    if checkpoint is not None:
        if not Path(checkpoint).is_file():
            raise EngineError(f"checkpoint '{checkpoint}' does not exist", fix="pass the .pt file written by `edgedepth train`")
        return Path(checkpoint)
    name, digest = info.metadata.get(CHECKPOINT_KEY), info.metadata.get(CHECKPOINT_SHA256_KEY)
    candidate = info.path.parent / name if name else None
    if candidate is not None and candidate.is_file() and digest == file_sha256(candidate):
        return candidate
    return None


def build_engine(
    onnx_path: str | Path | None,
    out: str | Path,
    *,
    precision: str,
    backend: str = "auto",
    calib: str | Path | None = None,
    checkpoint: str | Path | None = None,
    size: tuple[int, int] | None = None,
    **options: Any,
) -> dict[str, Any]:
    """Build ``onnx_path`` (or ``checkpoint``, exported first) into the engine container ``out``
    (written atomically); returns its header.

    INT8 needs a Q/DQ ONNX, or an FP32 ONNX plus ``calib`` (a folder of images, a dataset folder or
    "synthetic"), quantised with :func:`edgedepth.export.quantize_int8`; FP16 is converted where a
    backend needs an FP16 graph. ``options`` are backend options (``OPTION_FLAGS``; None = not given):
    ``batch``/``max_batch`` shape dynamic-batch engines, the rest are TensorRT's.
    """
    if precision not in PRECISIONS:
        raise EngineError(f"unknown precision '{precision}'", fix=f"pass --precision {'|'.join(PRECISIONS)}")
    if calib is not None and precision != "int8":
        raise EngineError(f"--calib is only used with --precision int8 (got {precision})", fix="drop --calib or pass --precision int8")
    unknown = set(options) - set(OPTION_FLAGS)
    if unknown:
        raise TypeError(f"build_engine() got unknown options {sorted(unknown)}")
    if onnx_path is None and checkpoint is None:
        raise EngineError("nothing to build", fix="pass --onnx model.onnx (edgedepth export) or --checkpoint model.pt")
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="edgedepth-build-") as tmp:
        if onnx_path is None:  # checkpoints are torch's: its backend exports them
            source = inspect_onnx(load_backend("torch").export_checkpoint(checkpoint, Path(tmp) / "model.onnx", size=size))
        else:
            source = inspect_onnx(onnx_path)
        found = _find_checkpoint(source, checkpoint)
        chosen, auto = _choose(backend, precision, has_checkpoint=found is not None)
        _check_precision(chosen, precision)
        _check_options(chosen, options)
        request = BuildRequest(onnx=source, precision=precision, convert=_converter(source, calib, Path(tmp)),
                               workdir=Path(tmp), options=options, checkpoint=found)
        built = load_backend(chosen).build(request)
    header = _header(built, source, chosen=chosen, precision=precision, auto=auto, started=started,
                     rebuild=_rebuild(onnx_path, checkpoint, out, precision, chosen, calib, options))
    header["onnx"] = str(Path(onnx_path).resolve()) if onnx_path is not None else None
    header["checkpoint"] = str(found.resolve()) if found is not None else None
    return write_engine(out, header, built.payload)


def _absolute_if_path(value) -> str:
    """A path argument made absolute, so the rebuild command works from any folder; names ("synthetic") stay."""
    return str(Path(value).resolve()) if isinstance(value, Path) or Path(str(value)).exists() else str(value)


def _rebuild(onnx_path, checkpoint, out, precision: str, chosen: str, calib, options: dict[str, Any]) -> str:
    extra = ["--calib", _absolute_if_path(calib)] if calib is not None else []
    if checkpoint is not None:
        extra += ["--checkpoint", str(Path(checkpoint).resolve())]
    for key, value in options.items():
        if value is not None:
            extra += [OPTION_FLAGS[key], _absolute_if_path(value) if key == "timing_cache" else str(value)]
    if onnx_path is None:
        args = ["edgedepth", "build-engine", "--precision", precision, "--backend", chosen, *extra, "--out", str(out)]
        return shlex.join(args)
    return rebuild_command(onnx=onnx_path, out=out, precision=precision, backend=chosen, extra=extra)


def _header(built: Built, source: OnnxModelInfo, *, chosen: str, precision: str, auto, started: float, rebuild: str) -> dict[str, Any]:
    info = built.info
    return {
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
        "onnx_sha256": source.sha256,
        "onnx_precision": source.precision,
        "build_time": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "build_seconds": round(time.perf_counter() - started, 2),
        "options": built.options,
        "auto": auto,
        "rebuild_command": rebuild,
    }
