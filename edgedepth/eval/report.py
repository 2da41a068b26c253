"""Write evaluation results: JSON, a Markdown report, a plain-text table, and a PNG sample grid."""
from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from edgedepth.eval.metrics import METRIC_KEYS
from edgedepth.imaging import colorize
from edgedepth.utils.io import atomic_open, atomic_write_text, write_json

# Keys of evaluate()'s result that hold arrays for the grid, not numbers for the report.
_NOT_JSON = ("grid",)

# matplotlib's "magma" sampled at 9 points (dark = far/low, bright = near/high), interpolated linearly.


def json_ready(result: dict) -> dict:
    """The result without array fields, with NaN/inf turned into None and numpy scalars into Python."""

    def clean(x: Any) -> Any:
        if isinstance(x, dict):
            return {str(k): clean(v) for k, v in x.items()}
        if isinstance(x, (list, tuple)):
            return [clean(v) for v in x]
        if isinstance(x, np.generic):
            x = x.item()
        if isinstance(x, float) and not math.isfinite(x):
            return None
        return x

    return clean({k: v for k, v in result.items() if k not in _NOT_JSON})


def write_eval_json(path: str | Path, result: dict) -> None:
    """Write ``result`` (from :func:`edgedepth.eval.evaluate`) as JSON, atomically."""
    write_json(path, json_ready(result))


def _row(cells: list[str]) -> str:
    return "| " + " | ".join(cells) + " |"


def _fmt(m: dict | None, key: str) -> str:
    return "–" if m is None else f"{m[key]:.4f}"


def markdown_report(result: dict, *, title: str = "Depth evaluation") -> str:
    """The result as Markdown: overall metrics, by distance bin, boundary vs interior, and mIoU."""
    lines = [f"# {title}", "", f"Images with depth labels: {result['num_images']}", ""]
    settings = result.get("settings") or {}
    if settings:
        lines += [f"- {k}: {v}" for k, v in settings.items()] + [""]
    header = _row(["region", *METRIC_KEYS, "pixels"])
    rule = _row(["---"] * (len(METRIC_KEYS) + 2))
    lines += ["## Depth (lower is better for abs_rel … rmse_log, higher for a1–a3)", "", header, rule]
    lines.append(_row(["all images", *(_fmt(result["metrics"], k) for k in METRIC_KEYS), "–"]))
    rows = [(f"{name} m", m) for name, m in result.get("bins", {}).items()]
    rows += [(name, result.get(name)) for name in ("boundary", "interior")]
    for name, m in rows:
        lines.append(_row([name, *(_fmt(m, k) for k in METRIC_KEYS), "0" if m is None else str(m["num_pixels"])]))
    lines.append("")
    if result.get("median_scaling"):
        ms = result["median_scaling"]
        lines += [f"Median scaling ratio: {ms['ratio_mean']:.3f} ± {ms['ratio_std']:.3f}", ""]
    if result.get("miou") is not None:
        lines += ["## Segmentation", "", f"mIoU: {result['miou']:.4f}", "", _row(["class", "IoU"]), _row(["---", "---"])]
        lines += [_row([c, "–" if v is None else f"{v:.4f}"]) for c, v in result["per_class_iou"].items()]
        lines.append("")
    return "\n".join(lines)


def write_eval_markdown(path: str | Path, result: dict, *, title: str = "Depth evaluation") -> None:
    atomic_write_text(path, markdown_report(result, title=title))


def text_table(result: dict) -> str:
    """A compact plain-text table for the terminal."""
    names = ["all"] + list(result.get("bins", {})) + ["boundary", "interior"]
    values = [result["metrics"]] + list(result.get("bins", {}).values()) + [result.get("boundary"), result.get("interior")]
    lines = [f"{'':>10}" + "".join(f"{k:>10}" for k in METRIC_KEYS)]
    for name, m in zip(names, values):
        lines.append(f"{name:>10}" + "".join(f"{_fmt(m, k):>10}" for k in METRIC_KEYS))
    if result.get("miou") is not None:
        lines.append(f"mIoU {result['miou']:.4f}")
    lines.append(f"images: {result['num_images']}")
    return "\n".join(lines)


# ---------------------------------------------------------------- PNG grid


def grid_image(images: Any, gt: Any, pred: Any, *, pad: int = 2) -> np.ndarray:
    """[rows*(H+pad), 4*(W+pad), 3] uint8: image | ground truth | prediction | |error| per sample.

    images [N,3,H,W] in [0,1]; gt, pred [N,H,W] or [N,1,H,W] metres (gt 0 = unknown). Depth is
    shown as inverse depth (near = bright) on one scale per row, shared by gt and prediction;
    the error is |pred - gt| on labelled pixels, scaled to the row's largest error.
    """
    from edgedepth.eval.metrics import to_numpy

    images, gt, pred = to_numpy(images), to_numpy(gt), to_numpy(pred)
    n, _, h, w = images.shape
    gt, pred = gt.reshape(n, h, w), pred.reshape(n, h, w)
    canvas = np.full((n * (h + pad) - pad, 4 * (w + pad) - pad, 3), 255, dtype=np.uint8)
    for i in range(n):
        known = gt[i] > 0
        inv_gt = np.where(known, 1.0 / np.maximum(gt[i], 1e-6), 0.0)
        inv_pred = 1.0 / np.maximum(pred[i], 1e-6)
        ref = inv_gt[known] if known.any() else inv_pred.ravel()
        lo, hi = float(np.percentile(ref, 1)), float(np.percentile(ref, 99))
        err = np.abs(pred[i] - gt[i]) * known
        tiles = [
            (np.clip(images[i].transpose(1, 2, 0), 0, 1) * 255).round().astype(np.uint8),
            colorize(inv_gt, lo, hi, known),
            colorize(inv_pred, lo, hi),
            colorize(err, 0.0, float(err.max()) if known.any() else 1.0, known),
        ]
        y = i * (h + pad)
        for j, tile in enumerate(tiles):
            x = j * (w + pad)
            canvas[y:y + h, x:x + w] = tile
    return canvas


def save_grid_png(path: str | Path, images: Any, gt: Any, pred: Any) -> None:
    """Write :func:`grid_image` as a PNG, atomically."""
    from PIL import Image

    canvas = grid_image(images, gt, pred)
    with atomic_open(path, "wb") as f:
        Image.fromarray(canvas).save(f, format="PNG")
