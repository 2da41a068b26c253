"""The synthetic two-domain world: determinism, sample contents, geometric consistency, the domain gap."""
from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from edgedepth.data import SyntheticWorld
from edgedepth.data.synthetic import MAX_DEPTH, STEREO_BASELINE
from edgedepth.errors import ConfigError
from edgedepth.kernels.reference import inverse_warp, project_to_source

SIZE = (32, 96)
TRAIN_IDS = {0, 1, 2, 5, 8, 9, 10, 13}
SKY = 10


def _same(a, b) -> bool:
    return (torch.equal(a.image, b.image) and torch.equal(a.depth, b.depth) and torch.equal(a.semantics, b.semantics)
            and all(torch.equal(x.image, y.image) and torch.equal(x.T, y.T) for x, y in zip(a.views, b.views))
            and a.complexity == b.complexity)


@pytest.mark.parametrize("domain", ["source", "target"])
def test_sample_is_a_pure_function_of_seed_domain_and_index(domain):
    world = SyntheticWorld(domain, size=SIZE, length=5, seed=3, views="both")
    later = world[4]  # out-of-order access must not change what sample 2 is
    assert _same(SyntheticWorld(domain, size=SIZE, length=5, seed=3, views="both")[2], world[2])
    assert _same(world[4], later)
    assert not torch.equal(SyntheticWorld(domain, size=SIZE, length=5, seed=4)[2].image, world[2].image)
    assert not torch.equal(world[1].image, world[2].image)


@pytest.mark.parametrize("domain", ["source", "target"])
def test_shapes_dtypes_and_ranges(domain):
    h, w = SIZE
    sample = SyntheticWorld(domain, size=SIZE, length=2, seed=0, views="both")[0]
    assert sample.image.shape == (3, h, w) and sample.image.dtype == torch.float32
    assert 0.0 <= sample.image.min() and sample.image.max() <= 1.0
    assert sample.depth.shape == (1, h, w) and sample.depth.dtype == torch.float32
    assert sample.depth.min() >= 0 and sample.depth.max() <= MAX_DEPTH
    assert sample.semantics.shape == (h, w) and sample.semantics.dtype == torch.int64
    assert set(sample.semantics.unique().tolist()) <= TRAIN_IDS
    sky = sample.semantics == SKY
    assert sky.any() and (sample.depth[0][sky] == 0).all()  # sky depth is unknown
    assert (sample.depth[0][~sky] > 0).float().mean() > 0.9  # nearly all surfaces closer than 80 m have depth
    assert sample.K.shape == (3, 3) and sample.K[2, 2] == 1
    assert [v.kind for v in sample.views] == ["stereo", "temporal", "temporal"]
    stereo_T = torch.eye(4)
    stereo_T[0, 3] = -STEREO_BASELINE
    assert torch.allclose(sample.views[0].T, stereo_T)
    for view in sample.views:
        assert view.image.shape == (3, h, w) and view.T.shape == (4, 4)
    # previous and next frame move in opposite directions along the optical axis, about 1 m
    z_prev, z_next = sample.views[1].T[2, 3].item(), sample.views[2].T[2, 3].item()
    assert 0.7 < z_prev < 1.3 and -1.3 < z_next < -0.7
    assert isinstance(sample.complexity, float) and sample.domain == domain


@pytest.mark.parametrize("views,kinds", [("stereo", ["stereo"]), ("temporal", ["temporal", "temporal"]), ("none", [])])
def test_view_sets(views, kinds):
    assert [v.kind for v in SyntheticWorld("source", size=SIZE, length=1, views=views)[0].views] == kinds


def test_bad_arguments_are_config_errors():
    with pytest.raises(ConfigError, match="domain"):
        SyntheticWorld("real", size=SIZE, length=1)
    with pytest.raises(ConfigError, match="views"):
        SyntheticWorld("source", size=SIZE, length=1, views="left")
    with pytest.raises(ConfigError, match="too small"):
        SyntheticWorld("source", size=(4, 96), length=1)
    with pytest.raises(IndexError):
        SyntheticWorld("source", size=SIZE, length=2)[2]


