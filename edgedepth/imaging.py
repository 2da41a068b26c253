"""Images as numpy arrays, for the deploy half (no torch): read, list, resize, colourise.

``read_rgb`` decodes fully or fails: a truncated JPEG or PNG is an error here, never half an image.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")

# The magma ramp at nine stops (matplotlib's), interpolated linearly: near = bright.
_MAGMA = np.array([
    [0, 0, 4], [29, 17, 71], [81, 18, 124], [131, 38, 129], [183, 55, 121],
    [231, 82, 99], [252, 137, 97], [254, 196, 136], [252, 253, 191],
], dtype=np.float64)  # fmt: skip


def list_images(folder: str | os.PathLike) -> list[Path]:
    """The image files directly in ``folder``, sorted by name."""
    return sorted(p for p in Path(folder).iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)


def read_rgb(path: str | os.PathLike) -> np.ndarray:
    """[H,W,3] uint8 RGB; raises OSError (naming the file) when it cannot be decoded completely."""
    from PIL import Image

    try:
        with Image.open(path) as image:
            image.load()  # decodes everything now: a truncated file raises instead of returning grey rows
            return np.asarray(image.convert("RGB"))
    except OSError as e:
        raise OSError(f"cannot decode {path}: {e}") from None
    except Exception as e:  # PIL raises ValueError/SyntaxError-like errors for some corrupt headers
        raise OSError(f"cannot decode {path}: {type(e).__name__}: {e}") from None


def resize_cover(image: np.ndarray, size: tuple[int, int], *, nearest: bool = False) -> np.ndarray:
    """Scale [H,W,3] uint8 to cover ``size`` (H, W), keeping the aspect ratio, then centre-crop to it.

    ``nearest``: nearest-neighbour sampling, for maps whose values must not be blended (e.g. a
    [H,W] float32 depth map).
    """
    from PIL import Image

    h, w = image.shape[:2]
    out_h, out_w = size
    scale = max(out_h / h, out_w / w)
    new_h, new_w = max(out_h, round(h * scale)), max(out_w, round(w * scale))
    if nearest:
        resample = Image.Resampling.NEAREST
    else:
        resample = Image.Resampling.BOX if scale < 1 else Image.Resampling.BILINEAR
    resized = np.asarray(Image.fromarray(image).resize((new_w, new_h), resample))
    top, left = (new_h - out_h) // 2, (new_w - out_w) // 2
    return resized[top:top + out_h, left:left + out_w]


def _magma_lut(levels: int = 256) -> np.ndarray:
    """[levels, 3] uint8: the magma ramp sampled at ``levels`` evenly spaced points."""
    t = np.linspace(0.0, len(_MAGMA) - 1, levels)
    lo = np.floor(t).astype(int).clip(0, len(_MAGMA) - 2)
    frac = (t - lo)[:, None]
    return (_MAGMA[lo] * (1 - frac) + _MAGMA[lo + 1] * frac).round().astype(np.uint8)


_MAGMA_LUT = _magma_lut()


def colorize(values: np.ndarray, vmin: float, vmax: float, mask: np.ndarray | None = None, *, bgr: bool = False) -> np.ndarray:
    """[H,W] floats -> [H,W,3] uint8 through the magma ramp (256 levels); pixels outside ``mask`` are black.
    ``bgr``: channels in OpenCV's order, for cv2.imencode and video writers.

    A lookup table on uint8 levels (with OpenCV's LUT where it is installed): the camera path colourises every
    frame, ~0.4 ms at 192x640 against 9 ms for the float64 interpolation it replaces."""
    scale = np.float32((len(_MAGMA_LUT) - 1) / max(vmax - vmin, 1e-12))
    t = (np.asarray(values, dtype=np.float32) - np.float32(vmin)) * scale
    np.clip(t, 0, len(_MAGMA_LUT) - 1, out=t)
    np.nan_to_num(t, copy=False, nan=0.0)
    index = (t + np.float32(0.5)).astype(np.uint8)
    lut = _MAGMA_LUT[:, ::-1] if bgr else _MAGMA_LUT
    try:
        import cv2

        rgb = cv2.applyColorMap(index, np.ascontiguousarray(lut).reshape(256, 1, 3))
    except ImportError:
        rgb = lut[index]
    if mask is not None:
        rgb[~mask] = 0
    return rgb


def colorize_depth(depth_m: np.ndarray, *, min_depth: float, max_depth: float, bgr: bool = False) -> np.ndarray:
    """[H,W] metres -> [H,W,3] uint8 RGB (or BGR): inverse depth on a fixed range, so colours are stable over frames."""
    inverse = np.float32(1.0) / np.clip(np.asarray(depth_m, dtype=np.float32), np.float32(min_depth), np.float32(max_depth))
    return colorize(inverse, 1.0 / max_depth, 1.0 / min_depth, bgr=bgr)
