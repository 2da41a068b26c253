"""`edgedepth bench --engine FILE|--onnx FILE|--checkpoint FILE [--compare FILE ...]`: latency, throughput, memory."""
from __future__ import annotations

import argparse
from pathlib import Path

from edgedepth.errors import EdgedepthError


def _batches(text: str) -> list[int]:
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"--batch wants comma-separated integers like 1,2,4, got {text!r}")
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError(f"--batch values must be >= 1, got {text!r}")
    return values


def register(sub: argparse._SubParsersAction) -> None:
    from edgedepth.backends import NAMES

    p = sub.add_parser(
        "bench",
        help="benchmark an engine, ONNX file or checkpoint (latency, throughput, memory, power)",
        description="Warm up, then time a fixed number of iterations (or a duration) at each batch size. "
        "Reports mean/std/min/p50/p90/p95/p99/max latency, throughput, peak host and device memory, the "
        "device, GPU time without copies (CUDA events) when available and power on Jetson (tegrastats). "
        "With --compare, every result gets its speed-up relative to the first model.",
    )
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--engine", type=Path, help="engine file from `edgedepth build-engine`")
    src.add_argument("--onnx", type=Path, help="ONNX file from `edgedepth export`")
    src.add_argument("--checkpoint", type=Path, help="training checkpoint (.pt), run with torch")
    p.add_argument("--compare", type=Path, nargs="+", default=[], metavar="FILE",
                   help="more engines/ONNX/checkpoints to run in the same session, compared to the first")
    p.add_argument("--batch", type=_batches, default=[1], help="batch sizes, comma-separated (default 1)")
    stop = p.add_mutually_exclusive_group()
    stop.add_argument("--iterations", type=int, default=100, help="timed calls per batch size (default 100)")
    stop.add_argument("--duration", type=float, help="seconds of timed calls per batch size (replaces --iterations)")
    p.add_argument("--warmup", type=int, default=10, help="untimed calls first (default 10)")
    p.add_argument("--threads", type=int, help="CPU threads for CPU backends (default: the backend's choice)")
    p.add_argument("--backend", default="auto", help=f"runner backend: {', '.join(NAMES)} (an engine runs on the backend that built it)")
    p.add_argument("--device", default="auto", help="auto, cpu or cuda")
    p.add_argument("--accuracy-data", metavar="NAME|DIR",
                   help="also measure AbsRel etc. on this dataset (e.g. synthetic-target) for the accuracy plot")
    p.add_argument("--accuracy-samples", type=int, default=8, help="images for --accuracy-data (default 8)")
    p.add_argument("--no-power", action="store_true", help="do not sample tegrastats on Jetson")
    p.add_argument("--json", type=Path, help="write the report as JSON")
    p.add_argument("--csv", type=Path, help="write one CSV row per model and batch")
    p.add_argument("--markdown", type=Path, help="write the Markdown table")
    p.add_argument("--plot", type=Path, metavar="OUT.png",
                   help="latency histogram; the accuracy-vs-latency plot goes next to it as OUT_accuracy.png")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from edgedepth.bench import report as rep
    from edgedepth.bench.run import run_bench
    from edgedepth.utils.io import ensure_writable_file

    targets = [args.engine or args.onnx or args.checkpoint, *args.compare]
    for path in targets:  # check before any runner is opened
        if not path.is_file():
            raise EdgedepthError(f"model file not found: {path}", fix="give an existing .engine, .onnx or .pt file")
    outputs = {"json_path": args.json, "csv_path": args.csv, "markdown_path": args.markdown, "plot_path": args.plot}
    for out in filter(None, outputs.values()):
        ensure_writable_file(out, what="report")
    if (args.iterations is not None and args.iterations < 1) or args.warmup < 0:
        raise EdgedepthError("--iterations must be >= 1 and --warmup >= 0")
    report = run_bench(
        targets, batches=args.batch, warmup=args.warmup, iterations=args.iterations, duration=args.duration,
        threads=args.threads, backend=args.backend, device=args.device, accuracy_data=args.accuracy_data,
        accuracy_samples=args.accuracy_samples, power=not args.no_power,
    )
    print(rep.to_markdown(report), end="")
    for skipped in report.get("skipped", []):
        print(f"skipped {skipped['name']} batch {skipped['batch']}: {skipped['why']}")
    for path in rep.save_all(report, **outputs):
        print(f"wrote {path}")
    return 0