def _warp_error(world: SyntheticWorld, index: int, view_index: int, *, depth_scale: float = 1.0):
    """Mean |target - warped neighbour| on pixels both views see on the same surface, and that mask's coverage."""
    sample, view_depths = world.render(index, view_depths=True)
    view = sample.views[view_index]
    depth, T, K = sample.depth[None] * depth_scale, view.T[None], sample.K[None]
    warped, valid = inverse_warp(view.image[None], depth, T, K)
    # Occlusion / boundary check: the neighbour's own depth, sampled where the point lands, must agree
    # with the point's depth in the neighbour camera; bilinear mixing across an edge fails it too.
    seen_depth, _ = inverse_warp(view_depths[view_index][None], sample.depth[None], T, K)
    _, _, z = project_to_source(sample.depth[None], T, K)
    same_surface = (seen_depth[:, 0] - z).abs() < 0.01 * z
    mask = (valid[:, 0] > 0) & (sample.depth > 0) & same_surface
    error = (warped - sample.image[None]).abs().mean(1)
    return error[mask].mean().item(), mask.float().mean().item()


# Source: flat shading, so only resampling at texture edges remains. Target: two independent sensor
# noises of sigma 0.02 alone give E|n1 - n2| ~ 0.023, so its tolerance sits just above that floor.
@pytest.mark.parametrize("domain,tolerance", [("source", 0.012), ("target", 0.03)])
@pytest.mark.parametrize("view_index", [0, 1, 2], ids=["stereo", "prev", "next"])
def test_neighbour_warped_with_true_depth_and_pose_reproduces_target(domain, tolerance, view_index):
    world = SyntheticWorld(domain, size=(64, 192), length=2, seed=1, views="both")
    for index in range(2):
        error, coverage = _warp_error(world, index, view_index)
        assert coverage > 0.4, "too few pixels passed the consistency mask for the test to mean anything"
        assert error < tolerance
        # the same check with wrong geometry must fail clearly, so the tolerance is meaningful
        wrong, _ = _warp_error(world, index, view_index, depth_scale=0.3)
        assert wrong > error + 0.01


def _high_frequency(sample) -> float:
    """Mean |image - 3x3 box blur| inside surfaces (3x3 windows of one class): texture and noise energy."""
    image = sample.image
    blurred = F.avg_pool2d(F.pad(image[None], (1, 1, 1, 1), mode="replicate"), 3, 1)[0]
    labels = sample.semantics[None, None].float()
    interior = (F.max_pool2d(labels, 3, 1, 1) == -F.max_pool2d(-labels, 3, 1, 1))[0, 0]
    return (image - blurred).abs().mean(0)[interior].mean().item()


def test_domains_differ_in_image_statistics():
    n = 6
    src = [SyntheticWorld("source", size=(64, 192), length=n, seed=2, views="none")[i] for i in range(n)]
    tgt = [SyntheticWorld("target", size=(64, 192), length=n, seed=2, views="none")[i] for i in range(n)]
    assert np.mean([_high_frequency(s) for s in tgt]) > 2 * np.mean([_high_frequency(s) for s in src])
    # per-class mean colours move (palette swap, haze, lighting): average RGB distance over classes
    distances = []
    for cls in (0, 2, 8, 10, 13):
        mean_colour = [torch.cat([s.image[:, s.semantics == cls] for s in d], 1).mean(1) for d in (src, tgt)]
        if not any(torch.isnan(c).any() for c in mean_colour):
            distances.append((mean_colour[0] - mean_colour[1]).norm().item())
    assert len(distances) >= 4 and np.mean(distances) > 0.15
    # geometry comes from the same distribution: similar share of road and sky pixels
    road = [np.mean([(s.semantics == 0).float().mean().item() for s in d]) for d in (src, tgt)]
    assert abs(road[0] - road[1]) < 0.15


def test_target_complexity_varies_and_follows_clutter():
    world = SyntheticWorld("target", size=SIZE, length=24, seed=0, views="none")
    complexity = np.array([world[i].complexity for i in range(len(world))])
    assert complexity.min() < 0.35 and complexity.max() > 0.65 and complexity.std() > 0.1
    assert ((0 <= complexity) & (complexity <= 1)).all()
    # busier streets: more car / pole / vegetation pixels in the more complex half (on average)
    busy = [((world[i].semantics == 13) | (world[i].semantics == 5) | (world[i].semantics == 8)).float().mean().item()
            for i in range(len(world))]
    order = np.argsort(complexity)
    assert np.mean(np.array(busy)[order[12:]]) > np.mean(np.array(busy)[order[:12]])


