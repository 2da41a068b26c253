"""`edgedepth export --checkpoint CKPT --out model.onnx [--fp16] [--int8 --calib DIR|synthetic ...]`."""
from __future__ import annotations

import argparse
from pathlib import Path

from edgedepth.cli.args import parse_size


def _batch(text: str):
    if text == "dynamic":
        return text
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"batch '{text}' is not a number or 'dynamic'") from None


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "export",
        help="export the depth network of a checkpoint to ONNX (FP32, and optionally FP16 and INT8 Q/DQ)",
        description="Export the depth network alone to ONNX: input 'image' [N,3,H,W] RGB in [0,1], output 'depth' "
        "[N,1,H,W] metres, normalisation folded in, size/depth range/preprocessing in the metadata. Each file is "
        "verified after writing (onnx.checker, ONNX Runtime vs PyTorch). --fp16 and --int8 write MODEL.fp16.onnx and "
        "MODEL.int8.onnx next to --out and print their accuracy side by side on held-out images.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("--checkpoint", required=True, type=Path, help="checkpoint .pt written by `edgedepth train`")
    p.add_argument("--out", required=True, type=Path,
                   help="FP32 ONNX file to write (atomically; an existing one is replaced, and the output says so)")
    p.add_argument("--size", type=parse_size, default=(192, 640), help="input size HxW, multiples of 32")
    p.add_argument("--batch", type=_batch, default=1, help="fixed batch N, or 'dynamic'")
    p.add_argument("--opset", type=int, default=17, help="ONNX opset (17 or newer)")
    p.add_argument("--no-simplify", action="store_true", help="keep the graph as torch.onnx.export wrote it (no onnxslim)")
    p.add_argument("--fp16", action="store_true", help="also write an FP16 ONNX (FP32 input/output and depth head)")
    p.add_argument("--int8", action="store_true", help="also write an INT8 Q/DQ ONNX (symmetric, per-channel weights)")
    p.add_argument("--calib", default="synthetic", help="INT8 calibration images: a dataset folder or name, or 'synthetic'")
    p.add_argument("--calib-n", type=int, default=32, help="number of calibration images")
    p.add_argument("--calib-method", default="entropy", choices=["minmax", "entropy", "percentile"], help="how activation ranges are chosen")
    p.add_argument("--percentile", type=float, default=99.99, help="percentile for --calib-method percentile")
    p.add_argument("--max-accuracy-drop", type=float, default=None,
                   help="keep the most sensitive layers in FP32 until held-out AbsRel is within this relative drop (0.02 = 2%%)")
    p.add_argument("--holdout-n", type=int, default=8, help="held-out synthetic target images for the accuracy table and --max-accuracy-drop")
    p.add_argument("--exclude", action="append", default=[], metavar="NODE", help="ONNX node to keep in float (repeatable)")
    p.set_defaults(func=run)


def _sibling(path: Path, tag: str) -> Path:
    return path.with_name(f"{path.stem}.{tag}{path.suffix or '.onnx'}")


def run(args: argparse.Namespace) -> int:
    from edgedepth.errors import ExportError
    from edgedepth.export.calibration import load_calibration_set
    from edgedepth.utils.io import ensure_writable_file, exclusive_output

    if not args.int8 and (args.max_accuracy_drop is not None):
        raise ExportError("--max-accuracy-drop applies to INT8 only", fix="add --int8")
    if args.calib_n < 1 or args.holdout_n < 1:
        raise ExportError("--calib-n and --holdout-n must be at least 1")
    ensure_writable_file(args.out, what="ONNX file")
    with exclusive_output(args.out, what="ONNX file"):
        # Load the calibration set first: a wrong --calib should fail before minutes of export work.
        calib_images = load_calibration_set(args.calib, size=args.size, n=args.calib_n, seed=0, split="train")[0] if args.int8 else None
        existing = {p for p in (args.out, _sibling(args.out, "fp16"), _sibling(args.out, "int8")) if p.exists()}
        files = _export(args, calib_images)
    for path in files.values():
        if Path(path) in existing:
            print(f"replaced the previous {path}")
    return 0


def _export(args: argparse.Namespace, calib_images) -> dict[str, Path]:
    """Write the FP32 ONNX (and the FP16 and INT8 ones when asked), print what each is; {precision: path}."""
    from edgedepth.export import convert_fp16, export_from_checkpoint, quantize_int8
    from edgedepth.export.calibration import load_calibration_set
    from edgedepth.export.verify import format_precision_table, precision_table

    report = export_from_checkpoint(args.checkpoint, args.out, size=args.size, batch=args.batch, opset=args.opset, simplify=not args.no_simplify)
    print(report.summary())
    files = {"fp32": args.out}
    holdout = None
    if args.fp16 or args.int8:
        # Held-out images from the synthetic target domain (another seed than calibration: never the same images).
        holdout = load_calibration_set("synthetic", size=args.size, n=args.holdout_n, seed=10_000, split="test")
    if args.fp16:
        fp16 = convert_fp16(args.out, _sibling(args.out, "fp16"))
        print(f"wrote {fp16['path']} (FP16, {len(fp16['fp32_nodes'])} head nodes kept in FP32, {fp16['casts']} casts)")
        files["fp16"] = fp16["path"]
    if args.int8:
        quant = quantize_int8(
            args.out, _sibling(args.out, "int8"), calibration_images=calib_images, method=args.calib_method,
            percentile=args.percentile, exclude=tuple(args.exclude), max_accuracy_drop=args.max_accuracy_drop, holdout=holdout,
        )
        print(quant.summary())
        if quant.accuracy.get("within_max_drop") is False:
            print(f"warning: the INT8 AbsRel drop {quant.accuracy['relative_drop'] * 100:.2f}% exceeds --max-accuracy-drop "
                  f"{args.max_accuracy_drop * 100:.2f}%; wrote the candidate with the smallest drop")
        files["int8"] = quant.path
    if holdout is not None and holdout[1] is not None:
        print(f"accuracy on {len(holdout[0])} held-out synthetic target images (ONNX Runtime CPU):")
        print(format_precision_table(precision_table(files, holdout[0], holdout[1])))
    return files
