"""Domain-adaptation ablation on the synthetic world: which parts of the method close the gap?

Every variant (edgedepth/train/variants.py) trains with the same budget for each seed and is
evaluated on that seed's held-out synthetic *target* test set. A seed sets both the initialisation
and the data (``train.seed`` and ``data.seed``: other street layouts, other test images). With
``--warm-start W`` every variant of a seed starts from one source-only model trained for W steps
(``train.init_from``) and then trains ``--steps`` more, source_only included, so all variants get
W + steps steps; the shared prefix is trained once per seed. ``--unseen-seeds`` are trained the same
way and reported in their own table: seeds never used for choosing the recipe. Positional
overrides apply to every variant (``model.encoder=edge_l optim.lr=0.001`` runs it on the edge network).

    python benchmarks/da_ablation.py --warm-start 300 --steps 200 --seeds 0 1 2 --unseen-seeds 11 12 --jobs 2 --threads 1

writes <name>.json (every run, the summary and the machine), <name>.md (tables and an analysis
generated from the numbers, benchmarks/da_report.py) and <name>.png. Runs already in
<name>.partial.json are skipped. Every row records a digest of what decides its numbers (its resolved config
and its warm start's, output paths left out); ``--reuse OLD.json`` takes the rows of OLD whose digest equals
the one this run would train (e.g. the variants a change of ``loss.seg`` does not touch, since they set it to 0)
instead of training them again, and the report names them. The digest covers the config, not the code: reuse
rows of a file written by the same code, or by code that does not change those variants.

Learning-curve mode, ``--curve 250 500 1000 2000``: each of ``--variants`` (default source_only,
adversarial_semantic, full_curriculum, oracle) trains once per seed from scratch to the largest step
count and is evaluated at every listed one; writes <name>.json/.md/.png with target AbsRel and gap
closed per step count and where each curve flattens.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import math
import platform
import sys
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from multiprocessing import get_context
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import da_report  # noqa: E402  (benchmarks/ is the script's folder)

from edgedepth import __version__  # noqa: E402
from edgedepth.bench.report import command_line  # noqa: E402
from edgedepth.train.variants import ABLATION_VARIANTS as VARIANTS  # noqa: E402
from edgedepth.utils.io import atomic_write_text, write_json  # noqa: E402

METRICS = da_report.METRICS
CURVE_VARIANTS = ["source_only", "adversarial_semantic", "full_curriculum", "oracle"]


def base_overrides(args, seed: int) -> list[str]:
    h, w = args.size
    return [
        f"data.size=[{h},{w}]", f"data.batch_size={args.batch_size}", f"data.train_length={args.train_length}",
        f"data.test_length={args.test_length}", f"data.seed={seed}", f"train.seed={seed}", "train.tensorboard=false",
        "train.ckpt_every=0", "train.progress=false", *args.overrides,
    ]


def warm_start_overrides(args, seed: int) -> list[str]:
    """The overrides of the source-only warm start of ``seed``, its output path aside."""
    return base_overrides(args, seed) + VARIANTS["source_only"] + [f"train.steps={args.warm_start}"]


def run_overrides(args, variant: str, seed: int) -> list[str]:
    """The overrides of one (variant, seed) run, output and warm-start paths aside."""
    if args.curve:
        steps = sorted(args.curve)
        return base_overrides(args, seed) + VARIANTS[variant] + [f"train.steps={steps[-1]}", f"train.eval_every={math.gcd(*steps)}"]
    return base_overrides(args, seed) + VARIANTS[variant] + [f"train.steps={args.steps}"]


def config_digest(args, variant: str, seed: int) -> str:
    """A digest of everything in the config that decides a row's numbers: the run's resolved config and, with a
    warm start, the warm start's (paths of outputs and of the warm start left out, they differ between folders)."""
    from edgedepth.config import load_config, to_dict

    def resolved(overrides: list[str]) -> dict:
        cfg = to_dict(load_config(None, overrides))
        for key in ("out", "init_from"):
            cfg["train"].pop(key, None)
        return cfg

    decides = {"run": resolved(run_overrides(args, variant, seed))}
    if args.warm_start and not args.curve:
        decides["warm_start"] = resolved(warm_start_overrides(args, seed))
    return hashlib.sha256(json.dumps(decides, sort_keys=True).encode()).hexdigest()[:16]