def test_no_object_comes_near_the_cameras():
    from edgedepth.data.synthetic_scene import make_scene

    for i in range(200):
        rng = np.random.default_rng([0, i])
        scene = make_scene(rng, clutter=float(rng.random()))
        # every camera of a sample: left/right of the stereo pair, up to 1.3 m back and forth, 1.45-1.65 m high
        cams = np.array([(scene.camera_x + dx, h, z) for dx in (0.0, 0.54) for h in (1.45, 1.65) for z in (-1.3, 0, 1.3)])
        lo, hi = scene.boxes[:, :3], scene.boxes[:, 3:]
        gap = np.maximum(np.maximum(lo[None] - cams[:, None], cams[:, None] - hi[None]), 0)  # [cams, boxes, 3]
        assert np.linalg.norm(gap, axis=-1).min() > 0.5, f"layout {i}: a box is within 0.5 m of a camera"
        if len(scene.spheres):
            centre_gap = np.linalg.norm(cams[:, None] - scene.spheres[None, :, :3], axis=-1) - scene.spheres[None, :, 3]
            assert centre_gap.min() > 0.5, f"layout {i}: a tree canopy is within 0.5 m of a camera"


def test_a_view_does_not_depend_on_which_view_set_was_asked_for():
    both = SyntheticWorld("target", size=SIZE, length=1, views="both")[0]
    temporal = SyntheticWorld("target", size=SIZE, length=1, views="temporal")[0]
    assert torch.equal(both.image, temporal.image)
    assert torch.equal(both.views[1].image, temporal.views[0].image)
    assert torch.equal(both.views[2].T, temporal.views[1].T)


def test_complexities_match_rendered_samples_without_rendering():
    world = SyntheticWorld(domain="target", size=(32, 96), length=6, seed=4)
    fast = world.complexities()
    assert fast == [world[i].complexity for i in range(6)]
    assert len(set(fast)) > 1


@pytest.mark.parametrize("domain", ["source", "target"])
def test_the_numpy_world_is_bit_identical_to_the_dataset(domain):
    """SyntheticWorld only wraps edgedepth.data.synthetic_world.WorldRenderer: the same numbers, as tensors."""
    from edgedepth.data.synthetic_world import WorldRenderer

    world = SyntheticWorld(domain, size=SIZE, length=3, seed=7, views="both")
    renderer = WorldRenderer(domain, size=SIZE, length=3, seed=7, views="both")
    assert renderer.complexities() == world.complexities()
    for index in (0, 2, -1):
        sample, view_depths = world.render(index, view_depths=True)
        arrays = renderer.render_arrays(index)
        assert np.array_equal(sample.image.numpy(), arrays.image) and sample.image.dtype == torch.float32
        assert np.array_equal(sample.depth.numpy(), arrays.depth) and np.array_equal(sample.semantics.numpy(), arrays.semantics)
        assert np.array_equal(sample.K.numpy(), arrays.K.astype(np.float32)) and sample.complexity == arrays.complexity
        assert sample.name == arrays.name and [v.kind for v in sample.views] == [v.kind for v in arrays.views]
        for view, rendered, depth in zip(sample.views, arrays.views, view_depths):
            assert np.array_equal(view.image.numpy(), rendered.image) and np.array_equal(depth.numpy(), rendered.depth)
            assert np.array_equal(view.T.numpy(), rendered.T.astype(np.float32))
        alone = renderer.render_arrays(index, with_views=False)  # the target camera does not depend on the views
        assert np.array_equal(alone.image, arrays.image) and alone.views == []


def test_the_numpy_world_imports_no_torch():
    import subprocess
    import sys

    code = ("import sys\nsys.modules['torch'] = None\nimport edgedepth.data.synthetic_world as w\n"
            "import edgedepth.data.folder_format\n"
            "print(w.WorldRenderer('target', size=(16, 32), length=1).render_arrays(0).image.shape)\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0 and result.stdout.strip() == "(3, 16, 32)", result.stderr
