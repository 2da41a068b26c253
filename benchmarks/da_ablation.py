"""Domain-adaptation ablation on the synthetic world: which parts of the method close the gap?

Every variant (edgedepth/train/variants.py) trains with the same budget for each seed and is
evaluated on that seed's held-out synthetic *target* test set. A seed sets both the initialisation
and the data (``train.seed`` and ``data.seed``: other street layouts, other test images). With
``--warm-start W`` every variant of a seed starts from one source-only model trained for W steps
(``train.init_from``) and then trains ``--steps`` more, source_only included, so all variants get
W + steps steps; the shared prefix is trained once per seed.

    python benchmarks/da_ablation.py --warm-start 400 --steps 600 --seeds 0 1 2 --jobs 2 --out benchmarks/results

writes <name>.json (every run, the summary and the machine), <name>.md (tables and an analysis
generated from the numbers) and <name>.png. Runs already in <name>.partial.json are skipped.
"""
from __future__ import annotations

import argparse
import json
import platform
import shlex
import statistics
import sys
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from multiprocessing import get_context
from pathlib import Path

from edgedepth import __version__
from edgedepth.train.variants import ABLATION_VARIANTS as VARIANTS
from edgedepth.utils.io import atomic_write_text, write_json

METRICS = ("abs_rel", "sq_rel", "rmse", "a1")
GOAL_FULL, GOAL_SEMANTIC = 0.50, 0.05  # gap closed by full_curriculum; adversarial_semantic - adversarial


def base_overrides(args, seed: int) -> list[str]:
    h, w = args.size
    return [
        f"data.size=[{h},{w}]", f"data.batch_size={args.batch_size}", f"data.train_length={args.train_length}",
        f"data.test_length={args.test_length}", f"data.seed={seed}", f"train.seed={seed}", "train.tensorboard=false",
        "train.ckpt_every=0", "train.progress=false", *args.overrides,
    ]


def _train(overrides: list[str], threads: int) -> dict:
    import torch

    from edgedepth.config import load_config
    from edgedepth.train import train

    torch.set_num_threads(threads)
    return train(load_config(None, overrides))


def warm_start(args, seed: int) -> Path:
    """The source-only model every variant of ``seed`` starts from (trained once, then reused)."""
    out = Path(args.runs_dir) / f"warm_s{seed}"
    if not (out / "model.pt").is_file():
        _train(base_overrides(args, seed) + VARIANTS["source_only"] + [f"train.steps={args.warm_start}", f"train.out={out}"],
               args.threads)
    return out / "model.pt"


def run_variant(args, variant: str, seed: int, init: Path | None) -> dict:
    """Train one variant for one seed and return its row: target metrics, distance bins, regions."""
    out = Path(args.runs_dir) / f"{variant}_s{seed}"
    overrides = base_overrides(args, seed) + VARIANTS[variant] + [f"train.steps={args.steps}", f"train.out={out}"]
    if init is not None:
        overrides.append(f"train.init_from={init}")
    started = time.perf_counter()
    result = _train(overrides, args.threads)["eval"]
    row = {"variant": variant, "seed": seed, **{k: result["metrics"][k] for k in METRICS},
           "bins": {b: (v or {}).get("abs_rel") for b, v in (result.get("bins") or {}).items()},
           "boundary_abs_rel": (result.get("boundary") or {}).get("abs_rel"),
           "interior_abs_rel": (result.get("interior") or {}).get("abs_rel"),
           "seconds": round(time.perf_counter() - started, 1)}
    if variant == "source_only":
        row["source_domain_abs_rel"] = source_domain_abs_rel(out / "model.pt", base_overrides(args, seed))
    return row


def source_domain_abs_rel(checkpoint: Path, base: list[str]) -> float:
    """AbsRel of a model on the synthetic *source* test set of its seed (shows the domain gap exists)."""
    import torch

    from edgedepth.checkpoint import load_depth_net
    from edgedepth.config import load_config
    from edgedepth.eval import evaluate
    from edgedepth.train.data import dataset_for

    net, _ = load_depth_net(checkpoint)
    with torch.no_grad():
        result = evaluate(lambda x: net.predict_depth(x), dataset_for(load_config(None, base), "source", "test"), progress=False)
    return result["metrics"]["abs_rel"]


