"""Sample transforms that keep intrinsics and poses exact: resize, crop, horizontal flip, colour jitter.

Every transform maps a Sample to a new Sample and is applied to the target image and all neighbour
views alike, so warping a view into the target with the (transformed) depth, pose and K still
reproduces the (transformed) target. Conventions:

- Pixel centres lie at integer coordinates. A resize by (sx, sy) maps x -> (x + 0.5) sx - 0.5, hence
  fx' = sx fx and cx' = (cx + 0.5) sx - 0.5 (not sx cx, which is off by half a pixel).
- A horizontal flip maps x -> W - 1 - x. It mirrors every 3D point (X -> -X, matrix M = diag(-1,1,1,1)),
  so cx' = W - 1 - cx and every pose becomes T' = M T M. We flip the target and all views and keep
  them in place (we do not swap the stereo images): after the flip the right camera of a stereo
  pair sits at +baseline, i.e. the pair looks like a right image with its left partner. This is what
  monodepth2 does when it negates the stereo baseline of flipped samples; here it falls out of M T M.
- Depth is downsampled by moving each valid pixel to the output pixel whose centre is nearest and
  keeping the most central one, so sparse LiDAR points are not lost between sampling positions and
  depths are never interpolated across edges; semantics use nearest-neighbour.
- Colour jitter is one affine colour map per sample (brightness, contrast about mid-grey, saturation,
  hue rotation) applied identically to every view, so photometric consistency survives.

Random transforms draw from ``generator`` (default: torch's global generator, seeded per DataLoader worker).
"""
from __future__ import annotations

import math
from dataclasses import replace
from typing import Callable, Optional, Sequence

import torch
import torch.nn.functional as F

from edgedepth.data.geometry import mirror_x
from edgedepth.data.sample import Sample, View
from edgedepth.errors import DataError

Transform = Callable[..., Sample]


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


def hflip(sample: Sample) -> Sample:
    """Mirror horizontally: cx -> W-1-cx and every pose T -> M T M (see the module docstring)."""
    w = sample.image.shape[-1]
    flip = lambda t: torch.flip(t, dims=[-1])  # noqa: E731
    M = torch.from_numpy(mirror_x()).to(torch.float32)
    image = flip(sample.image)
    views = [replace(v, image=flip(v.image), T=M @ v.T.float() @ M) for v in sample.views]
    K = sample.K.clone().float()
    K[0, 2] = (w - 1) - K[0, 2]
    depth = None if sample.depth is None else flip(sample.depth)
    semantics = None if sample.semantics is None else flip(sample.semantics)
    return replace(sample, image=image, views=views, K=K, depth=depth, semantics=semantics)


def color_matrix(brightness: float, contrast: float, saturation: float, hue: float) -> tuple[torch.Tensor, torch.Tensor]:
    """One affine colour map (A [3,3], b [3]) with x' = A x + b.

    brightness/contrast/saturation are factors (1 = unchanged; contrast about mid-grey 0.5, not about
    the image mean, so that every view gets the same map); hue is a rotation in turns (0 = unchanged)
    of the chroma plane of YIQ.
    """
    rgb_to_yiq = torch.tensor([[0.299, 0.587, 0.114], [0.596, -0.274, -0.322], [0.211, -0.523, 0.312]], dtype=torch.float64)
    c, s = math.cos(2 * math.pi * hue), math.sin(2 * math.pi * hue)
    rotate = torch.tensor([[1.0, 0, 0], [0, c, -s], [0, s, c]], dtype=torch.float64)
    hue_map = torch.linalg.inv(rgb_to_yiq) @ rotate @ rgb_to_yiq
    gray = torch.tensor([0.299, 0.587, 0.114], dtype=torch.float64)
    sat_map = saturation * torch.eye(3, dtype=torch.float64) + (1 - saturation) * gray.expand(3, 3)
    A = contrast * brightness * (sat_map @ hue_map)
    b = torch.full((3,), 0.5 * (1 - contrast), dtype=torch.float64)
    return A.float(), b.float()


