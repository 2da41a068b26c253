"""An analytic scene for geometry tests: a textured plane seen by a target camera and two neighbours.

Warping each view into the target with the true depth, pose and K reproduces the target image up to
interpolation error, so a transform or augmentation that keeps the geometry exact keeps that error
small, and one that breaks it (a wrong K or pose) makes it large.
"""
from __future__ import annotations

import math

import torch

from edgedepth.data.sample import Sample, View
from edgedepth.kernels.reference import inverse_warp

H, W = 48, 160
K = torch.tensor([[60.0, 0, 78.3], [0, 62.0, 22.7], [0, 0, 1]], dtype=torch.float64)
PLANE_N = torch.tensor([0.1, -0.3, 1.0], dtype=torch.float64)  # points X with n.X = d, in target coordinates
PLANE_D = 8.0
FREQ = torch.tensor([[2.2, 1.1, 0.4], [-1.3, 2.5, 0.3], [0.9, -0.7, 1.9]], dtype=torch.float64)


def pose(yaw: float, t: tuple[float, float, float]) -> torch.Tensor:
    c, s = math.cos(yaw), math.sin(yaw)
    out = torch.eye(4, dtype=torch.float64)
    out[:3, :3] = torch.tensor([[c, 0, s], [0, 1, 0], [-s, 0, c]], dtype=torch.float64)
    out[:3, 3] = torch.tensor(t, dtype=torch.float64)
    return out


def render(K: torch.Tensor, camera: torch.Tensor, h: int, w: int):
    """Ray-cast the textured plane from a camera with pose ``camera`` (target -> camera): image [3,h,w], depth [1,h,w]."""
    ys, xs = torch.meshgrid(torch.arange(h, dtype=torch.float64), torch.arange(w, dtype=torch.float64), indexing="ij")
    pix = torch.stack([xs, ys, torch.ones_like(xs)]).reshape(3, -1)
    R, t = camera[:3, :3], camera[:3, 3]
    centre = -R.T @ t
    rays = R.T @ torch.linalg.inv(K) @ pix  # in target coordinates, camera z = 1
    s = (PLANE_D - PLANE_N @ centre) / (PLANE_N @ rays)
    points = centre[:, None] + s * rays
    image = 0.5 + 0.35 * torch.sin(FREQ @ points + torch.tensor([[0.0], [1.0], [2.0]], dtype=torch.float64))
    return image.reshape(3, h, w).float(), s.reshape(1, h, w).float()


def scene() -> Sample:
    """The target view with a stereo and a temporal neighbour."""
    image, depth = render(K, torch.eye(4, dtype=torch.float64), H, W)
    poses = [pose(0.0, (-0.54, 0.0, 0.0)), pose(0.03, (0.1, 0.02, -1.0))]
    views = [View(render(K, p, H, W)[0], p.float(), kind) for p, kind in zip(poses, ["stereo", "temporal"])]
    semantics = (torch.arange(W).expand(H, W) // 16).to(torch.int64)
    return Sample(image=image, K=K.float(), views=views, depth=depth, semantics=semantics)


def warp_errors(sample: Sample, K_override=None, T_map=lambda pose: pose) -> list[float]:
    """Mean |warped view - target| over valid pixels, per view."""
    K_used = sample.K if K_override is None else K_override
    out = []
    for view in sample.views:
        warped, valid = inverse_warp(view.image[None], sample.depth[None], T_map(view.T)[None], K_used[None])
        mask = (valid[0, 0] > 0) & (sample.depth[0] > 0)
        assert mask.float().mean() > 0.3
        out.append(((warped[0] - sample.image).abs().mean(0))[mask].mean().item())
    return out
