"""Write benchmark reports: JSON (DESIGN.md schema), CSV, a Markdown table and plots.

A report is the dict ``run_bench`` returns: ``{"device": {...}, "settings": {...}, "results": [...]}``.
Each result has the DESIGN.md keys ``name backend precision batch latency_ms throughput_fps
peak_memory_mb`` plus optional ones (``device_latency_ms``, ``peak_device_memory_mb``, ``power``,
``accuracy``, ``speedup_vs_first``). Keys starting with ``_`` (raw samples) stay in memory only.
"""
from __future__ import annotations

import csv
import io
import os
import shlex
import sys
from pathlib import PurePath
from typing import Any, Sequence

from edgedepth.utils.io import atomic_write_bytes, atomic_write_text, write_json

CSV_COLUMNS = (
    "name", "backend", "precision", "batch", "latency_mean_ms", "latency_std_ms", "latency_min_ms",
    "latency_p50_ms", "latency_p90_ms", "latency_p95_ms", "latency_p99_ms", "latency_max_ms",
    "throughput_fps", "peak_memory_mb", "peak_device_memory_mb", "device_latency_p50_ms",
    "mean_power_w", "energy_per_frame_mj", "abs_rel", "speedup_vs_first",
)


def public(report: dict) -> dict:
    """The report without in-memory keys (those starting with ``_``), ready for JSON."""
    return {
        **{k: v for k, v in report.items() if k != "results"},
        "results": [{k: v for k, v in r.items() if not k.startswith("_")} for r in report["results"]],
    }


def command_line(script: str | os.PathLike, argv: Sequence[str] | None = None) -> str:
    """The command a reader types to re-run a benchmark script, for its report: ``python benchmarks/NAME ARGS``.

    ``script`` is the script's ``__file__`` (only its name is kept, so no path of the machine that ran it ends
    up in a committed result); ``argv`` its arguments (default: this process's), each quoted for a POSIX shell."""
    args = list(sys.argv[1:] if argv is None else argv)
    return shlex.join(["python", f"benchmarks/{PurePath(script).name}", *map(str, args)])


def save_json(report: dict, path: str | os.PathLike) -> None:
    write_json(path, public(report))


def _row(r: dict) -> dict[str, Any]:
    lat, power, acc = r["latency_ms"], r.get("power") or {}, r.get("accuracy") or {}
    return {
        "name": r["name"], "backend": r["backend"], "precision": r["precision"], "batch": r["batch"],
        **{f"latency_{k}_ms": lat[k] for k in ("mean", "std", "min", "p50", "p90", "p95", "p99", "max")},
        "throughput_fps": r["throughput_fps"], "peak_memory_mb": r.get("peak_memory_mb"),
        "peak_device_memory_mb": r.get("peak_device_memory_mb"),
        "device_latency_p50_ms": (r.get("device_latency_ms") or {}).get("p50"),
        "mean_power_w": power.get("mean_power_w"), "energy_per_frame_mj": power.get("energy_per_frame_mj"),
        "abs_rel": acc.get("abs_rel"), "speedup_vs_first": r.get("speedup_vs_first"),
    }


def to_csv(report: dict) -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=CSV_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for r in report["results"]:
        writer.writerow({k: ("" if v is None else v) for k, v in _row(r).items()})
    return buf.getvalue()


def _fmt(v: Any, digits: int = 2) -> str:
    if v is None:
        return "–"
    return f"{v:.{digits}f}" if isinstance(v, float) else str(v)


def device_line(device: dict) -> str:
    """One line naming the machine: GPU or Jetson model, CPU, threads."""
    parts = []
    if jetson := device.get("jetson"):
        mode = (jetson.get("power_mode") or {}).get("mode")
        parts.append(f"{jetson.get('model')} (L4T {jetson.get('l4t')}, JetPack {jetson.get('jetpack')}, "
                     f"power mode {mode}, clocks locked: {jetson.get('clocks_locked')})")
    elif gpu := device.get("gpu"):
        parts.append(f"{gpu.get('name')} (driver {gpu.get('driver')}, CUDA {gpu.get('cuda')})")
    cpu = device.get("cpu") or {}
    load = f" (1-min load average {cpu['load_average_1min']} during the run)" if cpu.get("load_average_1min") else ""
    parts.append(f"CPU {cpu.get('model')}, {cpu.get('threads')} threads{load}")
    versions = ", ".join(f"{k} {v}" for k, v in (device.get("versions") or {}).items() if v)
    return "; ".join(parts) + (f"; {versions}" if versions else "")


