"""`edgedepth build-engine`: ONNX (or checkpoint) -> .engine for the chosen backend, and say what was built."""
from __future__ import annotations

import argparse
from pathlib import Path

from edgedepth.cli.args import parse_size


def register(subparsers) -> None:
    from edgedepth.backends import BACKENDS, NAMES

    rows = "; ".join(f"{name}: {entry.summary}" for name, entry in BACKENDS.items())
    p = subparsers.add_parser(
        "build-engine",
        help="build a TensorRT, ONNX Runtime, OpenVINO or PyTorch engine from an exported ONNX model",
        description="Build the fastest engine for this device from `edgedepth export`'s ONNX file (or from a checkpoint, "
        f"exported first). Backends: {rows}. --backend auto picks the fastest one installed for this machine "
        "and says what it saw.",
    )
    src = p.add_argument_group("model (one of them, or both for --backend torch)")
    src.add_argument("--onnx", type=Path, help="ONNX file from `edgedepth export` (FP32, FP16 or Q/DQ INT8)")
    src.add_argument("--checkpoint", type=Path, help="training checkpoint: the torch backend's weights (found next to the "
                     "ONNX by name when not given), or exported to ONNX first when no --onnx is given")
    p.add_argument("--size", type=parse_size, help="HxW to export a --checkpoint at (default: its training size)")
    p.add_argument("--precision", required=True, help="fp32, fp16, int8 (needs a Q/DQ ONNX or --calib) or bf16 (openvino, "
                   "on CPUs with AMX or AVX512-BF16)")
    p.add_argument("--calib", default=None, help="INT8 calibration images: a folder of images or a dataset folder, or 'synthetic'")
    p.add_argument("--backend", default="auto", help=f"{', '.join(NAMES)} (default auto)")
    p.add_argument("--dla-core", type=int, default=None, help="TensorRT: run on this Jetson DLA core (with GPU fallback); needs fp16 or int8")
    p.add_argument("--workspace-mb", type=int, default=None, help="TensorRT: builder workspace limit in MiB (default: TensorRT's, the device memory)")
    p.add_argument("--opt-level", type=int, default=None, help="TensorRT builder optimisation level, 0 (fast build) to 5 (default 3)")
    p.add_argument("--timing-cache", type=Path, default=None, help="TensorRT timing cache file, read and updated (default: per version and GPU under ~/.cache/edgedepth)")
    p.add_argument("--batch", type=int, default=None, help="TensorRT/torch: batch size to optimise for (dynamic-batch ONNX; default 1)")
    p.add_argument("--max-batch", type=int, default=None, help="TensorRT/torch: largest batch a dynamic-batch engine accepts (default 8)")
    p.add_argument("--out", required=True, type=Path,
                   help="engine file to write (atomically; an existing one is replaced, and the output says so)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from edgedepth.backends import build_engine
    from edgedepth.errors import EngineError
    from edgedepth.utils.io import ensure_writable_file, exclusive_output

    if args.onnx is None and args.checkpoint is None:
        raise EngineError("build-engine needs a model", fix="pass --onnx model.onnx (from `edgedepth export`) or --checkpoint model.pt")
    ensure_writable_file(args.out, what="engine file")
    with exclusive_output(args.out, what="engine file"):
        replaced = args.out.exists()
        header = build_engine(
            args.onnx, args.out, precision=args.precision, backend=args.backend, calib=args.calib, checkpoint=args.checkpoint,
            size=args.size, dla_core=args.dla_core, workspace_mb=args.workspace_mb, opt_level=args.opt_level,
            timing_cache=args.timing_cache, batch=args.batch, max_batch=args.max_batch,
        )
    print(describe(header, args.out, replaced=replaced))
    return 0


def _auto_line(auto: dict) -> str:
    seen = auto["machine"]
    gpu = (seen.get("gpu") or {}).get("name") or "no CUDA GPU"
    features = ", ".join(seen.get("cpu_features") or []) or "none of note"
    ranking = ", ".join(f"{n} {s}" for n, s in sorted(auto["scores"].items(), key=lambda kv: -kv[1]))
    return f"  chosen by   --backend auto on {gpu}; CPU {seen.get('cpu')} (features: {features}); ranking: {ranking}"


def describe(header: dict, path: Path, *, replaced: bool = False) -> str:
    """The lines build-engine prints: what was built (and whether it replaced a file), with which library, for which device."""
    device = header["device"] or {}
    where = device.get("name") or "unknown device"
    if device.get("compute_capability"):
        where += f" (compute capability {device['compute_capability']})"
    if device.get("provider"):
        where += f", {device['provider']}"
    options = header.get("options", {})
    lines = [
        f"built {path}" + (" (replaced the previous engine there)" if replaced else ""),
        f"  backend     {header['backend']} {header['backend_version']}",
        f"  precision   {header['precision']} (from the {header['onnx_precision']} ONNX)",
        f"  device      {where}",
        f"  input       {header['input_name']} {header['input_shape']} batch {header['batch_range'][0]}..{header['batch_range'][1] or 'any'}",
        f"  depth       {header['min_depth']}..{header['max_depth']} m",
    ]
    if header.get("auto"):
        lines.append(_auto_line(header["auto"]))
    if header["backend"] == "tensorrt":
        lines.append(f"  tensorrt    flags {list(options.get('builder_flags', []))} strongly typed {options.get('strongly_typed')} "
                     f"dla core {options.get('dla_core')} opt level {options.get('opt_level')}")
        lines.append(f"  timing      {options.get('timing_cache')}")
    if header["backend"] == "openvino":
        features = ", ".join(device.get("cpu_features") or []) or "none of note"
        lines.append(f"  openvino    float layers in {options.get('inference_precision')}; IR compiled when opened; built on a CPU with {features}")
    lines.append(f"  size        {path.stat().st_size / 1e6:.2f} MB (payload {header['payload_size'] / 1e6:.2f} MB), built in {header['build_seconds']} s")
    return "\n".join(lines)
