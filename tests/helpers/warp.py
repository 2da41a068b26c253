"""Warp-operator test inputs shared by the CPU and CUDA kernel tests."""
from __future__ import annotations

import torch

from edgedepth.losses import cycle_loss


def make_inputs(*, b=2, c=3, h=13, w=21, dtype=torch.float32, device="cpu", seed=0):
    """Random images, depths and poses; a mix of valid, out-of-view and behind-camera points.

    Returns (target, src, depth, T, K). Sizes default to values that are no multiple of any tile.
    """
    g = torch.Generator().manual_seed(seed)
    rand = lambda *s: torch.rand(*s, generator=g, dtype=torch.float64)  # noqa: E731
    target, src = rand(b, c, h, w), rand(b, c, h, w)
    depth = 0.5 + 4.0 * rand(b, 1, h, w)
    K = torch.tensor([[0.8 * w, 0.0, w / 2], [0.0, 0.9 * h, h / 2], [0.0, 0.0, 1.0]], dtype=torch.float64)
    K = K.expand(b, 3, 3).clone()
    angles = 0.3 * (2 * rand(b, 3) - 1)
    skew = torch.zeros(b, 3, 3, dtype=torch.float64)
    skew[:, 0, 1], skew[:, 0, 2], skew[:, 1, 2] = -angles[:, 2], angles[:, 1], -angles[:, 0]
    T = torch.eye(4, dtype=torch.float64).repeat(b, 1, 1)
    T[:, :3, :3] = torch.matrix_exp(skew - skew.transpose(1, 2))
    # x/y shifts push points out of view; a negative z shift puts near points behind the camera.
    T[:, :3, 3] = torch.stack([0.6 * (2 * rand(b) - 1), 0.4 * (2 * rand(b) - 1), -2.5 * rand(b)], dim=1)
    return [t.to(device=device, dtype=dtype) for t in (target, src, depth, T, K)]


def opcheck_cases(device="cpu"):
    """Arguments for torch.library.opcheck of each operator; the forwards' inputs require grad."""
    target, src, depth, T, K = make_inputs(b=1, c=2, h=6, w=9, seed=4, device=device)
    grad_image, grad_pixel = torch.rand_like(src), torch.rand_like(depth)
    cases = {
        "inverse_warp": (src, depth, T, K),
        "inverse_warp_backward": (grad_image, src, depth, T, K),
        "photometric_error": (target, src, depth, T, K),
        "photometric_error_backward": (grad_pixel, target, src, depth, T, K),
    }
    for name in ("inverse_warp", "photometric_error"):
        args = cases[name]
        cases[name] = tuple(a.clone().requires_grad_(i < len(args) - 1) for i, a in enumerate(args))
    return cases


def optimise_depth(kernel: str, steps: int = 3, device: str = "cpu") -> list[float]:
    """A few SGD steps on a free log-depth map under the two-view cycle loss; returns the losses."""
    target, src_a, depth, T_a, K = make_inputs(b=2, h=24, w=40, seed=11, device=device)
    _, src_b, _, T_b, _ = make_inputs(b=2, h=24, w=40, seed=12, device=device)
    views_image, views_T = torch.stack([src_a, src_b], 1), torch.stack([T_a, T_b], 1)
    log_depth = depth.log().clone().requires_grad_()
    optim = torch.optim.SGD([log_depth], lr=5.0)
    losses = []
    for _ in range(steps):
        loss = cycle_loss(target, views_image, views_T, log_depth.exp(), K, kernel=kernel)
        optim.zero_grad()
        loss.backward()
        optim.step()
        losses.append(loss.item())
    return losses
