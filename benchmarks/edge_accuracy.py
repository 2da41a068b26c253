"""Accuracy at equal cost: the edge networks against ResNet-18 on the synthetic source -> target task.

    python benchmarks/edge_accuracy.py --seeds 0 1 2 --warm-start 300 --steps 200 --jobs 2 --threads 1 \\
        [--reuse resnet18=benchmarks/results/da_ablation.json --reuse edge_l=benchmarks/results/da_ablation_edge_l.json]

For every network (its own learning rate, NETS) and seed, benchmarks/da_ablation.py trains source_only,
full_curriculum and oracle with one budget:

- **equal steps**: every network gets ``--warm-start`` + ``--steps`` steps;
- **equal time**: every network gets the wall-clock time ResNet-18 trains for: its step counts are scaled
  by the ratio of training seconds per step, measured first in interleaved rounds (every network trains
  ``--timing-steps`` full-method steps per round, one after the other, ``--threads`` threads), so that other
  load on the machine falls on all networks alike.

Rows of a network already measured at equal steps with the same budget come from ``--reuse`` (a
da_ablation JSON). Then each edge network's full_curriculum checkpoints are exported at the training
size and quantized (INT8 Q/DQ, min-max, as `build-engine --calib synthetic`), and FP32 and INT8 ONNX
Runtime are scored on the same held-out target images. Goals (issue 18): edge_l within 5 % of
ResNet-18's target AbsRel at equal steps and better at equal time; INT8 within 1 % of FP32.
Writes OUT.json, OUT.md and OUT.png (default benchmarks/results/edge_accuracy).
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import da_ablation  # noqa: E402  (benchmarks/ is the script's folder)
import da_report  # noqa: E402

BASELINE = "resnet18"
# Each network with the learning rate measured best for it at 300 steps, seed 0 (target AbsRel): ResNet-18
# 0.219 at 3e-4, 0.299 at 1e-3; edge_l 0.229 at 1e-3, 0.236 at 2e-3, 0.416 at 3e-4; edge_s 0.236 / 0.239 / 0.397.
NETS = {"resnet18": ["model.encoder=resnet18", "optim.lr=0.0003"],
        "edge_s": ["model.encoder=edge_s", "optim.lr=0.001"],
        "edge_l": ["model.encoder=edge_l", "optim.lr=0.001"]}
VARIANTS = ["source_only", "full_curriculum", "oracle"]
GOAL_EQUAL_STEPS, GOAL_INT8 = 0.05, 0.01


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--nets", nargs="+", default=list(NETS), choices=list(NETS))
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--warm-start", type=int, default=300)
    p.add_argument("--steps", type=int, default=200)
    p.add_argument("--jobs", type=int, default=2)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--reuse", action="append", default=[], metavar="NET=JSON", help="equal-steps rows from a da_ablation JSON")
    p.add_argument("--runs-dir", default="runs/edge_accuracy")
    p.add_argument("--out", type=Path, default=Path("benchmarks/results/edge_accuracy"))
    p.add_argument("--int8-images", type=int, default=48, help="held-out target images for FP32 vs INT8")
    p.add_argument("--timing-steps", type=int, default=40, help="full-method steps per network and round of the time-per-step measurement")
    p.add_argument("--timing-rounds", type=int, default=3)
    p.add_argument("--from-json", type=Path, metavar="FILE", help="write the report again from a finished run's JSON, training nothing")
    return p.parse_args(argv)


def ablation(args, net: str, budget: str, warm: int, steps: int, runs_dir: str) -> dict:
    """Train (or resume) the three variants of ``net`` with this budget; the da_ablation JSON it wrote."""
    name = f"edge_accuracy_{net}_{budget}"
    out = args.out.parent / "edge_accuracy_runs"
    argv = ["--warm-start", str(warm), "--steps", str(steps), "--seeds", *map(str, args.seeds), "--variants", *VARIANTS,
            "--jobs", str(args.jobs), "--threads", str(args.threads), "--runs-dir", runs_dir, "--out", str(out),
            "--name", name, "--test-length", "48", *NETS[net]]
    done = out / f"{name}.json"
    if done.is_file() and not (out / f"{name}.partial.json").is_file():  # finished before: keep it if the budget is this one
        saved = json.loads(done.read_text())
        meta = saved["meta"]
        if (meta["warm_start"], meta["steps"], meta["seeds"], meta["overrides"]) == (warm, steps, args.seeds, NETS[net]):
            return saved
    da_ablation.main(argv)
    return json.loads(done.read_text())


def _steps(n: float) -> int:
    """A scaled step count, rounded to tens (at least 10)."""
    return max(10, int(round(n, -1)))


def _reused(path: str, args) -> dict | None:
    saved = json.loads(Path(path).read_text())
    meta = saved["meta"]
    if (meta["warm_start"], meta["steps"]) != (args.warm_start, args.steps) or not set(args.seeds) <= set(meta["seeds"]):
        raise SystemExit(f"--reuse {path}: its budget ({meta['warm_start']} + {meta['steps']}, seeds {meta['seeds']}) is not this one")
    return saved


def _timed_steps(net: str, steps: int, threads: int, out: str) -> float:
    done = Path(out) / "summary.json"
    if done.is_file():  # a resumed run keeps the step times its budgets were derived from
        summary = json.loads(done.read_text())
        if summary.get("steps") == steps:
            return summary["seconds"] / steps
    summary = da_ablation._train(da_ablation.base_overrides(_timing_args(), 0) + da_ablation.VARIANTS["full_curriculum"]
                                 + NETS[net] + [f"train.steps={steps}", f"train.out={out}", "train.eval_every=0"], threads)
    return summary["seconds"] / steps


def _timing_args() -> argparse.Namespace:
    return argparse.Namespace(size=(64, 192), batch_size=4, train_length=512, test_length=8, overrides=[])


def measure_step_times(nets, *, steps: int, rounds: int, threads: int, runs_dir: str) -> dict:
    """net -> median training seconds per full-method step over interleaved rounds (each run in its own process)."""
    from concurrent.futures import ProcessPoolExecutor
    from multiprocessing import get_context

    times: dict[str, list[float]] = {n: [] for n in nets}
    with ProcessPoolExecutor(max_workers=1, mp_context=get_context("spawn")) as pool:
        for r in range(rounds):
            for net in nets[r % len(nets):] + nets[:r % len(nets)]:
                times[net].append(pool.submit(_timed_steps, net, steps, threads, f"{runs_dir}/timing_{net}_{r}").result())
    return {n: {"seconds_per_step": statistics.median(t), "rounds": t} for n, t in times.items()}


def seconds_per_step(saved: dict) -> float:
    """Training seconds per step of the full_curriculum runs (the training loop alone: no start-up, no evaluation)."""
    rows = [r for r in saved["runs"] if r["variant"] == "full_curriculum" and not r.get("unseen")]
    return statistics.mean(r.get("train_seconds", r["seconds"]) for r in rows) / saved["meta"]["steps"]


def int8_accuracy(runs_dir: str, seeds, images: int) -> list[dict]:
    """FP32 and INT8 ONNX Runtime AbsRel of each seed's full_curriculum model on held-out target images."""
    import tempfile

    from edgedepth.checkpoint import load_depth_net
    from edgedepth.export import export_onnx
    from edgedepth.export.calibration import load_calibration_set
    from edgedepth.export.quantize import quantize_int8
    from edgedepth.export.verify import depth_accuracy, ort_session, run_onnx

    rows = []
    for seed in seeds:
        run = Path(runs_dir) / f"full_curriculum_s{seed}"
        net, _ = load_depth_net(run / "model.pt")
        size = _training_size(run)
        calib, _ = load_calibration_set("synthetic", size=size, n=32, seed=0)
        test, gt = load_calibration_set("synthetic", size=size, n=images, seed=10_000, split="test")
        with tempfile.TemporaryDirectory() as tmp:
            fp32, int8 = Path(tmp) / "m.onnx", Path(tmp) / "m.int8.onnx"
            export_onnx(net, fp32, size=size, batch="dynamic")
            quantize_int8(fp32, int8, calibration_images=calib, method="minmax")
            a32, a8 = (depth_accuracy(run_onnx(ort_session(p), test), gt)["abs_rel"] for p in (fp32, int8))
        rows.append({"seed": seed, "fp32_abs_rel": a32, "int8_abs_rel": a8, "int8_vs_fp32": a8 / a32 - 1})
    return rows


