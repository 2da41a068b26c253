"""`edgedepth demo`: the whole flow on the built-in synthetic world, on a fresh machine.

synthetic data -> check + preview -> short training -> evaluation -> ONNX export ->
engines -> benchmark -> inference on a synthetic video -> report.md

On a CPU the engine is INT8 (ONNX Runtime, or OpenVINO where installed). On a GPU (``--device cuda``)
training runs with AMP and the fused CUDA warp kernels, ``model.engine`` is FP16 from the fastest
GPU backend present (TensorRT, else ONNX Runtime's CUDA provider, else PyTorch with CUDA graphs) and
``model.int8.engine`` is INT8 from the best INT8 backend present.

Every stage runs the same command a user would type, so the demo is also a smoke test of the CLI.
"""
from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path

from edgedepth.errors import EdgedepthError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "demo",
        help="run the whole flow on built-in synthetic data (about 10 minutes on 2 CPU cores)",
        description="Generate synthetic data, train briefly, evaluate, export to ONNX, build an INT8 engine, "
        "benchmark it and run inference on a synthetic video; writes report.md.",
    )
    p.add_argument("--out", type=Path, default=Path("runs/demo"), help="output folder (default runs/demo)")
    p.add_argument("--steps", type=int, default=None, help="training steps (default: the demo config's)")
    p.add_argument("--frames", type=int, default=48, help="frames of the synthetic video for inference (default 48)")
    p.add_argument("--threads", type=int, default=None, help="CPU threads (default: all cores)")
    p.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"),
                   help="where to train, evaluate and run the engines (default: the GPU when torch sees one)")
    p.set_defaults(func=run)


class _Stages:
    """Runs CLI commands in order, timing each; a failing command stops the demo with its name."""

    def __init__(self) -> None:
        from edgedepth.cli.main import main

        self.main = main
        self.seconds: dict[str, float] = {}

    def __call__(self, name: str, argv: list[str]) -> None:
        print(f"\n== demo: {name}: edgedepth {' '.join(argv)}", file=sys.stderr, flush=True)
        started = time.perf_counter()
        code = self.main(argv)
        self.seconds[name] = round(time.perf_counter() - started, 1)
        if code != 0:
            raise EdgedepthError(f"demo stage '{name}' failed (exit code {code})", fix="see the message above")


def write_video(path: Path, n_frames: int, size: tuple[int, int], seed: int = 7) -> Path:
    """An MJPG video of synthetic target-domain frames (a drive through successive scenes)."""
    import cv2
    import numpy as np

    from edgedepth.data import SyntheticWorld

    world = SyntheticWorld(domain="target", size=size, length=n_frames, seed=seed, views="stereo")
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10.0, (size[1], size[0]))
    if not writer.isOpened():
        raise EdgedepthError(f"cannot write the demo video '{path}'", fix="check that the output folder is writable")
    try:
        for i in range(n_frames):
            rgb = (world[i].image.permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
            writer.write(cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    finally:
        writer.release()
    return path


def _build_engines(stage: _Stages, out: Path, *, gpu: bool) -> list[Path]:
    """model.engine (and on a GPU model.int8.engine), each from the fastest backend present for it."""
    onnx = str(out / "model.onnx")
    int8 = ["--precision", "int8", "--calib", "synthetic"]
    if not gpu:
        stage("build-engine", ["build-engine", "--onnx", onnx, *int8, "--out", str(out / "model.engine")])
        return [out / "model.engine"]
    stage("build-engine", ["build-engine", "--onnx", onnx, "--precision", "fp16", "--out", str(out / "model.engine")])
    stage("build-engine int8", ["build-engine", "--onnx", onnx, *int8, "--out", str(out / "model.int8.engine")])
    return [out / "model.engine", out / "model.int8.engine"]


def run(args: argparse.Namespace) -> int:
    from edgedepth.config import load_config, packaged_config
    from edgedepth.demo_report import write_report
    from edgedepth.utils.io import ensure_writable_dir

    from edgedepth.torch_device import torch_device

    out: Path = ensure_writable_dir(args.out)
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch_device(args.device).type
    cfg_path = packaged_config("synthetic_demo")
    cfg = load_config(cfg_path)
    h, w = cfg.data.size
    size = f"{h}x{w}"
    stage = _Stages()
    started = time.perf_counter()

    # Run twice, the demo replaces its own previous outputs: every stage that refuses a non-empty output
    # folder gets --overwrite (which removes only that stage's own files); export and build-engine replace theirs.
    stage("data", ["data", "synth", "--out", str(out / "data"), "--n", "8", "--domain", "both", "--size", size, "--overwrite"])
    stage("check", ["data", "check", str(out / "data")])
    stage("preview", ["data", "preview", str(out / "data"), "--out", str(out / "preview.png"), "--domain", "target"])

    overrides = [f"train.out={out / 'train'}", "train.tensorboard=true", f"train.device={device}"]
    if args.steps:
        overrides.append(f"train.steps={args.steps}")
    stage("train", ["train", "--config", str(cfg_path), *overrides, "--overwrite"])
    shutil.copyfile(out / "train" / "model.pt", out / "model.pt")

    stage("eval", ["eval", "--checkpoint", str(out / "model.pt"), "--data", "synthetic-target", "--json", str(out / "eval.json"),
                   "--markdown", str(out / "eval.md"), "--grid", str(out / "eval_grid.png"), "--device", device])
    stage("export", ["export", "--checkpoint", str(out / "model.pt"), "--out", str(out / "model.onnx"), "--size", size, "--batch", "dynamic"])
    engines = _build_engines(stage, out, gpu=device == "cuda")
    stage("bench", ["bench", "--engine", str(engines[0]), "--compare", *map(str, engines[1:]), str(out / "model.onnx"),
                    str(out / "model.pt"), "--iterations", "30", "--warmup", "5", "--accuracy-data", "synthetic-target",
                    "--json", str(out / "bench.json"), "--markdown", str(out / "bench.md"), "--plot", str(out / "bench.png")])
    video = write_video(out / "drive.avi", args.frames, (h, w))
    stage("infer", ["infer", "--engine", str(out / "model.engine"), "--source", str(video), "--out", str(out / "infer"), "--video",
                     "--overwrite"])

    report = write_report(out, stage_seconds=stage.seconds, total_seconds=time.perf_counter() - started)
    print(f"\ndemo finished in {time.perf_counter() - started:.0f} s; report: {report}")
    print(json.dumps({k: f"{v:.0f} s" for k, v in stage.seconds.items()}))
    return 0
