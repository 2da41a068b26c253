"""Tables, goal verdicts and the generated analysis of benchmarks/da_ablation.py's runs (nothing typed by hand).

Two reports: the ablation (every variant at one budget; seeds used for choosing the recipe, and seeds never
used for it, in separate tables) and the learning curves (target AbsRel and gap closed at several step counts).
"""
from __future__ import annotations

import statistics
from pathlib import Path

METRICS = ("abs_rel", "sq_rel", "rmse", "a1")
GOAL_FULL, GOAL_SEMANTIC = 0.80, 0.05  # gap closed by full_curriculum; adversarial_semantic - adversarial
GOAL_NEAR_VS_ORACLE = 0.10  # the 0-10 m bin of full_curriculum within 10 % of the oracle's
FLAT = 0.03  # a curve "flattens" where doubling the steps changes target AbsRel by less than 3 %
NEAR_BIN = "0-10"  # the distance bin (metres) the near-range goals and curves look at
SEED_SPREAD = 0.02  # seed std of target AbsRel above which the report lists every seed's curve


def mean_std(values: list[float]) -> tuple[float, float]:
    return statistics.mean(values), statistics.stdev(values) if len(values) > 1 else 0.0


def gap_closed_per_seed(runs: list[dict], variant: str, key: str = "abs_rel") -> list[float]:
    """(source_only - variant) / (source_only - oracle) in target AbsRel, paired within each seed."""
    by = {(r["variant"], r["seed"]): r[key] for r in runs}
    seeds = sorted({r["seed"] for r in runs})
    return [(by[("source_only", s)] - by[(variant, s)]) / (by[("source_only", s)] - by[("oracle", s)])
            for s in seeds if all(k in by for k in (("source_only", s), ("oracle", s), (variant, s)))]


def summarise(runs: list[dict], variants) -> dict:
    table = {}
    for variant in variants:
        rows = [r for r in runs if r["variant"] == variant]
        if not rows:
            continue
        entry = {k: mean_std([r[k] for r in rows]) for k in (*METRICS, "boundary_abs_rel", "interior_abs_rel")}
        entry["bins"] = {b: mean_std([r["bins"][b] for r in rows if r["bins"].get(b) is not None]) for b in rows[0]["bins"]}
        gaps = gap_closed_per_seed(runs, variant)
        entry["gap_closed"] = mean_std(gaps) if gaps else None
        entry["seeds"] = sorted(r["seed"] for r in rows)
        table[variant] = entry
    return table


def _paired(runs: list[dict], a: str, b: str) -> tuple[float, float] | None:
    """Mean ± std over seeds of gap_closed(a) - gap_closed(b)."""
    ga, gb = gap_closed_per_seed(runs, a), gap_closed_per_seed(runs, b)
    return mean_std([x - y for x, y in zip(ga, gb)]) if ga and len(ga) == len(gb) else None


def _verdict(diff: tuple[float, float] | None) -> str:
    if diff is None:
        return "not measured"
    mean, std = diff
    if abs(mean) <= std:
        return f"{mean * 100:+.1f} ± {std * 100:.1f} points: within seed noise"
    return f"{mean * 100:+.1f} ± {std * 100:.1f} points: {'helps' if mean > 0 else 'hurts'}"


def _domain_gap(runs: list[dict], table: dict) -> list[str]:
    src = [r for r in runs if r["variant"] == "source_only"]
    if not (src and all(r.get("source_domain_abs_rel") for r in src)):
        return []
    ratio = mean_std([r["abs_rel"] / r["source_domain_abs_rel"] for r in src])
    return [f"- **Domain gap**: source_only scores AbsRel {mean_std([r['source_domain_abs_rel'] for r in src])[0]:.3f} on "
            f"the source test set and {table['source_only']['abs_rel'][0]:.3f} on the target test set: "
            f"{ratio[0]:.2f}× ± {ratio[1]:.2f} (the target must stay at least 2× harder: "
            f"{'yes' if ratio[0] - ratio[1] >= 2 else 'NO'})."]


