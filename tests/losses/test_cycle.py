"""Cycle loss on a fronto-parallel plane whose stereo pair is built exactly (integer disparity)."""
import pytest
import torch

from edgedepth.losses import cycle_loss

B, H, W = 2, 32, 64
FX = 64.0
BASELINE = 0.54
SHIFT = 8  # disparity in pixels: FX * BASELINE / depth
PLANE_DEPTH = FX * BASELINE / SHIFT


def _smooth_texture():
    """Sinusoids: the photometric error is smooth within a few pixels of the truth."""
    ys, xs = torch.meshgrid(torch.arange(H, dtype=torch.float32), torch.arange(W + SHIFT, dtype=torch.float32), indexing="ij")
    phase = torch.rand(B, 3, 1, 1) * 6.28
    return 0.5 + 0.25 * torch.sin(xs * 6.28 / 16 + phase) + 0.2 * torch.sin(ys * 6.28 / 12 + 2 * phase)


def _scene(texture=None):
    """target, right view, T (target -> right), K, true depth; white-noise texture unless given."""
    texture = torch.rand(B, 3, H, W + SHIFT) if texture is None else texture
    target = texture[..., :W]
    right = texture[..., SHIFT:]  # right(x) = target(x + SHIFT): seen from a camera 0.54 m to the right
    K = torch.tensor([[FX, 0.0, W / 2], [0.0, FX, H / 2], [0.0, 0.0, 1.0]]).expand(B, 3, 3)
    T = torch.eye(4).expand(B, 4, 4).clone()
    T[:, 0, 3] = -BASELINE
    depth = torch.full((B, 1, H, W), PLANE_DEPTH)
    return target, right, T, K, depth


def test_true_depth_gives_near_zero_and_wrong_depth_more():
    target, right, T, K, depth = _scene()
    views, poses = right.unsqueeze(1), T.unsqueeze(1)
    good = cycle_loss(target, views, poses, depth, K, kernel="reference")
    wrong = cycle_loss(target, views, poses, 2 * depth, K, kernel="reference")
    assert good.item() < 0.01  # only the SSIM windows touching the invalid border are off
    assert wrong.item() > 10 * good.item()


def test_per_pixel_min_picks_the_better_view():
    target, right, T, K, depth = _scene()
    noise = torch.rand_like(right)
    good = cycle_loss(target, right.unsqueeze(1), T.unsqueeze(1), depth, K, kernel="reference")
    bad = cycle_loss(target, noise.unsqueeze(1), T.unsqueeze(1), depth, K, kernel="reference")
    both = cycle_loss(target, torch.stack([noise, right], 1), torch.stack([T, T], 1), depth, K, kernel="reference")
    assert both.item() <= good.item() + 1e-6
    assert bad.item() > 10 * good.item()


def test_invalid_views_are_left_out():
    target, right, T, K, depth = _scene()
    away = T.clone()
    away[:, 0, 3] = -1000.0  # every pixel projects outside this view
    alone = cycle_loss(target, right.unsqueeze(1), T.unsqueeze(1), depth, K, kernel="reference")
    with_away = cycle_loss(target, torch.stack([right, right], 1), torch.stack([away, T], 1), depth, K, kernel="reference")
    assert with_away.item() == pytest.approx(alone.item(), rel=1e-6)


def test_fallback_lets_the_first_view_decide_where_it_sees_and_the_others_fill_its_blind_border():
    target, right, T, K, depth = _scene()
    # A view that matches every pixel at any depth (the target itself, no motion): the per-pixel minimum lets it
    # explain everything away, as distant pixels in a temporal view do; as fallback it only covers the stereo view's
    # blind left border (x < SHIFT), where it adds zero error.
    still = torch.eye(4).expand(B, 4, 4)
    views, poses = torch.stack([right, target], 1), torch.stack([T, still], 1)
    stereo_only = [cycle_loss(target, right.unsqueeze(1), T.unsqueeze(1), d, K, kernel="reference") for d in (depth, 2 * depth)]
    plain = [cycle_loss(target, views, poses, d, K, kernel="reference") for d in (depth, 2 * depth)]
    fallback = [cycle_loss(target, views, poses, d, K, kernel="reference", fallback=True) for d in (depth, 2 * depth)]
    assert plain[1].item() < 1e-6  # the wrong depth is not punished
    assert fallback[1].item() > 10 * fallback[0].item()
    # at the true depth the stereo view sees W - SHIFT columns; the fallback adds SHIFT columns of zero error
    assert fallback[0].item() == pytest.approx(stereo_only[0].item() * (W - SHIFT) / W, rel=1e-4)


