"""Why the adapted near range drifts with longer training, and what holds it (issue 19): dense learning curves.

    python benchmarks/da_drift.py --seeds 0 1 --jobs 2 --threads 1

Each candidate trains full_curriculum on edge_l at 64x192 with a 2,000-step cosine schedule and stops at step
1,000 (``train.max_steps_per_run``), evaluating the target test set every 125 steps, so every candidate sees the
same schedule as the 2,000-step learning curve (da_curve_edge_l.md) over the stretch where a seed's 0-10 m bin
broke there. The report lists, per candidate and seed, target AbsRel and the 0-10 m bin at every evaluation,
their means over steps 500-1,000 (one evaluation is noisy: 48 images), the loss terms per 125 steps (does any
loss see the drift?) and, for the baseline, the uniform average of its checkpoints 500-1,000 (does averaging
weights hold the near range? - the question ``train.ema`` answers during training).

Runs live in ``--runs-dir`` as <candidate>_s<seed>; a run with a summary.json is reused, not trained again.
Writes <name>.json, <name>.md and <name>.png; ``--from-json FILE`` writes them again from a finished JSON.
"""
from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

from edgedepth import __version__
from edgedepth.bench.report import command_line
from edgedepth.utils.io import atomic_write_text, write_json

BASE = [
    "data.size=[64,192]", "data.batch_size=4", "data.train_length=512", "train.tensorboard=false", "train.progress=false",
    "model.encoder=edge_l", "optim.lr=0.001", "model.semantic_channels=64", "model.disc_channels=32",
    "curriculum.enabled=true", "train.steps=2000", "train.eval_every=125", "train.ckpt_every=125", "train.keep_last=8",
]
# every candidate names all three settings it differs in, so a later change of a default does not change it
CANDIDATES = {
    "full": ["train.ema=0", "data.views=stereo", "loss.view_fallback=false"],
    "nosmooth": ["train.ema=0", "data.views=stereo", "loss.view_fallback=false", "loss.smooth=0"],
    "fb": ["train.ema=0", "data.views=both", "loss.view_fallback=true"],
    "ema995": ["train.ema=0.995", "data.views=stereo", "loss.view_fallback=false"],
    "emafb": ["train.ema=0.995", "data.views=both", "loss.view_fallback=true"],
}
LABELS = {
    "full": "the previous recipe (last step's weights, stereo view)",
    "nosmooth": "same, smoothness term off",
    "fb": "stereo + temporal views, temporal as fallback",
    "ema995": "weight average, decay 0.995",
    "emafb": "weight average + temporal fallback (kept)",
}
BINS = ["0-10", "10-20", "20-40", "40-80"]
LOSSES = ["depth", "cycle", "seg", "adv", "disc"]
WINDOW = (500, 1000)


def run_dir(args, name: str, seed: int) -> Path:
    return Path(args.runs_dir) / f"{name}_s{seed}"


def train_one(args, name: str, seed: int) -> str:
    out = run_dir(args, name, seed)
    if (out / "summary.json").is_file():
        return f"{name}_s{seed}: reused"
    import torch

    from edgedepth.config import load_config
    from edgedepth.train import train

    torch.set_num_threads(args.threads)
    train(load_config(None, BASE + CANDIDATES[name] + [
        f"data.test_length={args.test_length}", f"data.seed={seed}", f"train.seed={seed}",
        f"train.max_steps_per_run={args.stop_at}", f"train.out={out}"]))
    return f"{name}_s{seed}: trained"


def target_metrics(net, run: Path) -> dict:
    """Target AbsRel and per-bin AbsRel of ``net`` on the target test set of the run in ``run`` (its config.yaml),
    evaluated as the training loop evaluates."""
    import torch

    from edgedepth.config import load_config
    from edgedepth.eval import evaluate
    from edgedepth.train.data import dataset_for

    cfg = load_config(str(run / "config.yaml"), [])
    with torch.no_grad():
        result = evaluate(lambda x: net.predict_depth(x), dataset_for(cfg, "target", "test"), batch_size=cfg.data.batch_size,
                          max_depth=cfg.model.max_depth, progress=False)
    return {"abs_rel": float(result["metrics"]["abs_rel"]), "bins": {b: float(v["abs_rel"]) for b, v in result["bins"].items() if v}}