def analysis(runs: list[dict], table: dict) -> list[str]:
    """The findings, written from the numbers."""
    lines = ["## What the numbers say (generated)", ""] + _domain_gap(runs, table)
    for name, (a, b) in {"the cycle loss": ("cycle", "source_only"), "the adversarial loss": ("adversarial", "cycle"),
                         "semantics (S on D's encoder, its cross-entropy, its features shown to F)": ("adversarial_semantic", "adversarial"),
                         "the curriculum": ("full_curriculum", "adversarial_semantic")}.items():
        if a in table and b in table:
            lines.append(f"- Adding {name} ({a} vs {b}), gap closed: {_verdict(_paired(runs, a, b))}.")
    full = (table.get("full_curriculum") or {}).get("gap_closed")
    if full:
        lines.append(f"- **Goal**, full_curriculum closes ≥ {GOAL_FULL:.0%} of the gap: {full[0]:.1%} ± {full[1]:.1%} — "
                     + ("met." if full[0] >= GOAL_FULL else f"NOT met, {GOAL_FULL - full[0]:.1%} short."))
    sem = _paired(runs, "adversarial_semantic", "adversarial")
    if sem:
        lines.append(f"- **Goal**, adversarial_semantic beats adversarial by ≥ {GOAL_SEMANTIC * 100:.0f} points: "
                     f"{sem[0] * 100:+.1f} ± {sem[1] * 100:.1f} points — "
                     + ("met." if sem[0] >= GOAL_SEMANTIC else f"NOT met, {_points(GOAL_SEMANTIC - sem[0])} points short."))
    return lines + _near_range(table) + _where_gained(table) + [""]


def _points(shortfall: float) -> str:
    """A shortfall in points of the gap: one decimal, or two where one would print 0.0."""
    points = shortfall * 100
    return f"{points:.1f}" if points >= 0.05 else f"{points:.2f}"


def _near_range(table: dict) -> list[str]:
    """Goals by distance: no bin of full_curriculum worse than source_only's, the 0-10 m bin near the oracle's."""
    full, src, oracle = (table.get(v) for v in ("full_curriculum", "source_only", "oracle"))
    if not (full and src):
        return []
    worse = {b: full["bins"][b][0] / src["bins"][b][0] - 1 for b in src["bins"] if full["bins"][b][0] > src["bins"][b][0]}
    lines = ["- **Goal**, no distance bin of full_curriculum worse than source_only's (mean of the seeds): "
             + ("met." if not worse else "NOT met: " + ", ".join(f"{b} m {w:+.1%}" for b, w in worse.items()) + ".")]
    # Where even the oracle (target labels) is worse than source_only, the goal asks for more than supervision gives.
    above = {b: oracle["bins"][b][0] / src["bins"][b][0] - 1 for b in worse if oracle and oracle["bins"][b][0] > src["bins"][b][0]}
    if above:
        lines.append("  The oracle, trained with the target's own depth labels, is worse than source_only there too ("
                     + ", ".join(f"{b} m {w:+.1%}" for b, w in above.items())
                     + "): at this budget that bin's goal lies beyond what supervision on the target reaches.")
    if oracle:
        near = next(iter(src["bins"]))
        ratio = full["bins"][near][0] / oracle["bins"][near][0] - 1
        lines.append(f"- **Goal**, the {near} m bin of full_curriculum within {GOAL_NEAR_VS_ORACLE:.0%} of the oracle's: "
                     f"{full['bins'][near][0]:.4f} vs {oracle['bins'][near][0]:.4f} ({ratio:+.1%}) — "
                     + ("met." if ratio <= GOAL_NEAR_VS_ORACLE else "NOT met."))
    return lines


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


def _fmt(t) -> str:
    return f"{t[0]:.4f} ± {t[1]:.4f}" if t else "–"


def tables(table: dict, title: str) -> list[str]:
    bins = list(next(iter(table.values()))["bins"])
    lines = [title, "", "| variant | AbsRel ↓ | RMSE ↓ | δ<1.25 ↑ | AbsRel boundary | AbsRel interior | gap closed |",
             "|---|---|---|---|---|---|---|"]
    for variant, m in table.items():
        g = m.get("gap_closed")
        lines.append(f"| {variant} | {_fmt(m['abs_rel'])} | {_fmt(m['rmse'])} | {_fmt(m['a1'])} | {_fmt(m['boundary_abs_rel'])} | "
                     f"{_fmt(m['interior_abs_rel'])} | {'' if g is None else f'{g[0]:.1%} ± {g[1]:.1%}'} |")
    lines += ["", "AbsRel by ground-truth distance (metres):", "", "| variant | " + " | ".join(bins) + " |", "|---|" + "---|" * len(bins)]
    return lines + [f"| {v} | " + " | ".join(_fmt(m["bins"].get(b)) for b in bins) + " |" for v, m in table.items()] + [""]