def collect(args) -> list[dict]:
    """Every (variant, seed) row. Warm starts first, then every run, ``--jobs`` processes at a time (each
    with ``--threads`` torch threads); runs already in the partial file are not trained again."""
    partial = Path(args.out) / f"{args.name}.partial.json"
    runs = json.loads(partial.read_text())["runs"] if partial.is_file() else []
    done = {(r["variant"], r["seed"]) for r in runs}
    todo = [(v, s) for s in args.seeds for v in args.variants if (v, s) not in done]
    with ProcessPoolExecutor(max_workers=args.jobs, mp_context=get_context("spawn")) as pool:
        seeds = sorted({s for _, s in todo})
        inits = dict(zip(seeds, pool.map(warm_start, [args] * len(seeds), seeds))) if args.warm_start else {}
        futures = [pool.submit(run_variant, args, v, s, inits.get(s)) for v, s in todo]
        for future in as_completed(futures):
            row = future.result()
            runs.append(row)
            write_json(partial, {"runs": runs})  # a long sweep survives an interruption
            print(json.dumps({k: row[k] for k in ("variant", "seed", "abs_rel", "seconds")}), flush=True)
    return runs


# ---------------------------------------------------------------- summary and analysis


def _mean_std(values: list[float]) -> tuple[float, float]:
    return statistics.mean(values), statistics.stdev(values) if len(values) > 1 else 0.0


def gap_closed_per_seed(runs: list[dict], variant: str) -> list[float]:
    """(source_only - variant) / (source_only - oracle) in target AbsRel, paired within each seed."""
    by = {(r["variant"], r["seed"]): r["abs_rel"] for r in runs}
    seeds = sorted({r["seed"] for r in runs})
    return [(by[("source_only", s)] - by[(variant, s)]) / (by[("source_only", s)] - by[("oracle", s)])
            for s in seeds if all(k in by for k in (("source_only", s), ("oracle", s), (variant, s)))]


def summarise(runs: list[dict]) -> dict:
    table = {}
    for variant in VARIANTS:
        rows = [r for r in runs if r["variant"] == variant]
        if not rows:
            continue
        entry = {k: _mean_std([r[k] for r in rows]) for k in (*METRICS, "boundary_abs_rel", "interior_abs_rel")}
        entry["bins"] = {b: _mean_std([r["bins"][b] for r in rows if r["bins"].get(b) is not None]) for b in rows[0]["bins"]}
        gaps = gap_closed_per_seed(runs, variant)
        entry["gap_closed"] = _mean_std(gaps) if gaps else None
        table[variant] = entry
    return table


def _paired(runs: list[dict], a: str, b: str) -> tuple[float, float] | None:
    """Mean ± std over seeds of gap_closed(a) - gap_closed(b)."""
    ga, gb = gap_closed_per_seed(runs, a), gap_closed_per_seed(runs, b)
    return _mean_std([x - y for x, y in zip(ga, gb)]) if ga and len(ga) == len(gb) else None


def _verdict(diff: tuple[float, float] | None) -> str:
    if diff is None:
        return "not measured"
    mean, std = diff
    if abs(mean) <= std:
        return f"{mean * 100:+.1f} ± {std * 100:.1f} points: within seed noise"
    return f"{mean * 100:+.1f} ± {std * 100:.1f} points: {'helps' if mean > 0 else 'hurts'}"