def to_markdown(report: dict) -> str:
    """A Markdown table, one row per (model, batch); GPU/power/accuracy columns only when measured."""
    results = report["results"]
    optional = [
        ("GPU p50 ms (no copies)", lambda r: (r.get("device_latency_ms") or {}).get("p50")),
        ("GPU MB", lambda r: r.get("peak_device_memory_mb")),
        ("W", lambda r: (r.get("power") or {}).get("mean_power_w")),
        ("mJ/frame", lambda r: (r.get("power") or {}).get("energy_per_frame_mj")),
        ("AbsRel", lambda r: (r.get("accuracy") or {}).get("abs_rel")),
        ("speed-up vs first", lambda r: r.get("speedup_vs_first")),
    ]
    optional = [(h, f) for h, f in optional if any(f(r) is not None for r in results)]
    head = ["model", "backend", "precision", "batch", "mean ms", "std", "p50", "p95", "p99", "FPS",
            "host MB"] + [h for h, _ in optional]
    lines = [f"Device: {device_line(report.get('device') or {})}", "",
             "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in results:
        lat = r["latency_ms"]
        cells = [r["name"], r["backend"], r["precision"], str(r["batch"]), _fmt(lat["mean"]), _fmt(lat["std"]),
                 _fmt(lat["p50"]), _fmt(lat["p95"]), _fmt(lat["p99"]), _fmt(r["throughput_fps"], 1),
                 _fmt(r.get("peak_memory_mb"), 0)]
        cells += [_fmt(f(r), 3 if h == "AbsRel" else 2) for h, f in optional]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def _pyplot():
    import matplotlib  # lazily: plots are optional and the deploy install may not have matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path: str | os.PathLike) -> None:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=120, bbox_inches="tight")
    atomic_write_bytes(path, buf.getvalue())


def _label(r: dict) -> str:
    return f"{r['name']} {r['backend']}/{r['precision']} b{r['batch']}"


def plot_latency_histogram(report: dict, path: str | os.PathLike) -> None:
    """Per-call host latency histograms: one panel per batch size, one colour per model."""
    import numpy as np

    plt = _pyplot()
    kept = [r for r in report["results"] if r.get("_samples_ms")]
    batches = sorted({r["batch"] for r in kept}) or [1]
    fig, axes = plt.subplots(1, len(batches), figsize=(4.5 * len(batches), 3.6), squeeze=False)
    for ax, batch in zip(axes[0], batches):
        rows = [r for r in kept if r["batch"] == batch]
        values = np.concatenate([r["_samples_ms"] for r in rows]) if rows else np.zeros(1)
        bins = np.linspace(values.min(), values.max() + 1e-6, 30)  # shared bins: shapes compare directly
        for r in rows:
            ax.hist(r["_samples_ms"], bins=bins, alpha=0.55, label=f"{r['name']} {r['backend']}/{r['precision']}")
        ax.set_title(f"batch {batch}")
        ax.set_xlabel("latency per call (ms)")
    axes[0][0].set_ylabel("calls")
    axes[0][0].legend(fontsize=7)
    fig.tight_layout()
    _save(fig, path)
    plt.close(fig)


def plot_accuracy_vs_latency(report: dict, path: str | os.PathLike) -> None:
    """AbsRel against p50 latency (smallest batch of each model): the precision/backend trade-off."""
    plt = _pyplot()
    first_batch: dict[str, dict] = {}
    for r in report["results"]:
        if (r.get("accuracy") or {}).get("abs_rel") is not None:
            key = f"{r['name']}|{r['backend']}|{r['precision']}"
            if key not in first_batch or r["batch"] < first_batch[key]["batch"]:
                first_batch[key] = r
    fig, ax = plt.subplots(figsize=(6, 4))
    for r in first_batch.values():
        x, y = r["latency_ms"]["p50"], r["accuracy"]["abs_rel"]
        ax.scatter([x], [y])
        ax.annotate(f"{r['name']} {r['backend']}/{r['precision']}", (x, y), fontsize=7,
                    xytext=(4, 4), textcoords="offset points")
    ax.set_xlabel("p50 latency, batch 1 (ms)")
    ax.set_ylabel("AbsRel (lower is better)")
    if not first_batch:
        ax.text(0.5, 0.5, "no accuracy measured (use --accuracy-data)", ha="center", transform=ax.transAxes)
    _save(fig, path)
    plt.close(fig)


def save_all(report: dict, *, json_path=None, csv_path=None, markdown_path=None, plot_path=None) -> list[str]:
    """Write every requested output; the plot path gets a sibling ``*_accuracy.png``. Returns paths."""
    written = []
    if json_path:
        save_json(report, json_path)
        written.append(str(json_path))
    if csv_path:
        atomic_write_text(csv_path, to_csv(report))
        written.append(str(csv_path))
    if markdown_path:
        atomic_write_text(markdown_path, to_markdown(report))
        written.append(str(markdown_path))
    if plot_path:
        plot_latency_histogram(report, plot_path)
        root, ext = os.path.splitext(str(plot_path))
        plot_accuracy_vs_latency(report, f"{root}_accuracy{ext or '.png'}")
        written += [str(plot_path), f"{root}_accuracy{ext or '.png'}"]
    return written
