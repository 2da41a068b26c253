"""Cycle (photometric) loss: neighbour views warped into the target with the predicted depth.

Per view, ``edgedepth.kernels.photometric_error`` gives 0.85·(1−SSIM)/2 + 0.15·L1 and a validity
mask; the loss takes the per-pixel minimum over the views (occlusions and out-of-view pixels are
usually explained by some other view) and averages it over pixels valid in at least one view.
"""
from __future__ import annotations

import torch

from edgedepth import kernels
from edgedepth.errors import DataError


def cycle_loss(
    target: torch.Tensor,
    views_image: torch.Tensor,
    views_T: torch.Tensor,
    depth: torch.Tensor,
    K: torch.Tensor,
    *,
    kernel: str = "auto",
) -> torch.Tensor:
    """target [B,3,H,W], views_image [B,V,3,H,W], views_T [B,V,4,4] (target -> view camera),
    depth [B,1,H,W] metres, K [B,3,3] -> scalar.

    ``kernel`` picks the warp backend ("auto" | "fused" | "reference"). Zero (with graph) when no
    pixel is valid in any view.
    """
    if views_image.shape[1] == 0:
        raise DataError(
            "the cycle loss needs at least one neighbour view, but the batch has none",
            fix="use a dataset with stereo or temporal views (data.views), or set loss.cycle=0",
        )
    errors = []
    for v in range(views_image.shape[1]):
        err, valid = kernels.photometric_error(target, views_image[:, v], depth, views_T[:, v], K, backend=kernel)
        errors.append(torch.where(valid > 0, err, torch.full_like(err, float("inf"))))
    best = torch.stack(errors, dim=1).min(dim=1).values  # [B,1,H,W]
    covered = torch.isfinite(best)
    return torch.where(covered, best, torch.zeros_like(best)).sum() / covered.sum().clamp(min=1)