def test_nothing_valid_gives_zero_with_graph():
    target, right, T, K, depth = _scene()
    T[:, 0, 3] = -1000.0
    depth.requires_grad_(True)
    loss = cycle_loss(target, right.unsqueeze(1), T.unsqueeze(1), depth, K, kernel="reference")
    assert loss.item() == 0.0
    loss.backward()
    assert torch.isfinite(depth.grad).all()


@pytest.mark.parametrize("factor, sign", [(1.1, 1.0), (0.9, -1.0)])
def test_gradient_moves_depth_towards_the_truth(factor, sign):
    target, right, T, K, depth = _scene(_smooth_texture())
    depth = (factor * depth).requires_grad_(True)  # off by about 0.7 px of disparity
    cycle_loss(target, right.unsqueeze(1), T.unsqueeze(1), depth, K, kernel="reference").backward()
    assert torch.isfinite(depth.grad).all()
    assert sign * depth.grad.sum() > 0  # descending the loss moves the plane towards its true depth


def test_kernel_choice_reaches_the_warp(monkeypatch):
    from edgedepth import kernels

    seen = []
    real = kernels.photometric_error

    def spy(*args, backend):
        seen.append(backend)
        return real(*args, backend="reference")

    monkeypatch.setattr(kernels, "photometric_error", spy)
    target, right, T, K, depth = _scene()
    cycle_loss(target, torch.stack([right, right], 1), torch.stack([T, T], 1), depth, K, kernel="fused")
    assert seen == ["fused", "fused"]


def test_fused_kernel_agrees_with_reference():
    from edgedepth import kernels

    if kernels.active_backend() != "fused":
        pytest.skip("fused warp operators not built")
    target, right, T, K, depth = _scene(_smooth_texture())
    depth = 1.05 * depth
    args = (target, right.unsqueeze(1), T.unsqueeze(1), depth, K)
    assert cycle_loss(*args, kernel="fused").item() == pytest.approx(cycle_loss(*args, kernel="reference").item(), rel=1e-4, abs=1e-6)


def test_no_views_is_a_clear_error():
    from edgedepth.errors import DataError

    target, right, T, K, depth = _scene()
    with pytest.raises(DataError, match="neighbour view"):
        cycle_loss(target, right.unsqueeze(1)[:, :0], T.unsqueeze(1)[:, :0], depth, K)


def test_pyramid_of_one_level_is_the_cycle_loss_and_levels_are_averaged():
    import torch.nn.functional as F

    from edgedepth.losses import pyramid_cycle_loss
    from edgedepth.losses.cycle import scaled_intrinsics

    target, right, T, K, depth = _scene(_smooth_texture())
    views, poses, depth = right.unsqueeze(1), T.unsqueeze(1), 1.3 * depth
    full = cycle_loss(target, views, poses, depth, K, kernel="reference")
    assert torch.equal(pyramid_cycle_loss(target, views, poses, depth, K, scales=1, kernel="reference"), full)
    half = cycle_loss(F.avg_pool2d(target, 2), F.avg_pool2d(right, 2).unsqueeze(1), poses, F.avg_pool2d(depth, 2),
                      scaled_intrinsics(K, 2), kernel="reference")
    assert torch.allclose(pyramid_cycle_loss(target, views, poses, depth, K, scales=2, kernel="reference"), (full + half) / 2)


def test_scaled_intrinsics_put_pixel_centres_where_area_downsampling_does():
    from edgedepth.losses.cycle import scaled_intrinsics

    K = torch.tensor([[[100.0, 0.0, 31.5], [0.0, 90.0, 15.5], [0.0, 0.0, 1.0]]])
    point = torch.tensor([0.3, -0.2, 2.0])
    for factor in (2, 4):
        full = K[0] @ point
        small = scaled_intrinsics(K, factor)[0] @ point
        # output pixel i averages input pixels factor*i .. factor*i + factor - 1, so its centre is at input x = factor*i + (factor-1)/2
        assert torch.allclose(small[:2] / small[2], (full[:2] / full[2] - (factor - 1) / 2) / factor)
