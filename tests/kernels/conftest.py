import os

import pytest
import torch


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


@pytest.fixture
def require_ops():
    """The compiled operators: skip without them, except in CI (env CI set), where that fails."""
    from edgedepth.kernels import ops

    if not ops.load():
        if os.environ.get("CI"):
            pytest.fail(f"compiled edgedepth operators missing in CI: {ops.load_error()}")
        pytest.skip(f"compiled edgedepth operators not built: {ops.load_error()}")
    return torch.ops.edgedepth
