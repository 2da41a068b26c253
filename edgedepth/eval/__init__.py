"""Evaluation: Eigen depth metrics (monodepth2 protocol), mIoU, error by distance and on boundaries, reports.

Importing this package needs only numpy (torch is imported when ``evaluate`` runs), so the deploy
half (bench) can use the metrics without the training stack.
"""
from edgedepth.eval.evaluate import evaluate
from edgedepth.eval.metrics import (
    METRIC_KEYS,
    boundary_mask,
    confusion_matrix,
    crop_mask,
    depth_metrics,
    miou_from_confusion,
)
from edgedepth.eval.report import save_grid_png, write_eval_json, write_eval_markdown

__all__ = [
    "METRIC_KEYS",
    "boundary_mask",
    "confusion_matrix",
    "crop_mask",
    "depth_metrics",
    "evaluate",
    "miou_from_confusion",
    "save_grid_png",
    "write_eval_json",
    "write_eval_markdown",
]

