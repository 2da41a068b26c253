"""Evaluation: Eigen depth metrics (monodepth2 protocol), mIoU, error by distance and on boundaries, reports.

Importing this package needs only numpy; ``evaluate`` (which runs a torch model) is loaded by name on
first use, so the deploy half (bench, which imports ``edgedepth.eval.metrics``) never reaches it.
"""
import importlib

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


def __getattr__(name):
    if name == "evaluate":  # the module is named apart from the function, so this stays the function
        globals()["evaluate"] = importlib.import_module("edgedepth.eval.evaluation").evaluate
        return globals()["evaluate"]
    raise AttributeError(f"module 'edgedepth.eval' has no attribute {name!r}")