def reused_lines(runs: list[dict]) -> list[str]:
    """Which rows this run took from earlier result files (same config digest) instead of training them."""
    by_file: dict[str, dict[str, list[int]]] = {}
    for r in runs:
        if r.get("reused_from"):
            by_file.setdefault(r["reused_from"], {}).setdefault(r["variant"], []).append(r["seed"])
    if not by_file:
        return []
    parts = [", ".join(f"{v} (seed{'s' if len(seeds) > 1 else ''} {', '.join(map(str, sorted(seeds)))})" for v, seeds in variants.items()) + f" from {name}"
             for name, variants in by_file.items()]
    return ["Not trained again (taken from earlier results whose config digest, the resolved config of the run and of its "
            "warm start, equals this run's; the time below is the rest): " + "; ".join(parts) + ".", ""]


def markdown(runs: list[dict], meta: dict, variants) -> str:
    chosen = [r for r in runs if not r.get("unseen")]
    unseen = [r for r in runs if r.get("unseen")]
    lines = [
        "# Domain-adaptation ablation (synthetic source → synthetic target)", "",
        f"Seeds {meta['seeds']} (each its own initialisation and data; the recipe was chosen on these), mean ± std; "
        f"{meta['budget']} at {meta['size'][0]}×{meta['size'][1]}, batch {meta['batch_size']}. Gap closed = (source_only − variant) / "
        "(source_only − oracle) in target AbsRel, per seed, then mean ± std.", "",
    ]
    lines += tables(summarise(chosen, variants), f"## Seeds {meta['seeds']}")
    if unseen:
        lines += tables(summarise(unseen, variants), f"## Seeds {meta.get('unseen_seeds')}, never used for choosing the recipe")
    lines += [f"![gap closed by variant]({meta['name']}.png)", ""] + analysis(chosen, summarise(chosen, variants))
    if unseen:
        lines += ["### The same, on the unseen seeds (generated)", ""] + analysis(unseen, summarise(unseen, variants))[2:]
    lines += reused_lines(runs) + [f"Machine: {meta['machine']}; {meta['jobs']} processes × {meta['threads']} threads; torch {meta['torch']}, "
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


# ---------------------------------------------------------------- learning curves


def curve_table(curves: list[dict]) -> dict:
    """variant -> step -> {abs_rel, gap_closed, train_seconds} (mean, std over seeds)."""
    steps = sorted({p["step"] for c in curves for p in c["curve"]})
    out: dict[str, dict] = {}
    for variant in dict.fromkeys(c["variant"] for c in curves):
        out[variant] = {}
        for step in steps:
            rows = [{"variant": c["variant"], "seed": c["seed"], "abs_rel": p["abs_rel"]}
                    for c in curves for p in c["curve"] if p["step"] == step]
            mine = [r["abs_rel"] for r in rows if r["variant"] == variant]
            if not mine:
                continue
            gaps = gap_closed_per_seed(rows, variant)
            secs = [p["train_seconds"] for c in curves if c["variant"] == variant for p in c["curve"] if p["step"] == step]
            out[variant][step] = {"abs_rel": mean_std(mine), "gap_closed": mean_std(gaps) if gaps else None,
                                  "train_seconds": statistics.mean(secs)}
    return out


def _trend(points: dict) -> str:
    """Where a curve of mean target AbsRel flattens, improves or gets worse (FLAT: relative change per interval)."""
    steps = sorted(points)
    means = [points[s]["abs_rel"][0] for s in steps]
    changes = [1 - b / a for a, b in zip(means, means[1:])]  # > 0: AbsRel fell (better)
    if changes[-1] >= FLAT:
        return f"still improving at {steps[-1]} steps ({changes[-1]:.1%} lower over the last interval)."
    if changes[-1] <= -FLAT:
        best = min(range(len(steps)), key=means.__getitem__)
        return (f"getting worse: best at {steps[best]} steps ({means[best]:.3f}), {-changes[-1]:.1%} higher over "
                "the last interval.")
    flat_from = steps[min(j for j in range(len(changes)) if all(abs(c) < FLAT for c in changes[j:]))]
    return f"flattens by {flat_from} steps (every later interval within {FLAT:.0%})."


def curve_bin_table(curves: list[dict], name: str) -> dict:
    """variant -> step -> (mean, std) of one distance bin's AbsRel over the seeds (empty where runs lack it)."""
    out: dict[str, dict] = {}
    for c in curves:
        for p in c["curve"]:
            if name in p.get("bins", {}):
                out.setdefault(c["variant"], {}).setdefault(p["step"], []).append(p["bins"][name])
    return {v: {s: mean_std(vals) for s, vals in sorted(steps.items())} for v, steps in out.items()}


def curve_analysis(table: dict, curves: list[dict] | None = None) -> list[str]:
    lines = ["## What the curves say (generated)", ""]
    for variant, points in table.items():
        steps = sorted(points)
        if len(steps) < 2:
            continue
        lines.append(f"- {variant}: target AbsRel " + " → ".join(f"{points[s]['abs_rel'][0]:.3f}" for s in steps)
                     + f" at {', '.join(map(str, steps))} steps; " + _trend(points))
    for variant, points in table.items():  # seeds that disagree: the mean hides which way each went
        last = max(points)
        if curves and points[last]["abs_rel"][1] > SEED_SPREAD:
            per_seed = {c["seed"]: [p["abs_rel"] for p in sorted(c["curve"], key=lambda p: p["step"])]
                        for c in curves if c["variant"] == variant}
            lines.append(f"- {variant}: the seeds disagree (std {points[last]['abs_rel'][1]:.3f} at {last} steps): "
                         + "; ".join(f"seed {k} " + " → ".join(f"{v:.3f}" for v in vals) for k, vals in per_seed.items()) + ".")
    order = [sorted((v for v in table if s in table[v]), key=lambda v: table[v][s]["abs_rel"][0])
             for s in sorted({s for p in table.values() for s in p})]
    same = all(o == order[-1] for o in order)
    lines.append(f"- Ordering by target AbsRel at every step count: {' < '.join(order[-1])} — "
                 + ("the same at every step count." if same else
                    "changes along the way: " + "; ".join(" < ".join(o) for o in order) + "."))
    return lines + [""]


def curve_markdown(curves: list[dict], meta: dict) -> str:
    table = curve_table(curves)
    steps = sorted({s for p in table.values() for s in p})
    lines = ["# Learning curves (synthetic source → synthetic target)", "",
             f"Seeds {meta['seeds']}; every variant trained once from scratch to {steps[-1]} steps (cosine schedule over the "
             f"whole run) and evaluated on its seed's target test set at {', '.join(map(str, steps))} steps; "
             f"{meta['size'][0]}×{meta['size'][1]}, batch {meta['batch_size']}. Gap closed is paired per seed at each step count.", "",
             "| variant | " + " | ".join(f"{s} steps: AbsRel / gap closed" for s in steps) + " |", "|---|" + "---|" * len(steps)]
    for variant, points in table.items():
        cells = []
        for s in steps:
            p = points.get(s)
            g = p and p["gap_closed"]
            cells.append("–" if not p else f"{p['abs_rel'][0]:.4f} ± {p['abs_rel'][1]:.4f} / " + (f"{g[0]:.1%}" if g else "–"))
        lines.append(f"| {variant} | " + " | ".join(cells) + " |")
    near = curve_bin_table(curves, NEAR_BIN)
    if near:
        lines += ["", f"AbsRel in the {NEAR_BIN} m bin (mean ± std of the seeds):", "",
                  "| variant | " + " | ".join(f"{s} steps" for s in steps) + " |", "|---|" + "---|" * len(steps)]
        lines += [f"| {v} | " + " | ".join(f"{near[v][s][0]:.4f} ± {near[v][s][1]:.4f}" if s in near[v] else "–" for s in steps)
                  + " |" for v in near]
    lines += ["", f"![learning curves]({meta['name']}.png)", ""] + curve_analysis(table, curves)
    lines += reused_lines(curves) + [f"Machine: {meta['machine']}; {meta['jobs']} processes × {meta['threads']} threads; torch {meta['torch']}, "
              f"edgedepth {meta['edgedepth']}; {meta['hours']:.1f} h.", "", f"Command: `{meta['command']}`", ""]
    if meta.get("note"):
        lines += [meta["note"], ""]
    return "\n".join(lines)


def curve_plot(curves: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    table = curve_table(curves)
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 3.8))
    for i, (variant, points) in enumerate(table.items()):
        steps = sorted(points)
        color = f"C{i}"  # one colour per variant in both panels
        left.errorbar(steps, [points[s]["abs_rel"][0] for s in steps], yerr=[points[s]["abs_rel"][1] for s in steps],
                      marker="o", capsize=3, label=variant, color=color)
        gaps = [(s, points[s]["gap_closed"]) for s in steps if points[s]["gap_closed"] and variant not in ("source_only", "oracle")]
        if gaps:
            right.plot([s for s, _ in gaps], [g[0] * 100 for _, g in gaps], marker="o", label=variant, color=color)
    for ax, label in ((left, "target AbsRel"), (right, "gap closed (%)")):
        ax.set_xscale("log")
        ax.set_xlabel("training steps")
        ax.set_ylabel(label)
        ax.legend(fontsize=7)
    right.axhline(GOAL_FULL * 100, color="#c44e52", linestyle="--")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