def averaged_checkpoints(args, seed: int) -> dict | None:
    """Target AbsRel and bins of the uniform average of the baseline's checkpoints in WINDOW (steps every 125)."""
    from edgedepth.checkpoint import load_checkpoint, load_depth_net

    folder = run_dir(args, "full", seed) / "checkpoints"
    paths = [folder / f"step_{s:07d}.pt" for s in range(WINDOW[0], WINDOW[1] + 1, 125)]
    if not all(p.is_file() for p in paths):
        return None
    states = [load_checkpoint(p)["models"]["depth"] for p in paths]
    average = {k: sum(s[k].float() for s in states) / len(states) if states[0][k].is_floating_point() else states[-1][k]
               for k in states[0]}
    net, _ = load_depth_net(paths[-1])
    net.load_state_dict(average)
    return {"steps": [int(p.stem.split("_")[1]) for p in paths], **target_metrics(net, run_dir(args, "full", seed))}


def complete_curve(args, out: Path, curve: list[dict]) -> list[dict]:
    """``curve`` with every 125-step evaluation up to ``--stop-at``: a run resumed before edgedepth kept the curve in
    its checkpoints listed only the evaluations after the resume; the missing ones are evaluated again from the
    run's checkpoints (the weights the run evaluated then: its weight average where it kept one) and marked."""
    have = {p["step"] for p in curve}
    missing = [s for s in range(125, args.stop_at + 1, 125) if s not in have and (out / "checkpoints" / f"step_{s:07d}.pt").is_file()]
    if not missing:
        return curve
    from edgedepth.checkpoint import load_depth_net

    points = list(curve)
    for step in missing:
        net, _ = load_depth_net(out / "checkpoints" / f"step_{step:07d}.pt")
        points.append({"step": step, "train_seconds": None, **target_metrics(net, out), "reconstructed": True})
    return sorted(points, key=lambda p: p["step"])


def collect(args) -> dict:
    todo = [(n, s) for n in args.candidates for s in args.seeds]
    with ProcessPoolExecutor(max_workers=args.jobs, mp_context=get_context("spawn")) as pool:
        for line in pool.map(train_one, [args] * len(todo), [n for n, _ in todo], [s for _, s in todo]):
            print(line, flush=True)
    runs = {}
    for n, s in todo:
        out = run_dir(args, n, s)
        summary = json.loads((out / "summary.json").read_text())
        history = json.loads((out / "history.json").read_text())
        terms = []
        for lo in range(0, args.stop_at, 125):
            rows = [h for h in history if lo <= h["step"] < lo + 125]
            terms.append({"from": lo, **{k: sum(h.get(k, 0.0) for h in rows) / max(1, len(rows)) for k in LOSSES + ["pool"]}})
        runs[f"{n}_s{s}"] = {"candidate": n, "seed": s, "curve": complete_curve(args, out, summary["curve"]), "losses": terms,
                             "train_seconds": summary["curve"][-1]["train_seconds"]}
    return runs


def window_mean(curve: list[dict], key: str) -> float:
    points = [p for p in curve if WINDOW[0] <= p["step"] <= WINDOW[1]]
    return sum(p["abs_rel"] if key == "abs_rel" else p["bins"][key] for p in points) / len(points)


