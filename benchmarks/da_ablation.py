"""Domain-adaptation ablation on the synthetic world: which parts of the method close the gap?

Every variant trains with the same budget (steps, batch, image size, data) for each seed and is
evaluated on the same held-out synthetic *target* test set:

  source_only           supervised L1 on source only
  cycle                 + photometric cycle loss on both domains
  adversarial           + adversarial loss on D's features (F sees depth features + image)
  adversarial_semantic  + S and its features shown to F (the full method of Lu, Yu & Oh)
  full_curriculum       + curriculum over target complexity
  oracle                source_only plus target depth labels (the upper bound)

  python benchmarks/da_ablation.py --steps 300 --seeds 0 1 2 --out benchmarks/results

writes da_ablation.json ({"runs": [{"variant", "seed", "abs_rel", "rmse", "a1", ...}], ...}) and da_ablation.md.
"""
from __future__ import annotations

import argparse
import json
import platform
import shlex
import statistics
import sys
import time
from pathlib import Path

import torch

from edgedepth import __version__
from edgedepth.config import load_config, to_dict
from edgedepth.train.variants import ABLATION_VARIANTS as VARIANTS
from edgedepth.utils.io import atomic_write_text, write_json

METRICS = ("abs_rel", "rmse", "a1")


def run_variant(variant: str, seed: int, base: list[str], out: Path) -> dict:
    from edgedepth.train import train

    cfg = load_config(None, base + VARIANTS[variant] + [f"train.seed={seed}", f"train.out={out / f'{variant}_s{seed}'}"])
    started = time.perf_counter()
    summary = train(cfg)
    result = summary["eval"]
    row = {"variant": variant, "seed": seed, **{k: result["metrics"][k] for k in METRICS}}
    row["bins"] = {b: (v or {}).get("abs_rel") for b, v in (result.get("bins") or {}).items()}
    row["boundary_abs_rel"] = (result.get("boundary") or {}).get("abs_rel")
    row["interior_abs_rel"] = (result.get("interior") or {}).get("abs_rel")
    row["seconds"] = round(time.perf_counter() - started, 1)
    return row


def source_domain_abs_rel(run_dir: Path, base: list[str]) -> float:
    """AbsRel of a trained model on the synthetic *source* test set (shows the domain gap exists)."""
    from edgedepth.checkpoint import load_depth_net
    from edgedepth.eval import evaluate
    from edgedepth.train.data import dataset_for

    net, _ = load_depth_net(run_dir / "model.pt")
    cfg = load_config(None, base)
    with torch.no_grad():
        result = evaluate(lambda x: net.predict_depth(x), dataset_for(cfg, "source", "test"), progress=False)
    return result["metrics"]["abs_rel"]


def summarise(runs: list[dict]) -> dict[str, dict[str, tuple[float, float]]]:
    table: dict[str, dict[str, tuple[float, float]]] = {}
    for variant in VARIANTS:
        rows = [r for r in runs if r["variant"] == variant]
        if not rows:
            continue
        table[variant] = {}
        for key in METRICS + ("boundary_abs_rel", "interior_abs_rel"):
            vals = [r[key] for r in rows if r.get(key) is not None]
            if vals:
                table[variant][key] = (statistics.mean(vals), statistics.stdev(vals) if len(vals) > 1 else 0.0)
    return table


def gap_closed(table: dict, variant: str) -> float | None:
    try:
        src, ora, v = (table[k]["abs_rel"][0] for k in ("source_only", "oracle", variant))
    except KeyError:
        return None
    return (src - v) / (src - ora) if src != ora else None


