"""The one augmentation path: flips and colour jitter of whole batches, on the training device.

Both keep the geometry exact, so the photometric cycle loss still holds after them. A flip mirrors a
sample's image, views, depth and labels together, moves the principal point to W-1-cx and
conjugates every pose with the mirror M = diag(-1, 1, 1, 1) (the stereo partner moves to the other
side, which the warp handles because T stays exact; this is what monodepth2 does when it negates
the baseline of flipped samples). Colour jitter applies one colour map per sample to the sample and
each of its views alike.

Every random draw comes from a CPU generator seeded with (seed, step, salt): a run draws the same
augmentations on any device, and a resumed run the same as an uninterrupted one. The draws are made
and decided on the CPU, so augmenting never waits for the GPU.
"""
from __future__ import annotations

import torch

from edgedepth.train.data import to_device

Batch = dict[str, torch.Tensor]


def flip_batch(batch: Batch, flip: torch.Tensor) -> Batch:
    """Mirror the samples where ``flip`` [B] (bool, on the batch's device) is True, keeping K and the poses exact."""
    out = dict(batch)
    w = batch["image"].shape[-1]

    def mirror_pixels(t: torch.Tensor) -> torch.Tensor:
        return torch.where(flip.view((-1,) + (1,) * (t.dim() - 1)), t.flip(-1), t)

    for key in ("image", "depth", "semantics", "views_image"):
        if key in batch:
            out[key] = mirror_pixels(batch[key])
    K = batch["K"].clone()
    K[:, 0, 2] = torch.where(flip, (w - 1) - batch["K"][:, 0, 2], batch["K"][:, 0, 2])
    out["K"] = K
    if "views_T" in batch:
        views_T = batch["views_T"]
        mirror = torch.diag(views_T.new_tensor([-1.0, 1.0, 1.0, 1.0]))
        out["views_T"] = torch.where(flip.view(-1, 1, 1, 1), mirror @ views_T @ mirror, views_T)
    return out


def jitter_batch(batch: Batch, strength: float, generator: torch.Generator) -> Batch:
    """Random brightness, contrast and saturation factors in [1 - strength, 1 + strength] per sample.

    A sample and its views get the same colour map: contrast scales about the mean of the sample's
    own (brightened) image, for the views too, not about each view's mean; saturation blends each
    pixel with its grey value. The photometric loss compares a sample with its warped views, so any
    difference between their maps would be penalised as a depth error.
    """
    image = batch["image"]
    b = image.shape[0]
    # A CPU generator draws the same numbers on any device; the factors move to the images below.
    factors = 1 + strength * (2 * torch.rand(3, b, generator=generator) - 1)  # device-ok: CPU generator
    bright, contrast, saturation = to_device(factors, image.device).to(image.dtype).unbind(0)
    pivot = bright * image.mean(dim=(1, 2, 3))

    def apply(img: torch.Tensor) -> torch.Tensor:
        shape = (b,) + (1,) * (img.dim() - 1)
        br, co, sa, mean = (f.view(shape) for f in (bright, contrast, saturation, pivot))
        img = (img * br - mean) * co + mean
        grey = img.mean(dim=-3, keepdim=True)
        return ((img - grey) * sa + grey).clamp(0, 1)

    out = dict(batch)
    out["image"] = apply(image)
    if "views_image" in batch:
        out["views_image"] = apply(batch["views_image"])
    return out


def augment_batch(batch: Batch, *, flip: bool, color_jitter: float, seed: int, step: int, salt: int) -> Batch:
    """The training augmentations (``data.flip``, ``data.color_jitter``) of one batch at ``step``;
    ``salt`` tells the batches of one step apart (source 0, target 1)."""
    if flip:
        g = torch.Generator().manual_seed(seed * 1_000_003 + step * 2 + salt)
        mirrored = torch.rand(batch["image"].shape[0], generator=g) < 0.5  # device-ok: CPU generator, moved below
        if bool(mirrored.any()):  # decided on the CPU: asking a GPU tensor would wait for the GPU
            batch = flip_batch(batch, to_device(mirrored, batch["image"].device))
    if color_jitter > 0:
        g = torch.Generator().manual_seed(seed * 1_000_033 + step * 2 + salt)
        batch = jitter_batch(batch, color_jitter, g)
    return batch
