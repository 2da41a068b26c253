"""The data of ``bench --accuracy-data``, read with numpy (the deploy half has no torch).

Two sources: the built-in synthetic world (``synthetic-target``, ``synthetic-source``; ``synthetic``
means the target domain), rendered at the model's input size by ``edgedepth.data.synthetic_world``,
and a folder written by ``edgedepth data synth --out DIR`` (image and 16-bit depth PNGs, read by
``edgedepth.data.folder_format``). Real datasets (KITTI, Virtual KITTI 2, Cityscapes) need the
training stack's loaders: ``edgedepth eval`` measures them.
"""
from __future__ import annotations

from pathlib import Path
from typing import Iterator

import numpy as np

from edgedepth.errors import EdgedepthError

SYNTHETIC = {"synthetic-source": "source", "synthetic-target": "target", "synthetic": "target"}


def _synthetic(domain: str, size: tuple[int, int], samples: int, seed: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    from edgedepth.data.synthetic_world import WorldRenderer

    world = WorldRenderer(domain, size=size, length=samples, seed=seed, views="none")
    for index in range(samples):
        sample = world.render_arrays(index, with_views=False)
        yield sample.image, sample.depth[0]


def _folder(root: Path, size: tuple[int, int], samples: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    from edgedepth.data.folder_format import SynthFolder, read_meta
    from edgedepth.imaging import resize_cover

    domains = read_meta(root).get("domains", [])
    folder = SynthFolder(root, domain="target" if "target" in domains else None)
    for index in range(min(samples, len(folder))):
        arrays = folder.read_arrays(index)
        image, depth = arrays["image"], arrays["depth"]
        if folder.size != tuple(size):
            image, depth = resize_cover(image, size), resize_cover(depth, size, nearest=True)
        yield image.transpose(2, 0, 1).astype(np.float32) / np.float32(255.0), depth


def accuracy_samples(data: str, *, size: tuple[int, int], samples: int, seed: int = 0
                     ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """(image [3,H,W] float32 in [0,1], depth [H,W] float32 metres, 0 = unknown) pairs of ``data`` at ``size``.

    ``data``: a synthetic world name (``seed`` picks its samples) or a synth folder; anything else
    raises EdgedepthError with the fix.
    """
    if data in SYNTHETIC:
        return _synthetic(SYNTHETIC[data], size, samples, seed)
    path = Path(data)
    if (path / "meta.yaml").is_file():
        return _folder(path, size, samples)
    what = f"folder {data!r} (no meta.yaml)" if path.is_dir() else repr(data)
    raise EdgedepthError(
        f"bench --accuracy-data cannot read {what}",
        why="bench runs without the training stack: it reads the built-in synthetic world "
        f"({', '.join(SYNTHETIC)}) or a folder written by `edgedepth data synth`, not KITTI, Virtual KITTI 2 "
        "or Cityscapes",
        fix="use --accuracy-data synthetic-target; or write a folder with `edgedepth data synth --out DIR --n 8 "
        "--domain target` and pass --accuracy-data DIR; measure a real dataset with `edgedepth eval --data NAME "
        "--root DIR` on the checkpoint",
    )
