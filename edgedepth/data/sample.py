"""The one Sample type every dataset yields, and the batch collation the trainer uses."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

import torch


@dataclass
class View:
    """A neighbour view: ``image`` [3,H,W] in [0,1] and ``T`` [4,4], target camera -> this camera."""

    image: torch.Tensor
    T: torch.Tensor
    kind: str = "stereo"  # "stereo" | "temporal"


@dataclass
class Sample:
    """One training/evaluation example.

    image      [3,H,W] float32 RGB in [0,1]
    K          [3,3]   float32 pixel intrinsics of ``image``
    views      neighbour views (stereo partner and/or temporal neighbours) with exact poses
    depth      [1,H,W] float32 metres, 0 = unknown; or None
    semantics  [H,W]   int64 Cityscapes trainIds, 255 = ignore; or None
    complexity a float, larger = harder (used by the curriculum)
    """

    image: torch.Tensor
    K: torch.Tensor
    views: list[View] = field(default_factory=list)
    depth: Optional[torch.Tensor] = None
    semantics: Optional[torch.Tensor] = None
    complexity: float = 0.0
    domain: str = ""
    name: str = ""

    def __getitem__(self, key: str):
        """Samples can also be read as mappings: ``sample["image"]``."""
        return getattr(self, key)


IGNORE_INDEX = 255


def collate_samples(samples: list[Sample]) -> dict[str, torch.Tensor]:
    """Stack samples into a batch dict.

    image [B,3,H,W], K [B,3,3], depth [B,1,H,W] (0 where unknown or absent),
    semantics [B,H,W] (255 where absent), views_image [B,V,3,H,W], views_T [B,V,4,4]
    (V = the smallest number of views in the batch), complexity [B].
    """
    if not samples:
        raise ValueError("collate_samples needs at least one sample")
    h, w = samples[0].image.shape[-2:]
    n_views = min(len(s.views) for s in samples)
    batch = {
        "image": torch.stack([s.image for s in samples]),
        "K": torch.stack([s.K.to(torch.float32) for s in samples]),
        "depth": torch.stack(
            [s.depth if s.depth is not None else torch.zeros(1, h, w) for s in samples]
        ),
        "semantics": torch.stack(
            [
                s.semantics if s.semantics is not None else torch.full((h, w), IGNORE_INDEX, dtype=torch.int64)
                for s in samples
            ]
        ),
        "complexity": torch.tensor([float(s.complexity) for s in samples]),
    }
    if n_views:
        batch["views_image"] = torch.stack([torch.stack([v.image for v in s.views[:n_views]]) for s in samples])
        batch["views_T"] = torch.stack([torch.stack([v.T.to(torch.float32) for v in s.views[:n_views]]) for s in samples])
    return batch
