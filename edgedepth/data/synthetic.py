"""The built-in synthetic two-domain driving world as a torch Dataset that renders on the fly.

The world itself (layout, camera, rendering, complexity) is numpy and lives in
``edgedepth.data.synthetic_world``; :class:`SyntheticWorld` turns its arrays into :class:`Sample`
tensors, bit for bit.
"""
from __future__ import annotations

import numpy as np
import torch
from torch.utils.data import Dataset

from edgedepth.data.registry import DatasetOptions, register_dataset
from edgedepth.data.sample import Sample, View
from edgedepth.data.synthetic_world import (  # noqa: F401  (re-exported: the world's constants)
    CAMERAS,
    DOMAINS,
    MAX_DEPTH,
    STEREO_BASELINE,
    VIEW_SETS,
    WorldRenderer,
    intrinsics,
)


class SyntheticWorld(WorldRenderer, Dataset):
    """Procedural street scenes with exact depth, semantics, intrinsics and neighbour poses.

    Items are :class:`Sample`: image [3,H,W] float32 in [0,1]; depth [1,H,W] float32 z-depth in
    metres (0 = sky or farther than 80 m); semantics [H,W] int64 Cityscapes trainIds; K [3,3];
    views (stereo right camera, T translation x = -0.54 m; then previous and next frame, camera
    moving ~1 m/frame forward), each with T [4,4] = target camera -> view camera; complexity.
    """

    def __getitem__(self, index: int) -> Sample:
        return self.render(index)[0]

    def render(self, index: int, *, view_depths: bool = False) -> tuple[Sample, list[torch.Tensor]]:
        """The sample and, if ``view_depths``, each view's own depth [1,H,W] (for occlusion checks)."""
        arrays = self.render_arrays(index)
        views = [View(image=torch.from_numpy(v.image), T=torch.from_numpy(v.T.astype(np.float32)), kind=v.kind)
                 for v in arrays.views]
        sample = Sample(
            image=torch.from_numpy(arrays.image),
            K=torch.from_numpy(arrays.K.astype(np.float32)),
            views=views,
            depth=torch.from_numpy(arrays.depth),
            semantics=torch.from_numpy(arrays.semantics),
            complexity=arrays.complexity,
            domain=arrays.domain,
            name=arrays.name,
        )
        return sample, [torch.from_numpy(v.depth) for v in arrays.views] if view_depths else []


def _world_builder(domain: str):
    def build(options: DatasetOptions) -> Dataset:
        if options.cache:
            from edgedepth.data.render_cache import cached_world

            return cached_world(domain, size=options.size, length=options.length, seed=options.seed,
                                views=options.views, cache_dir=options.cache_dir)
        return SyntheticWorld(domain=domain, size=options.size, length=options.length, seed=options.seed,
                              views=options.views)

    return build


for _domain in DOMAINS:
    register_dataset(f"synthetic-{_domain}", reads_folder=False)(_world_builder(_domain))