def reusable(args, wanted: dict[tuple[str, int], str]) -> tuple[dict[tuple[str, int], dict], list[str]]:
    """Rows of ``--reuse`` files that this run would train with the same config (``wanted``: (variant, seed) -> the
    digest of the run it would train): {(variant, seed): row}, and a line for each row of those files that cannot
    be reused and why."""
    found, why_not = {}, []
    for path in args.reuse or []:
        try:
            saved = json.loads(Path(path).read_text())["runs"]
        except (OSError, ValueError, KeyError) as e:
            raise SystemExit(f"--reuse {path}: not a result file of this script ({e}); give a {Path(path).stem}.json it wrote")
        for row in saved:
            key = (row.get("variant"), row.get("seed"))
            if key not in wanted or key in found:
                continue
            if row.get("config_digest") == wanted[key]:
                found[key] = {**row, "reused_from": Path(path).name}
            else:
                why_not.append(f"{Path(path).name}: {key[0]} seed {key[1]} trained again: "
                               + ("it records no config digest (written before they were recorded)" if "config_digest" not in row
                                  else "its config differs from this run's"))
    return found, why_not


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
        _train(warm_start_overrides(args, seed) + [f"train.out={out}"], args.threads)
    return out / "model.pt"


def run_variant(args, variant: str, seed: int, init: Path | None) -> dict:
    """Train one variant for one seed and return its row: target metrics, distance bins, regions."""
    out = Path(args.runs_dir) / f"{variant}_s{seed}"
    overrides = run_overrides(args, variant, seed) + [f"train.out={out}"]
    if init is not None:
        overrides.append(f"train.init_from={init}")
    started = time.perf_counter()
    summary = _train(overrides, args.threads)
    result = summary["eval"]
    row = {"variant": variant, "seed": seed, **{k: result["metrics"][k] for k in METRICS},
           "bins": {b: (v or {}).get("abs_rel") for b, v in (result.get("bins") or {}).items()},
           "boundary_abs_rel": (result.get("boundary") or {}).get("abs_rel"),
           "interior_abs_rel": (result.get("interior") or {}).get("abs_rel"),
           "seconds": round(time.perf_counter() - started, 1), "train_seconds": summary["seconds"]}
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


def run_curve(args, variant: str, seed: int) -> dict:
    """One run of ``variant`` from scratch to the largest of ``args.curve``, evaluated at every step count listed."""
    steps = sorted(args.curve)
    out = Path(args.runs_dir) / f"curve_{variant}_s{seed}"
    overrides = run_overrides(args, variant, seed) + [f"train.out={out}"]
    summary = _train(overrides, args.threads)
    points = [p for p in summary.get("curve", []) if p["step"] in steps]
    return {"variant": variant, "seed": seed, "curve": points, "seconds": summary["seconds"]}


