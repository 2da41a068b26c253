"""`edgedepth infer --engine FILE --source SRC --out DIR`: depth from a camera, stream, video or image folder."""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from edgedepth.errors import EdgedepthError


def register(sub: argparse._SubParsersAction) -> None:
    from edgedepth.backends import NAMES

    p = sub.add_parser(
        "infer",
        help="run a model on a camera, RTSP stream, video file or image folder",
        description="Capture, preprocess, infer and write in parallel threads. Writes DIR/depth/000000.png... "
        "(16-bit, millimetres), colourised JPEGs in DIR/color/, optionally DIR/depth.mp4 and PLY point clouds (each "
        "output can be switched off; a robot that needs depth in memory uses the Python API edgedepth.infer.DepthStream), "
        "and DIR/summary.json (frames, drops, skipped frames, FPS, latency percentiles). Outputs are numbered by "
        "the input frame (its place in a folder, its number in a video), so a skipped or dropped frame leaves a gap. "
        "Live sources drop the oldest frame at every stage when inference falls behind and inference always starts "
        "on the newest frame, so latency stays bounded; "
        "files drop none. An image that cannot be decoded is skipped with a warning (--strict stops instead). "
        "A stream retries its first connection, and any live source a lost one, with back-off for --connect-timeout "
        "seconds. Ctrl+C (or SIGTERM) stops and finalises the files; a second Ctrl+C stops without finishing the "
        "queued frames.",
    )
    p.add_argument("--engine", type=Path, required=True, metavar="FILE",
                   help="model: .engine (build-engine), .onnx (export) or .pt checkpoint")
    p.add_argument("--source", required=True,
                   help="camera index (0), /dev/videoN, csi://N (Jetson CSI), a GStreamer pipeline, rtsp://..., "
                   "a video file or a folder of images")
    p.add_argument("--out", type=Path, required=True, metavar="DIR",
                   help="output folder (created; must be empty unless --overwrite)")
    p.add_argument("--overwrite", action="store_true",
                   help="replace the outputs of a previous run in DIR (other files there are never removed)")
    p.add_argument("--strict", action="store_true", help="stop at an input image that cannot be decoded instead of skipping it")
    p.add_argument("--video", action="store_true", help="also write the colourised frames as DIR/depth.mp4")
    p.add_argument("--no-depth", action="store_true", help="no 16-bit depth PNGs (e.g. only the video, or only summary.json)")
    p.add_argument("--no-color", action="store_true", help="no colourised previews (16-bit depth only)")
    p.add_argument("--color-format", choices=["jpg", "png"], default="jpg",
                   help="format of the colourised previews (default jpg, 0.2 ms a frame at 192x640; png: lossless, 1.1 ms)")
    p.add_argument("--side-by-side", action="store_true",
                   help="colour outputs show the input next to the depth, with an FPS/latency overlay")
    p.add_argument("--ply", action="store_true", help="write a coloured point cloud per frame (DIR/ply/)")
    for k in ("fx", "fy", "cx", "cy"):
        p.add_argument(f"--{k}", type=float, help=f"camera intrinsic {k} in pixels of the source frames (for --ply)")
    p.add_argument("--max-frames", type=int, help="stop after N frames")
    p.add_argument("--fps", type=float, default=30.0, help="frame rate written into the MP4 (default 30)")
    p.add_argument("--queue-size", type=int, default=4,
                   help="frames buffered between stages for a file, and before writing for a live source, which "
                   "keeps only its newest frame in front of preprocessing and inference (default 4)")
    p.add_argument("--connect-timeout", type=float, default=15.0, metavar="S",
                   help="seconds a stream keeps retrying its first connection, and a live source a lost one, "
                   "with back-off 0.5, 1, 2 ... 8 s (default 15)")
    p.add_argument("--read-timeout", type=float, default=5.0, metavar="S",
                   help="a stream that answers nothing for this long (opening or between frames) counts as lost (default 5)")
    p.add_argument("--backend", default="auto", help=f"runner backend: {', '.join(NAMES)} (an engine runs on the backend that built it)")
    p.add_argument("--device", default="auto", help="auto, cpu or cuda")
    p.add_argument("--threads", type=int, help="CPU threads for CPU backends")
    p.set_defaults(func=run)


def _intrinsics(args: argparse.Namespace):
    from edgedepth.infer.outputs import Intrinsics

    given = [getattr(args, k) for k in ("fx", "fy", "cx", "cy")]
    if all(v is None for v in given):
        return None
    if any(v is None for v in given):
        raise EdgedepthError("--fx, --fy, --cx and --cy go together", fix="give all four, or none to assume KITTI-like")
    return Intrinsics(*given)


def run(args: argparse.Namespace) -> int:
    from edgedepth.backends import open_runner
    from edgedepth.infer import OutputWriter, open_source, run_pipeline
    from edgedepth.infer.outputs import OUTPUT_NAMES
    from edgedepth.utils.interrupts import sigterm_as_interrupt
    from edgedepth.utils.io import claim_output_dir

    # Everything that can be wrong is checked before the first frame: output, intrinsics, source, model.
    intrinsics = _intrinsics(args)
    if args.max_frames is not None and args.max_frames < 1:
        raise EdgedepthError(f"--max-frames must be >= 1, got {args.max_frames}")
    if args.queue_size < 1:
        raise EdgedepthError(f"--queue-size must be >= 1, got {args.queue_size}")
    claim_output_dir(args.out, owned=OUTPUT_NAMES, overwrite=args.overwrite)
    source = open_source(args.source, connect_timeout_s=args.connect_timeout, read_timeout_s=args.read_timeout)
    try:
        with sigterm_as_interrupt(), \
                open_runner(args.engine, backend=args.backend, device=args.device, threads=args.threads) as runner:
            spec = runner.input_spec
            writer = OutputWriter(args.out, min_depth=spec.min_depth, max_depth=spec.max_depth, depth=not args.no_depth,
                                  color=not args.no_color, color_format=args.color_format, video=args.video,
                                  side_by_side=args.side_by_side,
                                  ply=args.ply, intrinsics=intrinsics, fps=args.fps)
            summary = run_pipeline(source, runner, writer, max_frames=args.max_frames, queue_size=args.queue_size,
                                   overlay=args.side_by_side, strict=args.strict)
    finally:
        source.close()
    keys = ("frames", "dropped", "skipped", "fps", "infer_only_fps")
    print(json.dumps({k: summary[k] for k in keys} | {"latency_p50_ms": summary["latency_ms"]["p50"],
                                                       "summary": str(args.out / "summary.json")}, indent=2))
    return 0