def _training_size(run: Path) -> tuple[int, int]:
    from edgedepth.config import load_config

    return tuple(load_config(run / "config.yaml", []).data.size)


def net_row(saved: dict) -> dict:
    table = da_report.summarise([r for r in saved["runs"] if not r.get("unseen")], VARIANTS)
    full = table["full_curriculum"]
    meta = saved["meta"]
    return {"steps": meta["warm_start"] + meta["steps"], "seconds_per_step": seconds_per_step(saved),
            "abs_rel": full["abs_rel"], "gap_closed": full["gap_closed"], "bins": full["bins"],
            "boundary_abs_rel": full["boundary_abs_rel"], "source_only": table["source_only"]["abs_rel"],
            "oracle": table["oracle"]["abs_rel"], "per_seed": {r["seed"]: r["abs_rel"] for r in saved["runs"]
                                                                if r["variant"] == "full_curriculum" and not r.get("unseen")}}


def main(argv=None) -> int:
    from edgedepth.bench.report import command_line

    args = parse_args(argv)
    if args.from_json:
        return write_report(json.loads(args.from_json.read_text()), args.out)
    reuse = dict(item.split("=", 1) for item in args.reuse)
    equal_steps = {}
    for net in args.nets:
        equal_steps[net] = _reused(reuse[net], args) if net in reuse else ablation(
            args, net, "steps", args.warm_start, args.steps, f"{args.runs_dir}/{net}_steps")
    timing = measure_step_times(args.nets, steps=args.timing_steps, rounds=args.timing_rounds, threads=args.threads,
                                runs_dir=args.runs_dir)
    base = timing[BASELINE]["seconds_per_step"]
    equal_time = {BASELINE: equal_steps[BASELINE]}
    for net in args.nets:
        if net != BASELINE:
            k = base / timing[net]["seconds_per_step"]
            equal_time[net] = ablation(args, net, "time", _steps(args.warm_start * k), _steps(args.steps * k),
                                       f"{args.runs_dir}/{net}_time")
    result = {"seeds": args.seeds, "budget": {"warm_start": args.warm_start, "steps": args.steps}, "step_times": timing,
              "equal_steps": {n: net_row(s) for n, s in equal_steps.items()},
              "equal_time": {n: net_row(s) for n, s in equal_time.items()},
              "int8": {f"{n} at equal {b}": int8_accuracy(saved["meta"]["runs_dir"], args.seeds, args.int8_images)
                       for b, group in (("steps", equal_steps), ("time", equal_time)) for n, saved in group.items() if n != BASELINE},
              "machine": equal_steps[BASELINE]["meta"]["machine"], "parallel": f"{args.jobs} processes × {args.threads} threads",
              "versions": {k: equal_steps[BASELINE]["meta"].get(k) for k in ("torch", "edgedepth")}, "command": command_line(__file__, argv)}
    return write_report(result, args.out)


