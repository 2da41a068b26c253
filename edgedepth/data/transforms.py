"""Sample transforms that fit a dataset to the training size and keep intrinsics and poses exact:
resize, crop, centre crop, resize-to-cover.

Every transform maps a Sample to a new Sample and is applied to the target image and all neighbour
views alike, so warping a view into the target with the (transformed) depth, pose and K still
reproduces the (transformed) target. Conventions:

- Pixel centres lie at integer coordinates. A resize by (sx, sy) maps x -> (x + 0.5) sx - 0.5, hence
  fx' = sx fx and cx' = (cx + 0.5) sx - 0.5 (not sx cx, which is off by half a pixel).
- Depth is downsampled by moving each valid pixel to the output pixel whose centre is nearest and
  keeping the most central one, so sparse LiDAR points are not lost between sampling positions and
  depths are never interpolated across edges; semantics use nearest-neighbour.

Random augmentations (flips, colour jitter) are not here: training applies them to whole batches on
its device (``edgedepth.train.augment``), the one augmentation path.
"""
from __future__ import annotations

import math
from dataclasses import replace
from typing import Callable, Sequence

import torch
import torch.nn.functional as F

from edgedepth.data.sample import Sample, View
from edgedepth.errors import DataError

Transform = Callable[[Sample], Sample]


# ---------------------------------------------------------------- functional
def _map_images(sample: Sample, fn: Callable[[torch.Tensor], torch.Tensor]) -> tuple[torch.Tensor, list[View]]:
    return fn(sample.image), [replace(v, image=fn(v.image)) for v in sample.views]


def resize(sample: Sample, size: tuple[int, int]) -> Sample:
    """Resize to ``size`` (H, W): bilinear (antialiased) images, K scaled about pixel centres."""
    h, w = sample.image.shape[-2:]
    out_h, out_w = int(size[0]), int(size[1])
    if (out_h, out_w) == (h, w):
        return sample
    sx, sy = out_w / w, out_h / h

    def image_fn(img: torch.Tensor) -> torch.Tensor:
        out = F.interpolate(img[None], size=(out_h, out_w), mode="bilinear", align_corners=False, antialias=True)
        return out[0].clamp_(0.0, 1.0)

    image, views = _map_images(sample, image_fn)
    K = sample.K.clone().float()
    K[0, 0], K[1, 1] = K[0, 0] * sx, K[1, 1] * sy
    K[0, 2], K[1, 2] = (K[0, 2] + 0.5) * sx - 0.5, (K[1, 2] + 0.5) * sy - 0.5
    depth = None if sample.depth is None else resize_depth(sample.depth, (out_h, out_w))
    semantics = None
    if sample.semantics is not None:
        semantics = F.interpolate(sample.semantics[None, None].float(), size=(out_h, out_w), mode="nearest-exact")
        semantics = semantics[0, 0].to(sample.semantics.dtype)
    return replace(sample, image=image, views=views, K=K, depth=depth, semantics=semantics)


def resize_depth(depth: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Resize a depth map [1,H,W] (0 = unknown) to ``size``.

    Shrinking moves every valid pixel to the output pixel whose centre is nearest and keeps, per
    output pixel, the point closest to that centre (ties: the nearer depth). Dense maps thus get
    nearest-neighbour sampling without bias, and sparse LiDAR points are all kept instead of being
    hit or missed by the sampling grid. Enlarging is nearest-neighbour.
    """
    h, w = depth.shape[-2:]
    out_h, out_w = size
    if out_h > h or out_w > w:
        return F.interpolate(depth[None], size=(out_h, out_w), mode="nearest-exact")[0]
    values = depth[0]
    ys, xs = torch.nonzero(values > 0, as_tuple=True)
    x = (xs.double() + 0.5) * (out_w / w) - 0.5
    y = (ys.double() + 0.5) * (out_h / h) - 0.5
    u, v = torch.round(x).long().clamp_(0, out_w - 1), torch.round(y).long().clamp_(0, out_h - 1)
    target = v * out_w + u
    offset = (x - u) ** 2 + (y - v) ** 2
    best = torch.full((out_h * out_w,), math.inf, dtype=torch.float64)
    best.scatter_reduce_(0, target, offset, reduce="amin")
    central = offset <= best[target]
    out = torch.full((out_h * out_w,), math.inf, dtype=depth.dtype)
    out.scatter_reduce_(0, target[central], values[ys, xs][central], reduce="amin")
    out[torch.isinf(out)] = 0.0
    return out.view(1, out_h, out_w)


def crop(sample: Sample, top: int, left: int, height: int, width: int) -> Sample:
    """Crop the window [top:top+height, left:left+width]; the principal point moves by (-left, -top)."""
    h, w = sample.image.shape[-2:]
    if top < 0 or left < 0 or top + height > h or left + width > w:
        raise DataError(f"crop {height}x{width} at ({top}, {left}) does not fit a {h}x{w} image", fix="use a smaller crop")
    window = (..., slice(top, top + height), slice(left, left + width))
    image, views = _map_images(sample, lambda img: img[window].contiguous())
    K = sample.K.clone().float()
    K[0, 2] -= left
    K[1, 2] -= top
    depth = None if sample.depth is None else sample.depth[window].contiguous()
    semantics = None if sample.semantics is None else sample.semantics[window].contiguous()
    return replace(sample, image=image, views=views, K=K, depth=depth, semantics=semantics)


def center_crop(sample: Sample, size: tuple[int, int]) -> Sample:
    h, w = sample.image.shape[-2:]
    return crop(sample, (h - size[0]) // 2, (w - size[1]) // 2, size[0], size[1])


def resize_cover(sample: Sample, size: tuple[int, int]) -> Sample:
    """Scale (keeping the aspect ratio) until the image covers ``size``, then centre-crop to it."""
    h, w = sample.image.shape[-2:]
    scale = max(size[0] / h, size[1] / w)
    covering = (max(size[0], round(h * scale)), max(size[1], round(w * scale)))
    return center_crop(resize(sample, covering), size)


# ---------------------------------------------------------------- callable transforms
class Resize:
    def __init__(self, size: tuple[int, int]):
        self.size = tuple(size)

    def __call__(self, sample: Sample) -> Sample:
        return resize(sample, self.size)


class ResizeCover:
    """Keep the aspect ratio: scale to cover ``size``, then centre-crop (KITTI, Cityscapes at 96x320)."""

    def __init__(self, size: tuple[int, int]):
        self.size = tuple(size)

    def __call__(self, sample: Sample) -> Sample:
        return resize_cover(sample, self.size)


class CenterCrop:
    def __init__(self, size: tuple[int, int]):
        self.size = tuple(size)

    def __call__(self, sample: Sample) -> Sample:
        return center_crop(sample, self.size)


class Compose:
    def __init__(self, transforms: Sequence[Transform]):
        self.transforms = list(transforms)

    def __call__(self, sample: Sample) -> Sample:
        for transform in self.transforms:
            sample = transform(sample)
        return sample


class TransformedDataset(torch.utils.data.Dataset):
    """``dataset`` with ``transform`` applied to every item (attributes of the wrapped dataset stay reachable)."""

    def __init__(self, dataset, transform: Transform):
        self.dataset, self.transform = dataset, transform

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int) -> Sample:
        return self.transform(self.dataset[index])

    def __getattr__(self, name: str):
        if name in ("dataset", "transform"):  # not set yet (e.g. while unpickling in a worker)
            raise AttributeError(name)
        if name == "load_batch":  # a batch gathered from the wrapped dataset would skip the transform
            raise AttributeError(name)
        return getattr(self.dataset, name)
