"""Plain-PyTorch geometry for the cycle loss: the ground truth the fused operators are tested against.

The geometry reads top to bottom: backproject target pixels with their depth, move the points
into the source camera, project them, and sample the source image bilinearly. Pixel centres lie
at integer coordinates, so normalising with ``align_corners=True`` keeps the convention exact.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

SSIM_C1 = 0.01**2
SSIM_C2 = 0.03**2
SSIM_WEIGHT = 0.85


def pixel_grid(height: int, width: int, *, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """Homogeneous pixel coordinates [3, H*W]: rows x, y, 1 (x along width)."""
    ys, xs = torch.meshgrid(
        torch.arange(height, dtype=dtype, device=device),
        torch.arange(width, dtype=dtype, device=device),
        indexing="ij",
    )
    return torch.stack([xs.reshape(-1), ys.reshape(-1), torch.ones_like(xs).reshape(-1)])


def project_to_source(depth: torch.Tensor, T: torch.Tensor, K: torch.Tensor, eps: float = 1e-3):
    """Source-pixel coordinates of every target pixel.

    depth [B,1,H,W] metres, T [B,4,4] target->source, K [B,3,3].
    Returns (u, v, z), each [B,H,W]: source pixel coordinates and the depth in the source camera.
    """
    b, _, h, w = depth.shape
    pix = pixel_grid(h, w, dtype=depth.dtype, device=depth.device)
    rays = torch.linalg.inv(K) @ pix  # [B,3,HW]
    points = rays * depth.reshape(b, 1, h * w)  # backproject
    points = T[:, :3, :3] @ points + T[:, :3, 3:]  # move into the source camera
    projected = K @ points
    z = projected[:, 2]
    safe_z = torch.where(z.abs() < eps, torch.full_like(z, eps), z)
    u = projected[:, 0] / safe_z
    v = projected[:, 1] / safe_z
    return u.reshape(b, h, w), v.reshape(b, h, w), points[:, 2].reshape(b, h, w)


def inverse_warp(src: torch.Tensor, depth: torch.Tensor, T: torch.Tensor, K: torch.Tensor, eps: float = 1e-3):
    """Warp ``src`` [B,C,H,W] into the target view. Returns (warped [B,C,H,W], valid [B,1,H,W]).

    ``valid`` is 1 where the point lies in front of the source camera (z > eps) and projects inside
    the source image (0 <= u <= W-1, 0 <= v <= H-1); warped pixels outside are sampled with zero padding.
    """
    _, _, h, w = src.shape
    u, v, z = project_to_source(depth, T, K, eps)
    in_front = z > eps
    inside = (u >= 0) & (u <= w - 1) & (v >= 0) & (v <= h - 1)
    valid = (in_front & inside).unsqueeze(1).to(src.dtype)
    # Points behind the camera are moved far outside so that zero padding returns 0 there.
    far = torch.full_like(u, -2.0 * (w + h))
    u = torch.where(in_front, u, far)
    v = torch.where(in_front, v, far)
    grid = torch.stack([2.0 * u / max(w - 1, 1) - 1.0, 2.0 * v / max(h - 1, 1) - 1.0], dim=-1)
    warped = F.grid_sample(src, grid, mode="bilinear", padding_mode="zeros", align_corners=True)
    return warped, valid


def ssim_error(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """(1 - SSIM) / 2 over 3x3 windows with reflection padding, clamped to [0, 1]; shape of x."""
    pad = lambda t: F.pad(t, (1, 1, 1, 1), mode="reflect")  # noqa: E731
    xp, yp = pad(x), pad(y)
    mu_x = F.avg_pool2d(xp, 3, 1)
    mu_y = F.avg_pool2d(yp, 3, 1)
    sigma_x = F.avg_pool2d(xp * xp, 3, 1) - mu_x * mu_x
    sigma_y = F.avg_pool2d(yp * yp, 3, 1) - mu_y * mu_y
    sigma_xy = F.avg_pool2d(xp * yp, 3, 1) - mu_x * mu_y
    num = (2 * mu_x * mu_y + SSIM_C1) * (2 * sigma_xy + SSIM_C2)
    den = (mu_x * mu_x + mu_y * mu_y + SSIM_C1) * (sigma_x + sigma_y + SSIM_C2)
    return torch.clamp((1 - num / den) / 2, 0, 1)


def photometric_error(target: torch.Tensor, src: torch.Tensor, depth: torch.Tensor, T: torch.Tensor, K: torch.Tensor):
    """Per-pixel photometric error of ``src`` warped into ``target``.

    Returns (error [B,1,H,W], valid [B,1,H,W]) with
    error = mean over channels of 0.85 * (1 - SSIM)/2 + 0.15 * |target - warped|.
    """
    warped, valid = inverse_warp(src, depth, T, K)
    l1 = (target - warped).abs()
    error = SSIM_WEIGHT * ssim_error(warped, target) + (1 - SSIM_WEIGHT) * l1
    return error.mean(1, keepdim=True), valid