def color_jitter(sample: Sample, A: torch.Tensor, b: torch.Tensor) -> Sample:
    """Apply x' = clamp(A x + b) to the target and every view."""
    apply = lambda img: (torch.einsum("ij,jhw->ihw", A, img) + b[:, None, None]).clamp_(0.0, 1.0)  # noqa: E731
    image, views = _map_images(sample, apply)
    return replace(sample, image=image, views=views)


# ---------------------------------------------------------------- callable transforms
def _uniform(low: float, high: float, generator: Optional[torch.Generator]) -> float:
    return low + (high - low) * float(torch.rand((), generator=generator, dtype=torch.float64))


class Resize:
    def __init__(self, size: tuple[int, int]):
        self.size = tuple(size)

    def __call__(self, sample: Sample, generator: Optional[torch.Generator] = None) -> Sample:
        return resize(sample, self.size)


class ResizeCover:
    """Keep the aspect ratio: scale to cover ``size``, then centre-crop (KITTI, Cityscapes at 96x320)."""

    def __init__(self, size: tuple[int, int]):
        self.size = tuple(size)

    def __call__(self, sample: Sample, generator: Optional[torch.Generator] = None) -> Sample:
        return resize_cover(sample, self.size)


class CenterCrop:
    def __init__(self, size: tuple[int, int]):
        self.size = tuple(size)

    def __call__(self, sample: Sample, generator: Optional[torch.Generator] = None) -> Sample:
        return center_crop(sample, self.size)


class RandomCrop:
    def __init__(self, size: tuple[int, int]):
        self.size = tuple(size)

    def __call__(self, sample: Sample, generator: Optional[torch.Generator] = None) -> Sample:
        h, w = sample.image.shape[-2:]
        top = int(torch.randint(0, max(h - self.size[0], 0) + 1, (), generator=generator))
        left = int(torch.randint(0, max(w - self.size[1], 0) + 1, (), generator=generator))
        return crop(sample, top, left, *self.size)


class RandomHorizontalFlip:
    def __init__(self, p: float = 0.5):
        self.p = p

    def __call__(self, sample: Sample, generator: Optional[torch.Generator] = None) -> Sample:
        return hflip(sample) if float(torch.rand((), generator=generator)) < self.p else sample


class ColorJitter:
    """Random brightness/contrast/saturation factors in [1-x, 1+x] and hue in [-hue, hue] turns."""

    def __init__(self, brightness: float = 0.2, contrast: float = 0.2, saturation: float = 0.2, hue: float = 0.05):
        self.brightness, self.contrast, self.saturation, self.hue = brightness, contrast, saturation, hue

    def __call__(self, sample: Sample, generator: Optional[torch.Generator] = None) -> Sample:
        factors = [_uniform(1 - x, 1 + x, generator) for x in (self.brightness, self.contrast, self.saturation)]
        A, b = color_matrix(*factors, _uniform(-self.hue, self.hue, generator))
        return color_jitter(sample, A, b)


class Compose:
    def __init__(self, transforms: Sequence[Transform]):
        self.transforms = list(transforms)

    def __call__(self, sample: Sample, generator: Optional[torch.Generator] = None) -> Sample:
        for transform in self.transforms:
            sample = transform(sample, generator)
        return sample


def augmentations(*, flip: bool = True, color_jitter: float = 0.0) -> list[Transform]:
    """The training augmentations the config asks for (``data.flip``, ``data.color_jitter``)."""
    out: list[Transform] = []
    if flip:
        out.append(RandomHorizontalFlip(0.5))
    if color_jitter > 0:
        out.append(ColorJitter(color_jitter, color_jitter, color_jitter, min(0.5, color_jitter / 4)))
    return out


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
        return getattr(self.dataset, name)