def analysis(runs: list[dict], table: dict) -> list[str]:
    """The findings, written from the numbers (nothing here is typed by hand)."""
    lines = ["## What the numbers say (generated)", ""]
    src = [r for r in runs if r["variant"] == "source_only"]
    if src and all(r.get("source_domain_abs_rel") for r in src):
        ratio = _mean_std([r["abs_rel"] / r["source_domain_abs_rel"] for r in src])
        lines.append(f"- **Domain gap**: source_only scores AbsRel {_mean_std([r['source_domain_abs_rel'] for r in src])[0]:.3f} on "
                     f"the source test set and {table['source_only']['abs_rel'][0]:.3f} on the target test set: "
                     f"{ratio[0]:.2f}× ± {ratio[1]:.2f} (the target must stay at least 2× harder: "
                     f"{'yes' if ratio[0] - ratio[1] >= 2 else 'NO'}).")
    for name, (a, b) in {"the cycle loss": ("cycle", "source_only"), "the adversarial loss": ("adversarial", "cycle"),
                         "semantics (S on D's encoder, its cross-entropy, its features shown to F)": ("adversarial_semantic", "adversarial"),
                         "the curriculum": ("full_curriculum", "adversarial_semantic")}.items():
        lines.append(f"- Adding {name} ({a} vs {b}), gap closed: {_verdict(_paired(runs, a, b))}.")
    full = table.get("full_curriculum", {}).get("gap_closed")
    if full:
        lines.append(f"- **Goal 1**, full_curriculum closes ≥ {GOAL_FULL:.0%} of the gap: {full[0]:.1%} ± {full[1]:.1%} — "
                     + ("met." if full[0] >= GOAL_FULL else f"NOT met, {GOAL_FULL - full[0]:.1%} short."))
    sem = _paired(runs, "adversarial_semantic", "adversarial")
    if sem:
        lines.append(f"- **Goal 2**, adversarial_semantic beats adversarial by ≥ {GOAL_SEMANTIC * 100:.0f} points: "
                     f"{sem[0] * 100:+.1f} ± {sem[1] * 100:.1f} points — "
                     + ("met." if sem[0] >= GOAL_SEMANTIC else f"NOT met, {(GOAL_SEMANTIC - sem[0]) * 100:.1f} points short."))
    lines += _where_gained(table)
    return lines + [""]


def _where_gained(table: dict) -> list[str]:
    best = max((v for v in table if v not in ("source_only", "oracle") and table[v].get("gap_closed")),
               key=lambda v: table[v]["gap_closed"][0], default=None)
    if best is None or "source_only" not in table:
        return []
    src, ada = table["source_only"], table[best]
    gains = {b: 1 - ada["bins"][b][0] / src["bins"][b][0] for b in src["bins"] if b in ada["bins"] and src["bins"][b][0]}
    text = ", ".join(f"{b} m {g:+.0%}" for b, g in gains.items())
    edge = 1 - ada["boundary_abs_rel"][0] / src["boundary_abs_rel"][0]
    inner = 1 - ada["interior_abs_rel"][0] / src["interior_abs_rel"][0]
    return [f"- Where {best} (the best adapted variant) gains over source_only, AbsRel by distance: {text}; "
            f"at depth/semantic boundaries {edge:+.0%}, inside regions {inner:+.0%}."]


def markdown(table: dict, runs: list[dict], meta: dict) -> str:
    fmt = lambda t: f"{t[0]:.4f} ± {t[1]:.4f}" if t else "–"  # noqa: E731
    bins = list(next(iter(table.values()))["bins"])
    lines = [
        "# Domain-adaptation ablation (synthetic source → synthetic target)", "",
        f"Seeds {meta['seeds']} (each its own initialisation and data), mean ± std; {meta['budget']} at "
        f"{meta['size'][0]}×{meta['size'][1]}, batch {meta['batch_size']}. Gap closed = (source_only − variant) / "
        "(source_only − oracle) in target AbsRel, per seed, then mean ± std.", "",
        "| variant | AbsRel ↓ | RMSE ↓ | δ<1.25 ↑ | AbsRel boundary | AbsRel interior | gap closed |", "|---|---|---|---|---|---|---|",
    ]
    for variant, m in table.items():
        g = m.get("gap_closed")
        lines.append(f"| {variant} | {fmt(m['abs_rel'])} | {fmt(m['rmse'])} | {fmt(m['a1'])} | {fmt(m['boundary_abs_rel'])} | "
                     f"{fmt(m['interior_abs_rel'])} | {'' if g is None else f'{g[0]:.1%} ± {g[1]:.1%}'} |")
    lines += ["", "AbsRel by ground-truth distance (metres):", "", "| variant | " + " | ".join(bins) + " |",
              "|---|" + "---|" * len(bins)]
    lines += [f"| {v} | " + " | ".join(fmt(m["bins"].get(b)) for b in bins) + " |" for v, m in table.items()]
    lines += ["", f"![gap closed by variant]({meta['name']}.png)", ""] + analysis(runs, table)
    lines += [f"Machine: {meta['machine']}; {meta['jobs']} processes × {meta['threads']} threads; torch {meta['torch']}, "
              f"edgedepth {meta['edgedepth']}; {meta['hours']:.1f} h.", "", f"Command: `{meta['command']}`", ""]
    if meta.get("note"):
        lines += [meta["note"], ""]
    return "\n".join(lines)


