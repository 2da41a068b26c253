"""`edgedepth build-engine`: ONNX -> .engine for TensorRT 10/11 or ONNX Runtime, and say what was built."""
from __future__ import annotations

import argparse
from pathlib import Path


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "build-engine",
        help="build a TensorRT or ONNX Runtime engine from an exported ONNX model",
        description="Build the fastest engine for this device from `edgedepth export`'s ONNX file. "
        "--backend auto uses TensorRT when it imports and a GPU is present, else ONNX Runtime.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("--onnx", required=True, type=Path, help="ONNX file from `edgedepth export` (FP32, FP16 or Q/DQ INT8)")
    p.add_argument("--precision", required=True, help="fp32, fp16 or int8 (int8 needs a Q/DQ ONNX or --calib)")
    p.add_argument("--calib", default=None, help="INT8 calibration images: a folder, or 'synthetic' for the built-in world")
    p.add_argument("--backend", default="auto", help="auto, tensorrt or onnxruntime")
    p.add_argument("--dla-core", type=int, default=None, help="TensorRT: run on this Jetson DLA core (with GPU fallback); needs fp16 or int8")
    p.add_argument("--workspace-mb", type=int, default=None, help="TensorRT: builder workspace limit in MiB (default: TensorRT's, the device memory)")
    p.add_argument("--opt-level", type=int, default=3, help="TensorRT builder optimisation level, 0 (fast build) to 5")
    p.add_argument("--timing-cache", type=Path, default=None, help="TensorRT timing cache file, read and updated (default: per version and GPU under ~/.cache/edgedepth)")
    p.add_argument("--batch", type=int, default=1, help="batch size to optimise for (dynamic-batch ONNX)")
    p.add_argument("--max-batch", type=int, default=8, help="largest batch a dynamic-batch TensorRT engine accepts")
    p.add_argument("--out", required=True, type=Path, help="engine file to write (atomically)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from edgedepth.engine import build_engine

    header = build_engine(
        args.onnx, args.out, precision=args.precision, backend=args.backend, calib=args.calib, dla_core=args.dla_core,
        workspace_mb=args.workspace_mb, opt_level=args.opt_level, timing_cache=args.timing_cache,
        batch=args.batch, max_batch=args.max_batch,
    )
    print(describe(header, args.out))
    return 0


def describe(header: dict, path: Path) -> str:
    """The lines build-engine prints: what was built, with which library, for which device."""
    device = header["device"] or {}
    where = device.get("name") or "unknown device"
    if device.get("compute_capability"):
        where += f" (compute capability {device['compute_capability']})"
    if device.get("provider"):
        where += f", {device['provider']}"
    options = header.get("options", {})
    lines = [
        f"built {path}",
        f"  backend     {header['backend']} {header['backend_version']}",
        f"  precision   {header['precision']} (from the {header['onnx_precision']} ONNX)",
        f"  device      {where}",
        f"  input       {header['input_name']} {header['input_shape']} batch {header['batch_range'][0]}..{header['batch_range'][1] or 'any'}",
        f"  depth       {header['min_depth']}..{header['max_depth']} m",
    ]
    if header["backend"] == "tensorrt":
        lines.append(f"  tensorrt    flags {list(options.get('builder_flags', []))} strongly typed {options.get('strongly_typed')} "
                     f"dla core {options.get('dla_core')} opt level {options.get('opt_level')}")
        lines.append(f"  timing      {options.get('timing_cache')}")
    lines.append(f"  size        {path.stat().st_size / 1e6:.2f} MB (payload {header['payload_size'] / 1e6:.2f} MB), built in {header['build_seconds']} s")
    return "\n".join(lines)
