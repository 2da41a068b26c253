"""End-to-end inference FPS on a video file against engine-only FPS, measured in the same run, and the
capture-to-write latency of a live source that delivers frames faster than inference.

Goal (issue 7): the threaded pipeline (decode -> preprocess -> infer -> write PNGs) reaches at
least 0.85x the FPS of the model alone, i.e. capture, preprocessing and writing hide behind
inference. Live sources: a simulated camera at ``--live-speedup`` times the engine's FPS; the
pipeline must drop frames instead of queueing them, so latency p50/p99 stay bounded.
Writes ``<out>.json`` and ``<out>.md`` (``--only live``: the live measurement alone).

    PYTHONPATH=. python benchmarks/infer_bench.py --model model.onnx [--video clip.mp4] [--frames 60] --out benchmarks/results/infer_bench_cpu
"""
from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np

from edgedepth.bench.device import describe_device
from edgedepth.bench.report import command_line, device_line
from edgedepth.bench.timing import Timing, latency_stats, time_runner
from edgedepth.infer import Frame, MemorySink, OutputWriter, open_source, run_pipeline
from edgedepth.backends import open_runner
from edgedepth.utils.io import atomic_write_text, write_json

GOAL = 0.85


def synthetic_video(path: Path, *, frames: int, size: tuple[int, int]) -> Path:
    """A video of the built-in synthetic target world (or moving noise if the data package is missing)."""
    import cv2

    h, w = size
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 30.0, (w, h))
    try:
        from edgedepth.data import SyntheticWorld

        world = SyntheticWorld(domain="target", size=size, length=frames, seed=0, views="temporal")
        images = (np.clip(world[i].image.numpy().transpose(1, 2, 0), 0, 1) * 255 for i in range(frames))
    except ImportError:
        rng = np.random.default_rng(0)
        images = (rng.integers(0, 255, (h, w, 3)) for _ in range(frames))
    for rgb in images:
        writer.write(np.ascontiguousarray(np.asarray(rgb, np.uint8)[..., ::-1]))
    writer.release()
    return path


def _without_temp_paths(value, tmp: str):
    """The pipeline summary with this run's temporary folder written as <tmp>: results are committed."""
    if isinstance(value, dict):
        return {k: _without_temp_paths(v, tmp) for k, v in value.items()}
    if isinstance(value, list):
        return [_without_temp_paths(v, tmp) for v in value]
    return value.replace(tmp, "<tmp>") if isinstance(value, str) else value


class PacedCamera:
    """A live source like a camera at ``fps``: frame i is captured at start + i/fps whether or not the
    pipeline kept up, and its time is its capture time."""

    live = True

    def __init__(self, images: list[np.ndarray], *, fps: float, frames: int):
        self.images, self.period, self.frames = images, 1.0 / fps, frames
        self.index, self.start = 0, None
        self.description = f"simulated camera at {fps:.1f} FPS"

    def read(self):
        if self.index >= self.frames:
            return None
        self.start = self.start or time.perf_counter()
        delay = self.start + self.index * self.period - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        frame = Frame(self.index, self.images[self.index % len(self.images)], time.perf_counter())
        self.index += 1
        return frame

    def close(self) -> None:
        pass


def live_latency(runner, video: Path, *, engine_fps: float, speedup: float, frames: int, queue_size: int,
                 out: Path) -> dict:
    """Capture-to-write latency of a camera ``speedup`` times faster than the engine alone."""
    source = open_source(str(video))
    images = [f.image for f in iter(source.read, None)]
    source.close()
    camera = PacedCamera(images, fps=engine_fps * speedup, frames=frames)
    spec = runner.input_spec
    writer = OutputWriter(out, min_depth=spec.min_depth, max_depth=spec.max_depth)
    summary = run_pipeline(camera, runner, writer, queue_size=queue_size)
    return {"camera_fps": engine_fps * speedup, "speedup": speedup, "queue_size": queue_size, "captured": frames,
            "written": summary["frames"], "dropped": summary["dropped"],
            "dropped_by_stage": summary.get("dropped_by_stage"), "latency_ms": summary["latency_ms"]}