def write_report(result: dict, out: Path) -> int:
    """OUT.json, OUT.md and OUT.png from a result (the goals judged again)."""
    from edgedepth.utils.io import atomic_write_text, write_json

    result["goals"] = goals(result)
    write_json(out.with_suffix(".json"), result)
    atomic_write_text(out.with_suffix(".md"), markdown(result, out.name + ".png"))
    plot(result, out.with_suffix(".png"))
    print(out.with_suffix(".md").read_text())
    return 0


def goals(r: dict) -> dict:
    out = {}
    steps, time_ = r["equal_steps"], r["equal_time"]
    if "edge_l" in steps:
        rel = steps["edge_l"]["abs_rel"][0] / steps[BASELINE]["abs_rel"][0] - 1
        out["edge_l within 5% of resnet18 at equal steps"] = {"value": rel, "met": rel <= GOAL_EQUAL_STEPS,
                                                               "per_seed": _paired(steps["edge_l"], steps[BASELINE])}
        rel_t = time_["edge_l"]["abs_rel"][0] / time_[BASELINE]["abs_rel"][0] - 1
        out["edge_l better than resnet18 at equal time"] = {"value": rel_t, "met": rel_t < 0,
                                                             "per_seed": _paired(time_["edge_l"], time_[BASELINE])}
    for name, rows in r["int8"].items():
        worst = max(abs(x["int8_vs_fp32"]) for x in rows)
        out[f"{name}: INT8 within 1% of FP32 (worst seed)"] = {"value": worst, "met": worst <= GOAL_INT8}
    return out


