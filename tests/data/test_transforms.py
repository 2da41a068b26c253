"""Transforms keep geometry exact: warping each view with the true depth and pose still gives the target."""
import math

import pytest
import torch

from edgedepth.data import transforms as T
from edgedepth.data.sample import Sample, View
from edgedepth.errors import DataError
from edgedepth.kernels.reference import inverse_warp

H, W = 48, 160
K = torch.tensor([[60.0, 0, 78.3], [0, 62.0, 22.7], [0, 0, 1]], dtype=torch.float64)
PLANE_N = torch.tensor([0.1, -0.3, 1.0], dtype=torch.float64)  # points X with n.X = d, in target coordinates
PLANE_D = 8.0
FREQ = torch.tensor([[2.2, 1.1, 0.4], [-1.3, 2.5, 0.3], [0.9, -0.7, 1.9]], dtype=torch.float64)


def _pose(yaw: float, t: tuple[float, float, float]) -> torch.Tensor:
    c, s = math.cos(yaw), math.sin(yaw)
    pose = torch.eye(4, dtype=torch.float64)
    pose[:3, :3] = torch.tensor([[c, 0, s], [0, 1, 0], [-s, 0, c]], dtype=torch.float64)
    pose[:3, 3] = torch.tensor(t, dtype=torch.float64)
    return pose


def render(K: torch.Tensor, pose: torch.Tensor, h: int, w: int):
    """Ray-cast the textured plane from a camera with ``pose`` (target -> camera): image [3,h,w], depth [1,h,w]."""
    ys, xs = torch.meshgrid(torch.arange(h, dtype=torch.float64), torch.arange(w, dtype=torch.float64), indexing="ij")
    pix = torch.stack([xs, ys, torch.ones_like(xs)]).reshape(3, -1)
    R, t = pose[:3, :3], pose[:3, 3]
    centre = -R.T @ t
    rays = R.T @ torch.linalg.inv(K) @ pix  # in target coordinates, camera z = 1
    s = (PLANE_D - PLANE_N @ centre) / (PLANE_N @ rays)
    points = centre[:, None] + s * rays
    image = 0.5 + 0.35 * torch.sin(FREQ @ points + torch.tensor([[0.0], [1.0], [2.0]], dtype=torch.float64))
    return image.reshape(3, h, w).float(), s.reshape(1, h, w).float()


def scene() -> Sample:
    image, depth = render(K, torch.eye(4, dtype=torch.float64), H, W)
    poses = [_pose(0.0, (-0.54, 0.0, 0.0)), _pose(0.03, (0.1, 0.02, -1.0))]
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


def test_untransformed_scene_is_consistent():
    assert max(warp_errors(scene())) < 2e-3


@pytest.mark.parametrize(
    "transform, tol",
    [
        (T.Resize((24, 80)), 0.006),
        (T.Resize((40, 100)), 0.005),
        (T.ResizeCover((16, 64)), 0.009),
        (T.CenterCrop((32, 96)), 2e-3),
        (lambda s, g=None: T.crop(s, 5, 17, 30, 101), 2e-3),
        (lambda s, g=None: T.hflip(s), 2e-3),
        (lambda s, g=None: T.color_jitter(s, *T.color_matrix(1.2, 0.8, 1.3, 0.1)), 4e-3),
        (T.Compose([T.ResizeCover((24, 64)), lambda s, g=None: T.hflip(s), T.ColorJitter(0.3, 0.3, 0.3, 0.05)]), 0.008),
    ],
)
def test_warping_still_reproduces_the_target_after_transform(transform, tol):
    out = transform(scene(), torch.Generator().manual_seed(0))
    assert out.image.shape[-2:] == out.depth.shape[-2:] == out.semantics.shape[-2:]
    assert all(v.image.shape == out.image.shape for v in out.views)
    errors = warp_errors(out)
    assert max(errors) < tol
    # the test can tell: half a pixel off in the principal point is clearly worse (temporal view)
    shifted = out.K.clone()
    shifted[:2, 2] += 0.5
    assert warp_errors(out, K_override=shifted)[1] > 1.4 * errors[1]


def test_flip_without_conjugating_the_pose_breaks_the_warp():
    flipped = T.hflip(scene())
    assert max(warp_errors(flipped)) < 2e-3
    mirror = torch.diag(torch.tensor([-1.0, 1, 1, 1]))
    unconjugated = warp_errors(flipped, T_map=lambda pose: mirror @ pose @ mirror)
    assert min(unconjugated) > 0.01 and unconjugated[0] > 0.05
    assert flipped.views[0].T[0, 3].item() == pytest.approx(0.54)  # the right camera became a left one
    twice = T.hflip(flipped)
    assert torch.allclose(twice.K, scene().K) and torch.allclose(twice.views[1].T, scene().views[1].T)
    assert torch.equal(twice.image, scene().image)


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
    depth = torch.zeros(1, H, W)
    points = [(3, 5, 7.0), (20, 40, 12.0), (21, 41, 9.0), (47, 159, 30.0)]
    for y, x, z in points:
        depth[0, y, x] = z
    small = T.resize_depth(depth, (24, 80))
    assert small[0, 1, 2].item() == 7.0
    assert small[0, 10, 20].item() == 9.0  # two points share the pixel: the nearer is kept
    assert small[0, 23, 79].item() == 30.0 and int((small > 0).sum()) == 3


def test_semantics_stay_labels_and_random_transforms_are_seeded():
    out = T.Resize((24, 80))(scene())
    assert out.semantics.dtype == torch.int64 and set(out.semantics.unique().tolist()) <= set(range(10))
    jitter = T.Compose([T.RandomCrop((32, 96)), T.RandomHorizontalFlip(0.5), T.ColorJitter()])
    a = jitter(scene(), torch.Generator().manual_seed(3))
    b = jitter(scene(), torch.Generator().manual_seed(3))
    assert torch.equal(a.image, b.image) and torch.equal(a.K, b.K)
    assert T.augmentations(flip=False, color_jitter=0.0) == []
    assert len(T.augmentations(flip=True, color_jitter=0.2)) == 2


def test_crop_that_does_not_fit_is_an_error():
    with pytest.raises(DataError, match="does not fit"):
        T.crop(scene(), 40, 0, 20, 10)
