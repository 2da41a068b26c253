"""Supervised losses: L1 depth on labelled pixels and cross-entropy segmentation."""
from __future__ import annotations

import torch
import torch.nn.functional as F

from edgedepth.data.sample import IGNORE_INDEX


def depth_l1(pred: torch.Tensor, gt: torch.Tensor, *, space: str = "metric") -> torch.Tensor:
    """Mean |pred - gt| over labelled pixels (gt > 0); pred, gt [B,1,H,W] metres.

    ``space="log"`` compares log depths instead: an error of 10 % then weighs the same at 3 m and at
    60 m, where in metres the far pixels outweigh the near ones by their distance.
    Returns a zero that still carries the graph when no pixel is labelled, so a batch without
    labels does not break the backward pass.
    """
    labelled = gt > 0
    if space == "log":
        pred, gt = pred.clamp(min=1e-3).log(), torch.where(labelled, gt, torch.ones_like(gt)).log()
    diff = torch.where(labelled, (pred - gt).abs(), torch.zeros_like(pred))
    return diff.sum() / labelled.sum().clamp(min=1)


def segmentation_ce(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Cross-entropy of logits [B,K,H,W] against trainIds [B,H,W] (int64), ignoring 255.

    Zero (with graph) when every pixel is ignored, instead of PyTorch's NaN.
    """
    labelled = labels != IGNORE_INDEX
    per_pixel = F.cross_entropy(logits, labels, ignore_index=IGNORE_INDEX, reduction="none")
    return per_pixel.sum() / labelled.sum().clamp(min=1)
