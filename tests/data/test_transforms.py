"""Resizing and cropping keep geometry exact: warping each view with the true depth and pose still gives the target."""
import pytest
import torch
from helpers.plane_scene import K, render, scene, warp_errors

from edgedepth.data import transforms as T
from edgedepth.errors import DataError


def test_untransformed_scene_is_consistent():
    assert max(warp_errors(scene())) < 2e-3


@pytest.mark.parametrize(
    "transform, tol",
    [
        (T.Resize((24, 80)), 0.006),
        (T.Resize((40, 100)), 0.005),
        (T.ResizeCover((16, 64)), 0.009),
        (T.CenterCrop((32, 96)), 2e-3),
        (lambda s: T.crop(s, 5, 17, 30, 101), 2e-3),
        (T.Compose([T.ResizeCover((24, 64)), T.CenterCrop((20, 60))]), 0.009),
    ],
)
def test_warping_still_reproduces_the_target_after_transform(transform, tol):
    out = transform(scene())
    assert out.image.shape[-2:] == out.depth.shape[-2:] == out.semantics.shape[-2:]
    assert all(v.image.shape == out.image.shape for v in out.views)
    errors = warp_errors(out)
    assert max(errors) < tol
    # the test can tell: half a pixel off in the principal point is clearly worse (temporal view)
    shifted = out.K.clone()
    shifted[:2, 2] += 0.5
    assert warp_errors(out, K_override=shifted)[1] > 1.4 * errors[1]


def test_resized_intrinsics_match_rendering_at_the_new_size():
    small = T.resize(scene(), (24, 80))
    direct, _ = render(small.K.double(), torch.eye(4, dtype=torch.float64), 24, 80)
    exact = (small.image - direct).abs().mean().item()
    naive_K = small.K.clone()
    naive_K[:2, 2] = K[:2, 2].float() * 0.5  # scaling cx without the half-pixel shift
    naive, _ = render(naive_K.double(), torch.eye(4, dtype=torch.float64), 24, 80)
    assert exact < 0.02 and exact < 0.5 * (small.image - naive).abs().mean().item()
    assert small.K[0, 0].item() == pytest.approx(30.0) and small.K[0, 2].item() == pytest.approx((78.3 + 0.5) / 2 - 0.5)


def test_sparse_depth_points_survive_downsampling():
    h, w = scene().image.shape[-2:]
    depth = torch.zeros(1, h, w)
    points = [(3, 5, 7.0), (20, 40, 12.0), (21, 41, 9.0), (47, 159, 30.0)]
    for y, x, z in points:
        depth[0, y, x] = z
    small = T.resize_depth(depth, (24, 80))
    assert small[0, 1, 2].item() == 7.0
    assert small[0, 10, 20].item() == 9.0  # two points share the pixel: the nearer is kept
    assert small[0, 23, 79].item() == 30.0 and int((small > 0).sum()) == 3


def test_semantics_stay_labels():
    out = T.Resize((24, 80))(scene())
    assert out.semantics.dtype == torch.int64 and set(out.semantics.unique().tolist()) <= set(range(10))


def test_crop_that_does_not_fit_is_an_error():
    with pytest.raises(DataError, match="does not fit"):
        T.crop(scene(), 40, 0, 20, 10)
