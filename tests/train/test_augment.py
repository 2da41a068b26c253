"""Flip and colour jitter keep the geometry of a batch exact: the true depth still warps the views onto the image."""
import torch

from edgedepth.data import SyntheticWorld, collate_samples
from edgedepth.kernels.reference import photometric_error
from edgedepth.train.loop import flip_batch, jitter_batch


def warp_error(batch):
    err, valid = photometric_error(batch["image"], batch["views_image"][:, 0], batch["depth"].clamp(min=0.5) * (batch["depth"] > 0) + 1000.0 * (batch["depth"] == 0), batch["views_T"][:, 0], batch["K"])
    mask = (valid > 0) & (batch["depth"] > 0)
    return err[mask].mean()


def test_flip_keeps_warp_consistent():
    world = SyntheticWorld(domain="source", size=(64, 192), length=2, seed=1, views="stereo")
    batch = collate_samples([world[0], world[1]])
    flipped = flip_batch(batch, torch.tensor([True, False]))
    assert torch.equal(flipped["image"][0], batch["image"][0].flip(-1))
    assert torch.equal(flipped["image"][1], batch["image"][1])
    base, after = warp_error(batch), warp_error(flipped)
    assert after < 0.05
    assert abs(float(after) - float(base)) < 0.02
    # A flip without the pose fix breaks the geometry: the check can fail.
    wrong = dict(flipped, views_T=batch["views_T"])
    assert warp_error(wrong) > 2 * after


def test_jitter_is_shared_by_a_sample_and_its_views():
    world = SyntheticWorld(domain="source", size=(64, 192), length=1, seed=2, views="stereo")
    batch = collate_samples([world[0]])
    out = jitter_batch(batch, 0.4, torch.Generator().manual_seed(0))
    assert not torch.allclose(out["image"], batch["image"])
    assert out["image"].min() >= 0 and out["image"].max() <= 1
    assert warp_error(out) < 0.08
