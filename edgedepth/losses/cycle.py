"""Cycle (photometric) loss: neighbour views warped into the target with the predicted depth.

Per view, ``edgedepth.kernels.photometric_error`` gives 0.85·(1−SSIM)/2 + 0.15·L1 and a validity
mask; the loss takes the per-pixel minimum over the views (occlusions and out-of-view pixels are
usually explained by some other view) and averages it over pixels valid in at least one view.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

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
    automask: bool = False,
    fallback: bool = False,
) -> torch.Tensor:
    """target [B,3,H,W], views_image [B,V,3,H,W], views_T [B,V,4,4] (target -> view camera),
    depth [B,1,H,W] metres, K [B,3,3] -> scalar.

    ``kernel`` picks the warp backend ("auto" | "fused" | "reference"). ``automask`` (monodepth2's
    auto-masking) leaves out pixels whose error against the *unwarped* views is already lower than
    against the warped ones: there no depth explains the views better than none (textureless or
    distant surfaces), so the photometric error says nothing about their depth. Zero (with graph)
    when no pixel is valid in any view.

    ``fallback``: the first view (the stereo partner) decides wherever it sees the pixel; the others only fill in
    the pixels it does not see (its blind border, occlusions), by their per-pixel minimum. A stereo pair barely moves
    distant pixels, and a temporal view matches them at almost any depth, so the plain minimum over stereo and
    temporal views lets the temporal views explain the far range away; as fallback they only cover the border.
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
    if fallback and len(errors) > 1:
        rest = torch.stack(errors[1:], dim=1).min(dim=1).values
        best = torch.where(torch.isfinite(errors[0]), errors[0], rest)
    else:
        best = torch.stack(errors, dim=1).min(dim=1).values  # [B,1,H,W]
    covered = torch.isfinite(best)
    if automask:
        covered = covered & (best < _identity_error(target, views_image, depth, K, kernel))
    return torch.where(covered, best, torch.zeros_like(best)).sum() / covered.sum().clamp(min=1)


def _identity_error(target, views_image, depth, K, kernel) -> torch.Tensor:
    """Per-pixel minimum over the views of the photometric error without warping (identity pose)."""
    identity = torch.eye(4, dtype=depth.dtype, device=depth.device).expand(depth.shape[0], 4, 4)
    with torch.no_grad():
        errors = [kernels.photometric_error(target, views_image[:, v], depth.detach(), identity, K, backend=kernel)[0]
                  for v in range(views_image.shape[1])]
    return torch.stack(errors, dim=1).min(dim=1).values


def pyramid_cycle_loss(
    target: torch.Tensor,
    views_image: torch.Tensor,
    views_T: torch.Tensor,
    depth: torch.Tensor,
    K: torch.Tensor,
    *,
    scales: int = 3,
    **options,
) -> torch.Tensor:
    """The mean of :func:`cycle_loss` over a ``scales``-level image pyramid of the full-resolution ``depth``
    [B,1,H,W]: level s compares the images and the depth area-downsampled by 2^s, with K scaled to them
    (``scales=1`` is :func:`cycle_loss` itself). Every level is the evaluated map itself, averaged, so the coarse
    levels correct the map that is exported.

    At 1/2^s a disparity error of d pixels is d/2^s pixels, inside the +-1 pixel reach of bilinear sampling,
    and averaging lowers the sensor noise: coarse levels correct errors the full-resolution error cannot see.
    """
    levels = [cycle_loss(target, views_image, views_T, depth, K, **options)]
    b, v = views_image.shape[:2]
    for s in range(1, scales):
        factor = 2 ** s
        small_views = F.avg_pool2d(views_image.flatten(0, 1), factor).unflatten(0, (b, v))
        levels.append(cycle_loss(F.avg_pool2d(target, factor), small_views, views_T, F.avg_pool2d(depth, factor),
                                 scaled_intrinsics(K, factor), **options))
    return sum(levels) / len(levels)


def scaled_intrinsics(K: torch.Tensor, factor: int) -> torch.Tensor:
    """K [B,3,3] for images area-downsampled by ``factor``: pixel i covers pixels factor*i .. factor*i+factor-1,
    so with pixel centres at integer coordinates x' = (x - (factor-1)/2) / factor."""
    scale = torch.tensor([1.0 / factor, 1.0 / factor, 1.0], dtype=K.dtype, device=K.device).view(1, 3, 1)
    shift = torch.zeros_like(K)
    shift[:, 0, 2] = shift[:, 1, 2] = (factor - 1) / (2.0 * factor)
    return K * scale - shift