def markdown(data: dict) -> str:
    runs, meta = data["runs"], data["meta"]
    seeds, cands = meta["seeds"], meta["candidates"]
    lines = ["# Near-range drift: dense learning curves of the adapted edge_l (issue 19)", "",
             f"full_curriculum on edge_l, 64×192, batch 4, a 2,000-step cosine schedule stopped at step {meta['stop_at']}, "
             f"target test set ({meta['test_length']} images per seed) every 125 steps; seeds {seeds}. "
             f"Means are over the evaluations at steps {WINDOW[0]}–{WINDOW[1]}.", "",
             "| candidate | seed | target AbsRel, mean | 0-10 m, mean | 10-20 m | 20-40 m | 40-80 m | AbsRel at 1,000 | 0-10 m at 1,000 | train s |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for n in cands:
        for s in seeds:
            r = runs[f"{n}_s{s}"]
            last = r["curve"][-1]
            lines.append(f"| {LABELS[n]} | {s} | {window_mean(r['curve'], 'abs_rel'):.3f} | "
                         + " | ".join(f"{window_mean(r['curve'], b):.3f}" for b in BINS)
                         + f" | {last['abs_rel']:.3f} | {last['bins']['0-10']:.3f} | {r['train_seconds']:.0f} |")
        mean = lambda key: sum(window_mean(runs[f"{n}_s{s}"]["curve"], key) for s in seeds) / len(seeds)  # noqa: E731
        lines.append(f"| **{LABELS[n]}** | mean | **{mean('abs_rel'):.3f}** | **{mean('0-10'):.3f}** | "
                     + " | ".join(f"{mean(b):.3f}" for b in BINS[1:]) + " | | | |")
    lines += ["", "Every evaluation (target AbsRel / 0-10 m AbsRel):", "",
              "| candidate | seed | " + " | ".join(str(p["step"]) for p in runs[f"{cands[0]}_s{seeds[0]}"]["curve"]) + " |",
              "|---|---|" + "---|" * len(runs[f"{cands[0]}_s{seeds[0]}"]["curve"])]
    for n in cands:
        for s in seeds:
            lines.append(f"| {n} | {s} | " + " | ".join(f"{p['abs_rel']:.3f} / {p['bins']['0-10']:.3f}" for p in runs[f"{n}_s{s}"]["curve"]) + " |")
    if "full" in cands:
        lines += ["", "Loss terms of the baseline per 125 steps (mean; pool: target images the curriculum draws from):", "",
                  "| seed | steps | " + " | ".join(LOSSES) + " | pool |", "|---|---|" + "---|" * (len(LOSSES) + 1)]
        for s in seeds:
            for t in runs[f"full_s{s}"]["losses"]:
                lines.append(f"| {s} | {t['from']}–{t['from'] + 124} | " + " | ".join(f"{t[k]:.4f}" for k in LOSSES) + f" | {t['pool']:.0f} |")
        if data.get("averaged"):
            lines += ["", f"The baseline's checkpoints of steps {WINDOW[0]}–{WINDOW[1]} averaged uniformly after training:", "",
                      "| seed | last step: AbsRel / 0-10 m | averaged: AbsRel / 0-10 m |", "|---|---|---|"]
            for s, a in data["averaged"].items():
                last = runs[f"full_s{s}"]["curve"][-1]
                lines.append(f"| {s} | {last['abs_rel']:.3f} / {last['bins']['0-10']:.3f} | {a['abs_rel']:.3f} / {a['bins']['0-10']:.3f} |")
    lines += ["", f"![target AbsRel and the 0-10 m bin by step]({meta.get('name', 'da_drift')}.png)", "", "## What the curves say (generated)", ""] + analysis(data) + [
        "", f"Machine: {meta['machine']}; {meta['jobs']} processes × {meta['threads']} threads; torch {meta['torch']}, "
        f"edgedepth {meta['edgedepth']}.", "", f"Command: `{meta['command']}`"]
    if meta.get("note"):
        lines += ["", meta["note"]]
    return "\n".join(lines) + "\n"


def analysis(data: dict) -> list[str]:
    runs, seeds, cands = data["runs"], data["meta"]["seeds"], data["meta"]["candidates"]
    out = []
    if "full" not in cands:
        return out
    for n in cands:
        if n == "full":
            continue
        per_seed = [window_mean(runs[f"{n}_s{s}"]["curve"], "abs_rel") / window_mean(runs[f"full_s{s}"]["curve"], "abs_rel") - 1
                    for s in seeds]
        near = [window_mean(runs[f"{n}_s{s}"]["curve"], "0-10") / window_mean(runs[f"full_s{s}"]["curve"], "0-10") - 1 for s in seeds]
        verdict = "better on every seed" if all(v < 0 for v in per_seed) else "worse on every seed" if all(v > 0 for v in per_seed) else "mixed"
        out.append(f"- {LABELS[n]} against the previous recipe, steps {WINDOW[0]}–{WINDOW[1]}: target AbsRel "
                   + ", ".join(f"{v:+.1%}" for v in per_seed) + " per seed, 0-10 m " + ", ".join(f"{v:+.1%}" for v in near)
                   + f" ({verdict}).")
    spread = [max(p["bins"]["0-10"] for p in runs[f"full_s{s}"]["curve"] if p["step"] >= WINDOW[0])
              - min(p["bins"]["0-10"] for p in runs[f"full_s{s}"]["curve"] if p["step"] >= WINDOW[0]) for s in seeds]
    out.append("- The baseline's 0-10 m bin spans " + ", ".join(f"{v:.3f}" for v in spread)
               + f" (max - min over the evaluations of steps {WINDOW[0]}–{WINDOW[1]}, per seed).")
    if len(seeds) > 1:
        def term(s, k):  # the last 125 steps before the last evaluation
            return runs[f"full_s{s}"]["losses"][-1][k]
        gaps = {k: max(term(s, k) for s in seeds) / min(term(s, k) for s in seeds) - 1 for k in LOSSES if min(term(s, k) for s in seeds) > 0}
        worst = max(gaps, key=gaps.get)
        near = [runs[f"full_s{s}"]["curve"][-1]["bins"]["0-10"] for s in seeds]
        step = runs[f"full_s{seeds[0]}"]["curve"][-1]["step"]
        out.append(f"- At step {step} the baseline's seeds differ by {max(near) / min(near) - 1:.0%} in the 0-10 m bin "
                   f"({', '.join(f'{v:.3f}' for v in near)}), while their loss terms over the 125 steps before differ by at most "
                   f"{gaps[worst]:.1%} ({worst}; " + ", ".join(f"{k} {v:.1%}" for k, v in gaps.items() if k != worst)
                   + "): the losses do not see the drift.")
    return out


def plot(data: dict, path: Path) -> None:
    """Target AbsRel and the 0-10 m bin against the step, one line per candidate (mean of the seeds), each seed faint."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    runs, seeds, cands = data["runs"], data["meta"]["seeds"], data["meta"]["candidates"]
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.8), sharex=True)
    for i, n in enumerate(cands):
        curves = [runs[f"{n}_s{s}"]["curve"] for s in seeds]
        steps = [p["step"] for p in curves[0]]
        for ax, pick in zip(axes, (lambda p: p["abs_rel"], lambda p: p["bins"]["0-10"])):
            for c in curves:
                ax.plot(steps, [pick(p) for p in c], color=f"C{i}", alpha=0.25, linewidth=0.8)
            ax.plot(steps, [sum(pick(c[j]) for c in curves) / len(curves) for j in range(len(steps))], color=f"C{i}",
                    marker="o", markersize=3, label=LABELS[n])
    for ax, label in zip(axes, ("target AbsRel", "target AbsRel, 0-10 m")):
        ax.axvspan(*WINDOW, color="#dddddd", alpha=0.4, linewidth=0)
        ax.set_xlabel("training step (of a 2,000-step schedule)")
        ax.set_ylabel(label)
    axes[0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    p.add_argument("--candidates", nargs="+", choices=list(CANDIDATES), default=list(CANDIDATES))
    p.add_argument("--stop-at", type=int, default=1000)
    p.add_argument("--test-length", type=int, default=48)
    p.add_argument("--jobs", type=int, default=2)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--runs-dir", default="runs/diag")
    p.add_argument("--out", type=Path, default=Path("benchmarks/results"))
    p.add_argument("--name", default="da_drift")
    p.add_argument("--note")
    p.add_argument("--from-json", type=Path, metavar="FILE", help="write the report and plot again from a finished JSON")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.from_json:
        data = json.loads(args.from_json.read_text())
        return _write(data, args.out, data["meta"].get("name", args.name))
    started = time.perf_counter()
    runs = collect(args)
    averaged = {s: a for s in args.seeds if "full" in args.candidates and (a := averaged_checkpoints(args, s))}
    import torch

    from edgedepth.device import cpu_model

    meta = {"seeds": args.seeds, "candidates": args.candidates, "stop_at": args.stop_at, "test_length": args.test_length,
            "jobs": args.jobs, "threads": args.threads, "base": BASE, "overrides": {n: CANDIDATES[n] for n in args.candidates},
            "machine": f"{cpu_model()} ({platform.system()})", "torch": torch.__version__, "edgedepth": __version__,
            "hours": (time.perf_counter() - started) / 3600,
            "command": command_line(__file__, argv),
            **({"note": args.note} if args.note else {})}
    data = {"runs": runs, "averaged": averaged, "meta": {**meta, "name": args.name}}
    return _write(data, args.out, args.name)


def _write(data: dict, out: Path, name: str) -> int:
    write_json(out / f"{name}.json", data)
    plot(data, out / f"{name}.png")
    atomic_write_text(out / f"{name}.md", markdown(data))
    print((out / f"{name}.md").read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
