"""One table for a recipe screen: candidate recipes of one ablation variant against the committed ablation, seed by seed.

    python benchmarks/da_screen.py --baseline benchmarks/results/da_ablation_edge_l.json \\
        --candidate runs/screen/seg3.json --candidate runs/screen/scales4.json ... --name da_near_screen

Each candidate is the JSON that ``benchmarks/da_ablation.py --variants full_curriculum ... <overrides>`` wrote for
one recipe, trained from the same warm starts as the baseline (the same ``--runs-dir`` warm_s<seed> models), so a
candidate and the baseline differ only in the overrides. The table gives, per candidate, the mean over the seeds of
target AbsRel and every distance bin, the change against the baseline on each seed, and whether the candidate's
0-10 m bin reaches source_only's. Writes <name>.json (every row, the candidates' commands and the machine) and
<name>.md with a generated analysis.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

BINS = ["0-10", "10-20", "20-40", "40-80"]


def _value(row: dict, key: str) -> float:
    return row["bins"][key] if key in BINS else row[key]


def compare(baseline: dict, candidates: dict[str, dict], variant: str) -> list[dict]:
    """candidate name -> its runs (da_ablation JSON) => one summary row per candidate (the baseline first)."""
    base = {(r["variant"], r["seed"]): r for r in baseline["runs"] if not r.get("unseen")}
    shared = set(baseline.get("meta", {}).get("overrides", []))
    # every row (the baseline's too) averages the same seeds: those the baseline and every candidate have
    seeds_of = lambda data: {r["seed"] for r in data["runs"] if r["variant"] == variant and not r.get("unseen")}  # noqa: E731
    common = set.intersection(seeds_of(baseline), *(seeds_of(d) for d in candidates.values()))
    rows = []
    for name, data in {"baseline": baseline, **candidates}.items():
        runs = sorted((r for r in data["runs"] if r["variant"] == variant and not r.get("unseen")), key=lambda r: r["seed"])
        runs = [r for r in runs if r["seed"] in common and (variant, r["seed"]) in base and ("source_only", r["seed"]) in base]
        if not runs:
            continue
        seeds = [r["seed"] for r in runs]
        row = {"candidate": name, "overrides": [o for o in data.get("meta", {}).get("overrides", []) if o not in shared], "seeds": seeds,
               "command": data.get("meta", {}).get("command")}
        for key in ["abs_rel", *BINS]:
            row[key] = statistics.mean(_value(r, key) for r in runs)
            row[f"{key}_per_seed"] = [_value(r, key) for r in runs]
            row[f"{key}_change"] = [_value(r, key) / _value(base[(variant, s)], key) - 1 for r, s in zip(runs, seeds)]
        row["source_only_0-10"] = statistics.mean(base[("source_only", s)]["bins"]["0-10"] for s in seeds)
        row["oracle_0-10"] = (statistics.mean(base[("oracle", s)]["bins"]["0-10"] for s in seeds)
                              if all(("oracle", s) in base for s in seeds) else None)
        rows.append(row)
    return rows


def findings(rows: list[dict]) -> list[str]:
    lines = []
    for row in rows[1:]:
        better = lambda key: sum(c < 0 for c in row[f"{key}_change"])  # noqa: E731
        n = len(row["seeds"])
        line = (f"- **{row['candidate']}** (`{' '.join(row['overrides']) or 'none'}`): target AbsRel "
                f"{row['abs_rel']:.4f} ({statistics.mean(row['abs_rel_change']):+.1%}, better on {better('abs_rel')} of {n} seeds), "
                f"0-10 m {row['0-10']:.4f} ({statistics.mean(row['0-10_change']):+.1%}, better on {better('0-10')} of {n}); "
                f"source_only's 0-10 m {row['source_only_0-10']:.4f}: "
                + ("reached" if row["0-10"] <= row["source_only_0-10"] else f"{row['0-10'] / row['source_only_0-10'] - 1:+.1%} short"))
        worse = [b for b in BINS if statistics.mean(row[f"{b}_change"]) > 0.02]
        lines.append(line + (f"; worse by more than 2 % in {', '.join(worse)} m." if worse else "."))
    return lines


def markdown(rows: list[dict], meta: dict) -> str:
    out = [f"# {meta['title']}", "", meta["setting"], "",
           f"Variant: {meta['variant']}; seeds {rows[0]['seeds']}; baseline: `{meta['baseline']}` (its own rows for these seeds). "
           "Change: candidate / baseline - 1 per seed. Overrides: those beyond the baseline's own.", "",
           f"Machine: {meta['machine']}; {meta.get('threads', 1)} torch thread(s) per run, {meta.get('jobs', 2)} runs at a time; torch "
           f"{meta['torch']}, edgedepth {meta['edgedepth']}. This table: `{meta['command']}`", "",
           "| candidate | overrides | target AbsRel | change per seed | 0-10 m | change per seed | 10-20 m | 20-40 m | 40-80 m |",
           "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        pct = lambda key: " / ".join(f"{c:+.1%}" for c in r[f"{key}_change"])  # noqa: E731
        out.append(f"| {r['candidate']} | `{' '.join(r['overrides']) or 'none'}` | {r['abs_rel']:.4f} | "
                   f"{pct('abs_rel')} | {r['0-10']:.4f} | {pct('0-10')} | {r['10-20']:.4f} | {r['20-40']:.4f} | {r['40-80']:.4f} |")
    so = rows[0]["source_only_0-10"]
    oracle = rows[0]["oracle_0-10"]
    out += ["", f"source_only's 0-10 m on these seeds: {so:.4f}" + (f"; the oracle's: {oracle:.4f}." if oracle is not None else "."),
            "", "## What the numbers say (generated)", "", *findings(rows), "", "Each candidate's command:", ""]
    out += [f"- {r['candidate']}: `{r['command']}`" for r in rows[1:] if r.get("command")]
    return "\n".join(out + [""])


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--baseline", type=Path, required=True, help="the committed ablation JSON (da_ablation.py)")
    p.add_argument("--candidate", type=Path, action="append", default=[], metavar="JSON",
                   help="a da_ablation.py JSON of one candidate recipe; its file name (without .json) names it")
    p.add_argument("--from-json", type=Path, help="write the report again from a finished screen's JSON")
    p.add_argument("--variant", default="full_curriculum")
    p.add_argument("--title", default="Recipe screen")
    p.add_argument("--setting", default="")
    p.add_argument("--out", type=Path, default=Path("benchmarks/results"))
    p.add_argument("--name", default="da_screen")
    args = p.parse_args(argv)
    from edgedepth.bench.report import command_line
    from edgedepth.utils.io import atomic_write_text, write_json

    if args.from_json:
        saved = json.loads(args.from_json.read_text())
        rows, meta = saved["rows"], saved["meta"]
    else:
        baseline = json.loads(args.baseline.read_text())
        candidates = {path.stem.removesuffix(".partial"): json.loads(path.read_text()) for path in args.candidate}
        rows = compare(baseline, candidates, args.variant)
        first = next(iter(candidates.values()), baseline).get("meta", {})
        meta = {"title": args.title, "setting": args.setting, "variant": args.variant, "baseline": str(args.baseline),
                "machine": first.get("machine", baseline["meta"].get("machine")), "threads": first.get("threads"),
                "jobs": first.get("jobs"), "torch": first.get("torch", baseline["meta"].get("torch")),
                "edgedepth": first.get("edgedepth", baseline["meta"].get("edgedepth")),
                "command": command_line(__file__, argv)}
        if not rows:
            print(f"error: no {args.variant} rows shared by the baseline and the candidates", file=sys.stderr)
            return 2
    write_json(args.out / f"{args.name}.json", {"rows": rows, "meta": meta})
    atomic_write_text(args.out / f"{args.name}.md", markdown(rows, meta))
    print((args.out / f"{args.name}.md").read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
