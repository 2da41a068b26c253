"""The one augmentation path (edgedepth.train.augment) keeps the geometry of a batch exact: the true
depth and poses still warp every view onto its sample after flips and colour jitter."""
import pytest
import torch
from helpers.plane_scene import scene

from edgedepth.data import SyntheticWorld, collate_samples
from edgedepth.kernels.reference import inverse_warp
from edgedepth.train.augment import augment_batch, flip_batch, jitter_batch


def plane_batch() -> dict[str, torch.Tensor]:
    return collate_samples([scene(), scene()])


def warp_errors(batch) -> torch.Tensor:
    """[B, V]: mean |view warped with the true depth and pose - image| over valid pixels."""
    b, v = batch["views_T"].shape[:2]
    errors = torch.zeros(b, v)
    for k in range(v):
        warped, valid = inverse_warp(batch["views_image"][:, k], batch["depth"], batch["views_T"][:, k], batch["K"])
        mask = (valid > 0) & (batch["depth"] > 0)
        diff = (warped - batch["image"]).abs().mean(1, keepdim=True)
        errors[:, k] = (diff * mask).sum(dim=(1, 2, 3)) / mask.sum(dim=(1, 2, 3))
    return errors


def test_flip_keeps_the_warp_exact():
    batch = plane_batch()
    flipped = flip_batch(batch, torch.tensor([True, False]))
    assert torch.equal(flipped["image"][0], batch["image"][0].flip(-1))
    assert torch.equal(flipped["image"][1], batch["image"][1]) and torch.equal(flipped["K"][1], batch["K"][1])
    assert torch.equal(flipped["semantics"][0], batch["semantics"][0].flip(-1))
    assert warp_errors(flipped).max() < 2e-3
    assert flipped["views_T"][0, 0, 0, 3].item() == pytest.approx(0.54)  # the right camera became a left one
    # the check can fail: without conjugating the poses the flipped sample's views do not warp onto it
    assert warp_errors(dict(flipped, views_T=batch["views_T"]))[0].min() > 0.01
    twice = flip_batch(flipped, torch.tensor([True, False]))
    assert all(torch.allclose(twice[k], batch[k]) for k in batch)


def test_flip_of_the_synthetic_world_keeps_the_photometric_match():
    world = SyntheticWorld(domain="source", size=(64, 192), length=2, seed=1, views="stereo")
    batch = collate_samples([world[0], world[1]])
    flipped = flip_batch(batch, torch.tensor([True, False]))
    before, after = warp_errors(batch), warp_errors(flipped)
    assert after.max() < 0.05 and abs(float(after[0, 0] - before[0, 0])) < 0.02


def test_jitter_keeps_the_warp_consistent():
    batch = plane_batch()
    out = jitter_batch(batch, 0.3, torch.Generator().manual_seed(0))
    assert not torch.allclose(out["image"], batch["image"])
    assert out["image"].min() >= 0 and out["image"].max() <= 1
    assert warp_errors(out).max() < 4e-3


def test_jitter_maps_a_colour_the_same_in_a_sample_and_its_views():
    """The same colour must come out the same in a sample and in its views, even where the view
    shows other things (another mean brightness): contrast may not pivot on each view's own mean."""
    image = torch.rand(2, 3, 8, 12)
    view = image.clone()
    view[..., 8:] = 1.0  # the view sees something bright that the image does not
    generator = torch.Generator().manual_seed(0)
    contrast = 1 + 0.4 * (2 * torch.rand(3, 2, generator=torch.Generator().manual_seed(0)) - 1)[1]
    assert (contrast - 1).abs().min() > 0.05  # the draw really changes contrast, so the test can fail
    out = jitter_batch({"image": image, "views_image": view[:, None]}, 0.4, generator)
    torch.testing.assert_close(out["views_image"][:, 0, ..., :8], out["image"][..., :8], rtol=0, atol=1e-6)


def test_augmentation_is_a_function_of_seed_and_step():
    batch = plane_batch()

    def augment(step: int, salt: int = 0, seed: int = 0):
        return augment_batch(batch, flip=True, color_jitter=0.2, seed=seed, step=step, salt=salt)

    assert all(torch.equal(augment(3)[k], augment(3)[k]) for k in batch)
    for other in (augment(4), augment(3, salt=1), augment(3, seed=1)):
        assert not torch.equal(other["image"], augment(3)["image"])
    unchanged = augment_batch(batch, flip=False, color_jitter=0.0, seed=0, step=3, salt=0)
    assert all(unchanged[k] is batch[k] for k in batch)