def plot(table: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [v for v in table if table[v].get("gap_closed")]
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 3.8))
    left.bar(names, [table[v]["gap_closed"][0] * 100 for v in names], yerr=[table[v]["gap_closed"][1] * 100 for v in names],
             color="#4c72b0", capsize=4)
    left.axhline(GOAL_FULL * 100, color="#c44e52", linestyle="--", label=f"goal for full_curriculum ({GOAL_FULL:.0%})")
    left.set_ylabel("gap closed (%)")
    left.tick_params(axis="x", rotation=30)
    left.legend(loc="upper left", fontsize=8)
    bins = list(next(iter(table.values()))["bins"])
    for v in table:
        right.errorbar(bins, [table[v]["bins"][b][0] for b in bins], yerr=[table[v]["bins"][b][1] for b in bins], marker="o",
                       capsize=3, label=v)
    right.set_xlabel("ground-truth distance (m)")
    right.set_ylabel("target AbsRel")
    right.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--steps", type=int, default=600, help="steps per variant (after the warm start)")
    p.add_argument("--warm-start", type=int, default=0, help="source-only steps every variant of a seed starts from (0: none)")
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    p.add_argument("--size", default="64x192", type=lambda s: tuple(int(v) for v in s.lower().split("x")))
    p.add_argument("--batch-size", type=int, default=4)
    p.add_argument("--train-length", type=int, default=512)
    p.add_argument("--test-length", type=int, default=64)
    p.add_argument("--jobs", type=int, default=1, help="seeds trained in parallel processes")
    p.add_argument("--threads", type=int, default=2, help="torch threads per process")
    p.add_argument("--runs-dir", default="runs/ablation")
    p.add_argument("--out", default="benchmarks/results")
    p.add_argument("--name", default="da_ablation")
    p.add_argument("--note", help="a line for the report under the command (e.g. where rows were reused from)")
    p.add_argument("--from-json", type=Path, metavar="FILE",
                   help="write the report again from a finished run's JSON (its runs and meta), training nothing")
    p.add_argument("overrides", nargs="*", help="extra config overrides for every variant (e.g. loss.adv=0.02)")
    args = p.parse_args(argv)
    if args.from_json:
        saved = json.loads(args.from_json.read_text())
        meta = {**saved["meta"], **({"note": args.note} if args.note else {})}
        return _write_report(saved["runs"], meta, Path(args.out), partial=False)
    started = time.perf_counter()
    runs = collect(args)
    meta = {
        "name": args.name, "seeds": args.seeds, "size": list(args.size), "batch_size": args.batch_size, "steps": args.steps,
        "warm_start": args.warm_start, "train_length": args.train_length, "test_length": args.test_length, "jobs": args.jobs,
        "threads": args.threads, "overrides": args.overrides, "hours": (time.perf_counter() - started) / 3600,
        "budget": (f"{args.warm_start} source-only warm-start steps shared per seed + {args.steps} steps per variant"
                   if args.warm_start else f"{args.steps} steps per variant from scratch"),
        "machine": f"{_cpu()} ({platform.system()})", "torch": _torch_version(), "edgedepth": __version__,
        "command": "python " + " ".join(shlex.quote(a) for a in [sys.argv[0], *(argv if argv is not None else sys.argv[1:])]),
        **({"note": args.note} if args.note else {}),
    }
    return _write_report(runs, meta, Path(args.out), partial=True)


def _write_report(runs: list[dict], meta: dict, out: Path, *, partial: bool) -> int:
    name, table = meta["name"], summarise(runs)
    write_json(out / f"{name}.json", {"runs": runs, "summary": table, "meta": meta})
    plot(table, out / f"{name}.png")
    atomic_write_text(out / f"{name}.md", markdown(table, runs, meta))
    if partial:
        (out / f"{name}.partial.json").unlink(missing_ok=True)
    print((out / f"{name}.md").read_text())
    return 0


def _cpu() -> str:
    from edgedepth.device import cpu_model

    return cpu_model()


def _torch_version() -> str:
    import torch

    return torch.__version__


if __name__ == "__main__":
    sys.exit(main())