def markdown(table: dict, meta: dict) -> str:
    lines = [
        "# Domain-adaptation ablation (synthetic source -> synthetic target)",
        "",
        f"Held-out target test set, mean ± std over seeds {meta['seeds']}; {meta['steps']} steps each at "
        f"{meta['size'][0]}x{meta['size'][1]}, batch {meta['batch_size']}. Gap closed = (source_only − variant) / "
        "(source_only − oracle) in AbsRel.",
        "",
        "| variant | AbsRel ↓ | RMSE ↓ | δ<1.25 ↑ | AbsRel boundary | AbsRel interior | gap closed |",
        "|---|---|---|---|---|---|---|",
    ]
    fmt = lambda t: f"{t[0]:.4f} ± {t[1]:.4f}" if t else "–"  # noqa: E731
    for variant, m in table.items():
        g = gap_closed(table, variant)
        lines.append(
            f"| {variant} | {fmt(m.get('abs_rel'))} | {fmt(m.get('rmse'))} | {fmt(m.get('a1'))} | "
            f"{fmt(m.get('boundary_abs_rel'))} | {fmt(m.get('interior_abs_rel'))} | {'' if g is None else f'{g:.0%}'} |"
        )
    if meta.get("source_domain_abs_rel") is not None:
        lines += ["", f"Domain gap: source_only scores AbsRel {meta['source_domain_abs_rel']:.4f} on the *source* test set."]
    lines += ["", f"Machine: {meta['machine']}, {meta['threads']} threads, torch {meta['torch']}, edgedepth {meta['edgedepth']}.",
              ""] + [f"Command: `{c}`" for c in meta.get("commands", [meta["command"]])] + [""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--steps", type=int, default=300)
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    p.add_argument("--size", default="64x192")
    p.add_argument("--batch-size", type=int, default=4)
    p.add_argument("--train-length", type=int, default=256)
    p.add_argument("--test-length", type=int, default=64)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--runs-dir", default="runs/ablation")
    p.add_argument("--out", default="benchmarks/results")
    p.add_argument("--name", default="da_ablation")
    p.add_argument("--resume", action="store_true", help="skip runs already in <out>/<name>.partial.json")
    p.add_argument("--merge", nargs="+", metavar="JSON", help="combine the runs of earlier result files (e.g. one per seed) "
                   "into <out>/<name>.json/.md instead of training")
    p.add_argument("overrides", nargs="*", help="extra config overrides for every variant")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    h, w = (int(x) for x in args.size.lower().split("x"))
    base = [
        f"data.size=[{h},{w}]", f"data.batch_size={args.batch_size}", f"data.train_length={args.train_length}",
        f"data.test_length={args.test_length}", f"train.steps={args.steps}", "train.tensorboard=false",
        "train.ckpt_every=0", "train.progress=false", "model.disc_channels=32", "model.semantic_channels=64",
        "model.shared_backbone=true", *args.overrides,
    ]
    runs_dir = Path(args.runs_dir)
    out = Path(args.out)
    if args.merge:
        parts = [json.loads(Path(f).read_text()) for f in args.merge]
        runs = [r for part in parts for r in part["runs"]]
        meta = dict(parts[0]["meta"], seeds=sorted({r["seed"] for r in runs}), merged_from=[Path(f).name for f in args.merge],
                    commands=[part["meta"]["command"] for part in parts])
        return write_results(out, args.name, runs, meta)
    partial = out / f"{args.name}.partial.json"
    runs = json.loads(partial.read_text())["runs"] if args.resume and partial.is_file() else []
    done = {(r["variant"], r["seed"]) for r in runs}
    for seed in args.seeds:
        for variant in args.variants:
            if (variant, seed) in done:
                continue
            row = run_variant(variant, seed, base, runs_dir)
            runs.append(row)
            write_json(partial, {"runs": runs})  # a long sweep survives an interruption (--resume)
            print(json.dumps({k: row[k] for k in ("variant", "seed", *METRICS, "seconds")}), flush=True)
    meta = {
        "steps": args.steps, "seeds": args.seeds, "size": [h, w], "batch_size": args.batch_size,
        "train_length": args.train_length, "test_length": args.test_length, "threads": args.threads,
        "machine": f"{platform.processor() or platform.machine()} ({platform.system()})",
        "torch": torch.__version__, "edgedepth": __version__, "python": platform.python_version(),
        "command": "python " + " ".join(shlex.quote(a) for a in [sys.argv[0], *(argv if argv is not None else sys.argv[1:])]),
        "base_config": to_dict(load_config(None, base)),
    }
    if "source_only" in args.variants:
        meta["source_domain_abs_rel"] = source_domain_abs_rel(runs_dir / f"source_only_s{args.seeds[0]}", base)
    write_results(out, args.name, runs, meta)
    partial.unlink(missing_ok=True)
    return 0


def write_results(out: Path, name: str, runs: list[dict], meta: dict) -> int:
    table = summarise(runs)
    meta["gap_closed"] = {v: gap_closed(table, v) for v in table}
    summary = {v: {k: list(t) for k, t in m.items()} for v, m in table.items()}
    write_json(out / f"{name}.json", {"runs": runs, "summary": summary, "meta": meta})
    atomic_write_text(out / f"{name}.md", markdown(table, meta))
    print(markdown(table, meta))
    return 0


if __name__ == "__main__":
    sys.exit(main())