def _live_table(live: dict) -> list[str]:
    lat = live["latency_ms"]
    return [
        f"Live source: a simulated camera at {live['camera_fps']:.1f} FPS ({live['speedup']:g}x the engine alone), "
        f"{live['captured']} frames, --queue-size {live['queue_size']}.", "",
        "| written | dropped | capture-to-write p50 ms | p99 ms | max ms |", "|---|---|---|---|---|",
        f"| {live['written']} | {live['dropped']} | {lat['p50']:.1f} | {lat['p99']:.1f} | {lat['max']:.1f} |", "",
    ]


# What each end-to-end mode keeps of a frame: (name, OutputWriter options, or None for the in-memory API)
MODES = [("files: 16-bit depth PNG + colour JPEG (default)", {}),
         ("files: 16-bit depth PNG + colour PNG (--color-format png)", {"color_format": "png"}),
         ("files: 16-bit depth PNG only (--no-color)", {"color": False}),
         ("in memory (DepthStream / MemorySink)", None)]


def _sink(spec, options: dict | None, out: Path):
    return MemorySink(on_frame=lambda frame: None, queue_size=4, live=False) if options is None else \
        OutputWriter(out, min_depth=spec.min_depth, max_depth=spec.max_depth, **options)


def file_fps(runner, video: Path, *, frames: int, rounds: int, tmp: str) -> dict:
    """Engine-only and end-to-end FPS of every output mode on a video file, interleaved round by round so that
    load changes on a shared machine hit all alike; each side's FPS is its frames over its total time."""
    spec = runner.input_spec
    per_round = max(frames // rounds, 2)
    time_runner(runner, batch=1, warmup=5, iterations=1)
    engine_ms = []
    modes = {name: {"frames": 0, "seconds": 0.0, "summaries": []} for name, _ in MODES}
    for r in range(rounds):
        engine_ms += time_runner(runner, batch=1, warmup=0, iterations=per_round).host_ms
        for m, (name, options) in enumerate(MODES):
            summary = run_pipeline(open_source(str(video)), runner, _sink(spec, options, Path(tmp) / f"out{r}_{m}"),
                                   max_frames=per_round)
            modes[name]["summaries"].append(_without_temp_paths(summary, tmp))
            modes[name]["frames"] += summary["frames"] - 1
            modes[name]["seconds"] += (summary["frames"] - 1) / summary["steady_fps"]
    engine = Timing(batch=1, host_ms=engine_ms)
    result = {"frames_per_round": per_round, "rounds": rounds,
              "engine_only": {"fps": engine.throughput_fps, "latency_ms": latency_stats(engine.host_ms)}, "end_to_end": {}}
    for name, m in modes.items():
        fps, runs = m["frames"] / m["seconds"], m["summaries"]
        result["end_to_end"][name] = {
            "fps": fps, "ratio": fps / engine.throughput_fps, "dropped": sum(s["dropped"] for s in runs),
            "latency_p50_ms": float(np.median([s["latency_ms"]["p50"] for s in runs])),
            "stage_ms": {k: float(np.median([s["stage_ms"][k] for s in runs])) for k in runs[0]["stage_ms"]}}
    default = result["end_to_end"][MODES[0][0]]
    result |= {"ratio": default["ratio"], "goal": GOAL, "goal_met": default["ratio"] >= GOAL}
    return result


def _file_table(result: dict) -> list[str]:
    engine = result["engine_only"]
    lines = [
        f"Model {result['model']} ({result['backend']}/{result['precision']}, {result['input_size'][0]}x"
        f"{result['input_size'][1]}), {result['frames_per_round']} frames of a video file per mode and round, "
        f"{result['rounds']} rounds, each mode interleaved with engine-only timing.", "",
        "| measurement | FPS | vs engine only | p50 latency ms | busy ms per frame: capture / preprocess / infer / write |",
        "|---|---|---|---|---|",
        f"| engine only (batch 1) | {engine['fps']:.1f} | 1.00 | {engine['latency_ms']['p50']:.2f} | |",
    ]
    for name, e2e in result["end_to_end"].items():
        st = e2e["stage_ms"]
        lines.append(f"| end to end, {name} | {e2e['fps']:.1f} | **{e2e['ratio']:.2f}** | {e2e['latency_p50_ms']:.1f} | "
                     f"{st['capture']:.2f} / {st['preprocess']:.2f} / {st['infer']:.2f} / {st['write']:.2f} |")
    return lines + [
        "", f"Default outputs: end-to-end / engine-only = **{result['ratio']:.2f}** (goal >= {GOAL}: "
        f"{'met' if result['goal_met'] else 'NOT met'}).",
        "End-to-end FPS counts frames between the first and the last delivered frame of each run (pipeline full);",
        "latency is per frame from capture to written files (or to the caller), so it includes queueing. The busy",
        "times are medians inside the pipeline, where the stages share the cores with the engine's threads.", "",
    ]


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", type=Path, required=True, help=".engine, .onnx or .pt")
    p.add_argument("--video", type=Path, help="video file (default: a synthetic one at the model's input size)")
    p.add_argument("--frames", type=int, default=60, help="frames in all (split over the rounds)")
    p.add_argument("--rounds", type=int, default=3, help="alternations of engine-only and pipeline timing")
    p.add_argument("--only", choices=("all", "live"), default="all", help="live: the live-source latency alone")
    p.add_argument("--live-frames", type=int, default=90, help="frames the simulated camera delivers")
    p.add_argument("--live-speedup", type=float, default=1.5, help="camera FPS as a multiple of the engine's FPS")
    p.add_argument("--queue-size", type=int, default=4, help="the pipeline's --queue-size for the live run")
    p.add_argument("--threads", type=int, help="CPU threads of the runner")
    p.add_argument("--device", default="auto")
    p.add_argument("--out", type=Path, required=True, help="results path without suffix")
    args = p.parse_args(argv)

    with open_runner(args.model, device=args.device, threads=args.threads) as runner, \
            tempfile.TemporaryDirectory() as tmp:
        spec = runner.input_spec
        video = args.video or synthetic_video(Path(tmp) / "clip.mp4", frames=args.frames,
                                              size=(spec.height, spec.width))
        command = command_line(__file__, argv)
        result = {"command": command, "device": describe_device(), "model": args.model.name, "backend": runner.backend,
                  "precision": runner.precision, "input_size": [spec.height, spec.width]}
        if args.only == "all":
            result |= file_fps(runner, video, frames=args.frames, rounds=args.rounds, tmp=tmp)
        engine_fps = result["engine_only"]["fps"] if "engine_only" in result else \
            time_runner(runner, batch=1, warmup=5, iterations=20).throughput_fps
        result["live"] = live_latency(runner, video, engine_fps=engine_fps, speedup=args.live_speedup,
                                      frames=args.live_frames, queue_size=args.queue_size, out=Path(tmp) / "live")
    write_json(args.out.with_suffix(".json"), result)
    lines = [f"Device: {device_line(result['device'])}", "", f"Command: `{result['command']}`", ""]
    lines += _file_table(result) if args.only == "all" else [
        f"Model {result['model']} ({runner.backend}/{runner.precision}, {spec.height}x{spec.width}), "
        f"engine alone {engine_fps:.2f} FPS.", ""]
    atomic_write_text(args.out.with_suffix(".md"), "\n".join(lines + _live_table(result["live"])))
    print(json.dumps({k: result[k] for k in ("ratio", "goal_met") if k in result}
                     | {"live_latency_ms": {k: result["live"]["latency_ms"][k] for k in ("p50", "p99")}}))
    return result


if __name__ == "__main__":
    main()