def collect(args) -> list[dict]:
    """Every (variant, seed) row. Warm starts first, then every run, ``--jobs`` processes at a time (each
    with ``--threads`` torch threads); runs already in the partial file are not trained again."""
    partial = Path(args.out) / f"{args.name}.partial.json"
    runs = json.loads(partial.read_text())["runs"] if partial.is_file() else []
    done = {(r["variant"], r["seed"]) for r in runs}
    seeds_all = [*args.seeds, *args.unseen_seeds]
    todo = [(v, s) for s in seeds_all for v in args.variants if (v, s) not in done]
    digests = {key: config_digest(args, *key) for key in todo}
    reused, why_not = reusable(args, digests)
    for line in why_not:
        print(line, flush=True)
    for key, row in reused.items():
        runs.append({**row, "unseen": row["seed"] in args.unseen_seeds})
        print(f"reused from {row['reused_from']}: {key[0]} seed {key[1]}", flush=True)
    todo = [key for key in todo if key not in reused]
    with ProcessPoolExecutor(max_workers=args.jobs, mp_context=get_context("spawn")) as pool:
        if args.curve:
            futures = [pool.submit(run_curve, args, v, s) for v, s in todo]
        else:
            seeds = sorted({s for _, s in todo})
            inits = dict(zip(seeds, pool.map(warm_start, [args] * len(seeds), seeds))) if args.warm_start else {}
            futures = [pool.submit(run_variant, args, v, s, inits.get(s)) for v, s in todo]
        for future in as_completed(futures):
            row = future.result()
            row["unseen"] = row["seed"] in args.unseen_seeds
            row["config_digest"] = digests[(row["variant"], row["seed"])]
            runs.append(row)
            write_json(partial, {"runs": runs})  # a long sweep survives an interruption
            print(json.dumps({k: row.get(k) for k in ("variant", "seed", "abs_rel", "seconds")}), flush=True)
    return runs


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--steps", type=int, default=600, help="steps per variant (after the warm start)")
    p.add_argument("--warm-start", type=int, default=0, help="source-only steps every variant of a seed starts from (0: none)")
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], help="seeds the recipe is chosen on")
    p.add_argument("--unseen-seeds", type=int, nargs="*", default=[], help="seeds never used for choosing, reported apart")
    p.add_argument("--variants", nargs="+", choices=list(VARIANTS), help="default: all (with --curve: " + ", ".join(CURVE_VARIANTS) + ")")
    p.add_argument("--curve", type=int, nargs="+", metavar="STEPS", help="learning-curve mode: evaluate at these step counts")
    p.add_argument("--size", default="64x192", type=lambda s: tuple(int(v) for v in s.lower().split("x")))
    p.add_argument("--batch-size", type=int, default=4)
    p.add_argument("--train-length", type=int, default=512)
    p.add_argument("--test-length", type=int, default=64)
    p.add_argument("--jobs", type=int, default=1, help="runs trained in parallel processes")
    p.add_argument("--threads", type=int, default=2, help="torch threads per process")
    p.add_argument("--runs-dir", default="runs/ablation")
    p.add_argument("--out", default="benchmarks/results")
    p.add_argument("--name", default="da_ablation")
    p.add_argument("--reuse", nargs="+", type=Path, metavar="FILE",
                   help="result files of earlier runs: their rows with this run's config digest are taken, not trained again")
    p.add_argument("--note", help="a line for the report under the command (e.g. where rows were reused from)")
    p.add_argument("--from-json", type=Path, metavar="FILE",
                   help="write the report again from a finished run's JSON (its runs and meta), training nothing")
    p.add_argument("overrides", nargs="*", help="extra config overrides for every variant (e.g. loss.adv=0.02)")
    args = p.parse_args(argv)
    args.variants = args.variants or (CURVE_VARIANTS if args.curve else list(VARIANTS))
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.from_json:
        saved = json.loads(args.from_json.read_text())
        meta = {**saved["meta"], **({"note": args.note} if args.note else {})}
        return _write_report(saved["runs"], meta, Path(args.out), partial=False)
    started = time.perf_counter()
    runs = collect(args)
    budget = (f"{args.warm_start} source-only warm-start steps shared per seed + {args.steps} steps per variant"
              if args.warm_start else f"{args.steps} steps per variant from scratch")
    meta = {
        "name": args.name, "seeds": args.seeds, "unseen_seeds": args.unseen_seeds, "variants": args.variants,
        "curve": args.curve, "size": list(args.size), "batch_size": args.batch_size, "steps": args.steps,
        "warm_start": args.warm_start, "train_length": args.train_length, "test_length": args.test_length, "jobs": args.jobs,
        "threads": args.threads, "overrides": args.overrides, "runs_dir": args.runs_dir, "hours": (time.perf_counter() - started) / 3600,
        "budget": budget, "machine": f"{_cpu()} ({platform.system()})", "torch": _torch_version(), "edgedepth": __version__,
        "command": command_line(__file__, argv),
        **({"note": args.note} if args.note else {}),
    }
    return _write_report(runs, meta, Path(args.out), partial=True)


def _write_report(runs: list[dict], meta: dict, out: Path, *, partial: bool) -> int:
    name = meta["name"]
    if meta.get("curve"):
        write_json(out / f"{name}.json", {"runs": runs, "summary": da_report.curve_table(runs), "meta": meta})
        da_report.curve_plot(runs, out / f"{name}.png")
        atomic_write_text(out / f"{name}.md", da_report.curve_markdown(runs, meta))
    else:
        variants = meta.get("variants") or list(VARIANTS)
        table = da_report.summarise([r for r in runs if not r.get("unseen")], variants)
        write_json(out / f"{name}.json", {"runs": runs, "summary": table, "meta": meta})
        da_report.plot(table, out / f"{name}.png")
        atomic_write_text(out / f"{name}.md", da_report.markdown(runs, meta, variants))
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
