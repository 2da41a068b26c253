"""report.md for `edgedepth demo`: the numbers of every stage and the pictures, in one page."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from edgedepth.utils.io import atomic_write_text

LOSS_KEYS = ("total", "depth", "cycle", "adv", "seg", "disc")


def _load(path: Path) -> Any:
    return json.loads(path.read_text()) if path.is_file() else None


def plot_losses(history: list[dict], path: Path) -> Path | None:
    """Training loss curves (log scale) as a PNG."""
    if not history:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 3.5), dpi=110)
    steps = [h["step"] for h in history]
    for key in LOSS_KEYS:
        values = [h.get(key) for h in history]
        if all(v is not None and v > 0 for v in values):
            ax.plot(steps, values, label=key, linewidth=1.2)
    ax.set_yscale("log")
    ax.set_xlabel("step")
    ax.set_ylabel("loss")
    ax.set_title("training losses")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, ncol=3)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def _metrics_table(metrics: dict) -> list[str]:
    keys = ("abs_rel", "sq_rel", "rmse", "rmse_log", "a1", "a2", "a3")
    return ["| " + " | ".join(keys) + " |", "|" + "---|" * len(keys),
            "| " + " | ".join(f"{metrics[k]:.4f}" for k in keys) + " |"]


def write_report(out: Path, *, stage_seconds: dict[str, float], total_seconds: float) -> Path:
    from edgedepth.backends.container import read_engine_header

    history = _load(out / "train" / "history.json") or []
    summary = _load(out / "train" / "summary.json") or {}
    evaluation = _load(out / "eval.json") or {}
    infer = _load(out / "infer" / "summary.json") or {}
    header = read_engine_header(out / "model.engine")
    curve = plot_losses(history, out / "losses.png")

    lines = ["# edgedepth demo report", "",
             f"Whole flow on the built-in synthetic world in **{total_seconds:.0f} s**. Stage times: "
             + ", ".join(f"{k} {v:.0f} s" for k, v in stage_seconds.items()) + ".", ""]
    lines += ["## Data", "", "Synthetic target domain (left to right: image, depth, semantics):", "", "![preview](preview.png)", ""]
    lines += ["## Training", "", f"{summary.get('steps', len(history))} steps in {summary.get('seconds', 0):.0f} s "
              "(source labelled, target through the cycle and adversarial losses, curriculum on)."]
    if history:
        last = history[-1]
        lines.append("Last step: " + ", ".join(f"{k} {last[k]:.4g}" for k in LOSS_KEYS if k in last) + ".")
    if curve:
        lines += ["", "![losses](losses.png)"]
    lines += [""]
    if evaluation.get("metrics"):
        lines += ["## Evaluation (held-out synthetic target test set)", ""] + _metrics_table(evaluation["metrics"])
        if evaluation.get("miou") is not None:
            lines += ["", f"Semantic mIoU: {evaluation['miou']:.3f}"]
        lines += ["", "image | ground truth | prediction | error:", "", "![eval grid](eval_grid.png)", ""]
    lines += ["## Engine", "", f"`model.engine`: backend {header.get('backend')}, precision {header.get('precision')}, "
              f"input {header.get('input_shape')}, built with {header.get('backend')} {header.get('backend_version')} "
              f"on {header.get('device', {}).get('name', 'this machine')}.", ""]
    bench_md = out / "bench.md"
    if bench_md.is_file():
        lines += ["## Benchmark", "", bench_md.read_text().strip(), ""]
        if (out / "bench.png").is_file():
            lines += ["![bench](bench.png)", ""]
    if infer:
        lat = infer.get("latency_ms", {})
        lines += ["## Inference on a synthetic video", "",
                  f"{infer.get('frames')} frames, {infer.get('dropped', 0)} dropped, {infer.get('fps', 0):.1f} FPS end to end"
                  + (f", latency p50 {lat['p50']:.1f} ms, p99 {lat['p99']:.1f} ms" if "p50" in lat else "") + ".",
                  "16-bit depth PNGs (millimetres) are in `infer/depth/`.", ""]
    path = out / "report.md"
    atomic_write_text(path, "\n".join(lines))
    return path
