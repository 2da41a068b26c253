"""A PNG contact sheet of samples: image | depth (colourised inverse depth) | semantics (Cityscapes colours)."""
from __future__ import annotations

import io
import os
from typing import Sequence, Union

import numpy as np
from PIL import Image

from edgedepth.data.sample import IGNORE_INDEX, Sample
from edgedepth.imaging import colorize
from edgedepth.utils.io import atomic_write_bytes

# The official Cityscapes colours of trainIds 0..18 (road, sidewalk, building, ..., bicycle).
CITYSCAPES_PALETTE = np.array(
    [(128, 64, 128), (244, 35, 232), (70, 70, 70), (102, 102, 156), (190, 153, 153), (153, 153, 153),
     (250, 170, 30), (220, 220, 0), (107, 142, 35), (152, 251, 152), (70, 130, 180), (220, 20, 60),
     (255, 0, 0), (0, 0, 142), (0, 0, 70), (0, 60, 100), (0, 80, 100), (0, 0, 230), (119, 11, 32)],
    dtype=np.uint8,
)


def colorize_semantics(labels: np.ndarray) -> np.ndarray:
    """[H,W] trainIds -> [H,W,3] uint8; ignore (255) and unknown ids are black."""
    labels = np.asarray(labels).astype(np.int64)
    known = (labels >= 0) & (labels < len(CITYSCAPES_PALETTE))
    rgb = CITYSCAPES_PALETTE[np.where(known, labels, 0)]
    rgb[~known | (labels == IGNORE_INDEX)] = 0
    return rgb


def _depth_tile(depth: np.ndarray) -> np.ndarray:
    known = depth > 0
    inverse = np.where(known, 1.0 / np.maximum(depth, 1e-6), 0.0)
    hi = float(np.percentile(inverse[known], 99)) if known.any() else 1.0
    return colorize(inverse, 0.0, hi, mask=known)


def preview_grid(samples: Sequence[Sample], path: Union[str, os.PathLike], *, pad: int = 2) -> np.ndarray:
    """Write a PNG with one row per sample (image | depth | semantics) to ``path``; returns the [H',W',3] uint8 grid.

    Missing depth or semantics show as black tiles.
    """
    if not samples:
        raise ValueError("preview_grid needs at least one sample")
    h, w = samples[0].image.shape[-2:]
    canvas = np.full((len(samples) * (h + pad) - pad, 3 * (w + pad) - pad, 3), 255, dtype=np.uint8)
    for row, sample in enumerate(samples):
        image = (sample.image.detach().clamp(0, 1).permute(1, 2, 0).cpu().numpy() * 255 + 0.5).astype(np.uint8)
        depth = _depth_tile(sample.depth[0].cpu().numpy()) if sample.depth is not None else np.zeros_like(image)
        semantics = colorize_semantics(sample.semantics.cpu().numpy()) if sample.semantics is not None else np.zeros_like(image)
        y = row * (h + pad)
        for col, tile in enumerate((image, depth, semantics)):
            x = col * (w + pad)
            canvas[y:y + h, x:x + w] = tile
    buffer = io.BytesIO()
    Image.fromarray(canvas).save(buffer, format="PNG")
    atomic_write_bytes(path, buffer.getvalue())
    return canvas