def _paired(row: dict, base: dict) -> dict:
    """Seed -> relative AbsRel difference to the baseline on the same seed (same data and initialisation seed)."""
    return {str(k): v / base["per_seed"][k] - 1 for k, v in sorted(row["per_seed"].items()) if k in base["per_seed"]}


def markdown(r: dict, plot_name: str) -> str:
    fmt = lambda t: f"{t[0]:.4f} ± {t[1]:.4f}"  # noqa: E731
    lines = ["# Accuracy at equal cost: edge networks vs ResNet-18 (synthetic source → target)", "",
             f"Seeds {r['seeds']}, mean ± std; full_curriculum (the whole method) against each network's own source_only and "
             f"oracle of the same budget (gap closed). Equal steps: {r['budget']['warm_start']} source-only warm-start steps + "
             f"{r['budget']['steps']} per variant; equal time: each network's step counts scaled by ResNet-18's training seconds "
             "per step over its own, measured in interleaved rounds: "
             + ", ".join(f"{n} {t['seconds_per_step']:.3f} s/step" for n, t in r["step_times"].items())
             + " (the s/step columns below are the ablation runs' own, two runs sharing the cores).", ""]
    for title, key in (("Equal steps", "equal_steps"), ("Equal wall-clock time", "equal_time")):
        rows = r[key]
        bins = list(next(iter(rows.values()))["bins"])
        lines += [f"## {title}", "", "| network | steps | s/step | target AbsRel | gap closed | " + " | ".join(f"{b} m" for b in bins)
                  + " | boundary AbsRel | source_only | oracle |", "|---|---|---|---|---|" + "---|" * len(bins) + "---|---|---|"]
        for net, row in rows.items():
            g = row["gap_closed"]
            lines.append(f"| {net} | {row['steps']} | {row['seconds_per_step']:.2f} | {fmt(row['abs_rel'])} | {g[0]:.1%} ± {g[1]:.1%} | "
                         + " | ".join(f"{row['bins'][b][0]:.4f}" for b in bins)
                         + f" | {row['boundary_abs_rel'][0]:.4f} | {row['source_only'][0]:.4f} | {row['oracle'][0]:.4f} |")
        lines.append("")
    lines += ["## INT8 (post-training quantization) vs FP32, ONNX Runtime, same held-out target images", "",
              "| model | seed | FP32 AbsRel | INT8 AbsRel | INT8 vs FP32 |", "|---|---|---|---|---|"]
    for name, rows in r["int8"].items():
        lines += [f"| {name} | {x['seed']} | {x['fp32_abs_rel']:.4f} | {x['int8_abs_rel']:.4f} | {x['int8_vs_fp32']:+.2%} |" for x in rows]
    lines += ["", "## Goals (generated)", ""]
    lines += [f"- {name}: {g['value']:+.1%} — {'met' if g['met'] else 'NOT met'}"
              + (" (per seed, paired: " + ", ".join(f"seed {k} {v:+.1%}" for k, v in g["per_seed"].items()) + ")"
                 if g.get("per_seed") else "") for name, g in r["goals"].items()]
    return "\n".join(lines + ["", f"![target AbsRel against training time]({plot_name})", "", f"Machine: {r['machine']}; {r.get('parallel', '')}; "
                              + ", ".join(f"{k} {v}" for k, v in r.get("versions", {}).items()) + ".", "",
                              f"Command: `{r['command']}`", ""])


def plot(r: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.5, 4))
    for net in r["equal_steps"]:
        points = [(r[k][net]["steps"] * r[k][net]["seconds_per_step"], r[k][net]["abs_rel"]) for k in ("equal_steps", "equal_time")]
        ax.errorbar([p[0] for p in points], [p[1][0] for p in points], yerr=[p[1][1] for p in points], marker="o", capsize=3, label=net)
    ax.set_xlabel("training time per run (s, same machine)")
    ax.set_ylabel("target AbsRel (full method)")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


if __name__ == "__main__":
    sys.exit(main())
