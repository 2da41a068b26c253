"""The two looks of the synthetic world, applied to ray-cast :class:`Hits`.

``source``: a clean "virtual" look: saturated flat colours, one sun, no texture, no noise.
``target``: a "real-like" look: other palette and light, procedural textures anchored to world
coordinates (so every view of a surface agrees), haze that grows with distance, gamma and
contrast shift, vignetting, lens blur and sensor noise.
Colours depend only on the surface, the light direction and the distance, so a neighbour view
warped with true depth and pose reproduces the target image (up to noise, haze and vignetting).
"""
from __future__ import annotations

import functools

import numpy as np

from edgedepth.data.synthetic_render import Hits
from edgedepth.data.synthetic_scene import BUILDING, CAR, POLE, ROAD, SIDEWALK, SKY, TERRAIN, VEGETATION

_VARIANTS = 8


def _table(palettes: dict[int, list[tuple[float, float, float]]]) -> np.ndarray:
    """[20, 8, 3] albedo table: class trainId x tint variant (palettes repeat to fill 8 variants)."""
    table = np.zeros((20, _VARIANTS, 3), dtype=np.float32)
    for cls, colours in palettes.items():
        table[cls] = [colours[i % len(colours)] for i in range(_VARIANTS)]
    return table


SOURCE_ALBEDO = _table(
    {
        ROAD: [(0.30, 0.30, 0.32)],
        SIDEWALK: [(0.72, 0.66, 0.66)],
        TERRAIN: [(0.45, 0.65, 0.30)],
        BUILDING: [(0.85, 0.75, 0.55), (0.70, 0.45, 0.40), (0.55, 0.60, 0.80), (0.82, 0.82, 0.80),
                   (0.60, 0.72, 0.55), (0.92, 0.60, 0.45), (0.50, 0.50, 0.58), (0.78, 0.68, 0.88)],
        POLE: [(0.55, 0.55, 0.62)],
        VEGETATION: [(0.20, 0.62, 0.15), (0.28, 0.70, 0.22), (0.15, 0.55, 0.25)],
        CAR: [(0.85, 0.10, 0.10), (0.10, 0.25, 0.85), (0.95, 0.85, 0.10), (0.92, 0.92, 0.92),
              (0.10, 0.10, 0.10), (0.10, 0.60, 0.20), (0.95, 0.50, 0.10), (0.70, 0.72, 0.76)],
    }
)
TARGET_ALBEDO = _table(
    {
        ROAD: [(0.40, 0.37, 0.33)],
        SIDEWALK: [(0.55, 0.53, 0.48)],
        TERRAIN: [(0.42, 0.38, 0.22)],
        BUILDING: [(0.55, 0.27, 0.18), (0.58, 0.57, 0.54), (0.70, 0.62, 0.45), (0.30, 0.30, 0.32),
                   (0.66, 0.48, 0.25), (0.45, 0.48, 0.50), (0.62, 0.40, 0.30), (0.75, 0.72, 0.66)],
        POLE: [(0.35, 0.33, 0.30)],
        VEGETATION: [(0.28, 0.32, 0.12), (0.50, 0.35, 0.10), (0.22, 0.28, 0.15), (0.40, 0.38, 0.14)],
        CAR: [(0.35, 0.12, 0.10), (0.15, 0.18, 0.25), (0.60, 0.60, 0.58), (0.12, 0.12, 0.12),
              (0.45, 0.42, 0.35), (0.25, 0.28, 0.22), (0.50, 0.50, 0.52), (0.20, 0.15, 0.12)],
    }
)
SOURCE_MARKING = np.array([0.95, 0.95, 0.95], dtype=np.float32)
TARGET_MARKING = np.array([0.85, 0.78, 0.45], dtype=np.float32)
SOURCE_SUN = np.array([-0.4, 0.8, -0.45]) / np.linalg.norm([-0.4, 0.8, -0.45])
TARGET_SUN = np.array([0.7, 0.45, 0.3]) / np.linalg.norm([0.7, 0.45, 0.3])
TARGET_LIGHT = np.array([1.05, 0.97, 0.85], dtype=np.float32)  # warm white balance
TARGET_HAZE = np.array([0.80, 0.79, 0.76], dtype=np.float32)


def _albedo(hits: Hits, table: np.ndarray) -> np.ndarray:
    variant = np.minimum((hits.tint * _VARIANTS).astype(np.int64), _VARIANTS - 1)
    return np.take(table.reshape(-1, 3), hits.cls.astype(np.int64) * _VARIANTS + variant, axis=0)


def _sky(hits: Hits, mask: np.ndarray, steepness: float, horizon, zenith) -> np.ndarray:
    """[n,3] sky colours of the ``mask`` pixels: a gradient from horizon to zenith by ray elevation."""
    d = hits.direction[mask]
    t = np.clip(steepness * d[:, 1] / np.sqrt((d * d).sum(1)), 0, 1)[:, None]
    return (1 - t) * np.array(horizon, np.float32) + t * np.array(zenith, np.float32)


def shade_source(hits: Hits) -> np.ndarray:
    """Flat "virtual" shading. Returns [H,W,3] float32 in [0,1]."""
    colour = _albedo(hits, SOURCE_ALBEDO)
    colour[hits.marking] = SOURCE_MARKING
    light = 0.5 + 0.5 * np.maximum(hits.normal @ SOURCE_SUN.astype(np.float32), 0)
    colour = colour * light[..., None]
    sky_mask = hits.cls == SKY
    colour[sky_mask] = _sky(hits, sky_mask, 3.0, (0.70, 0.85, 1.0), (0.25, 0.50, 0.95))
    return np.clip(colour, 0, 1).astype(np.float32)


# A fixed 256x256 lattice of random values, padded by one row and column so that the +1
# neighbours of a wrapped index never need a second wrap.
_LATTICE = np.pad(np.random.default_rng(12345).random((256, 256), dtype=np.float32), ((0, 1), (0, 1)), mode="wrap").ravel()
_STRIDE = 257


def value_noise(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Smooth value noise in [0, 1) on a unit lattice that repeats every 256 units; same shape as x."""
    fx, fy = np.floor(x), np.floor(y)
    tx, ty = x - fx, y - fy
    base = (fy.astype(np.int64) & 255) * _STRIDE + (fx.astype(np.int64) & 255)
    top = _LATTICE[base] + (_LATTICE[base + 1] - _LATTICE[base]) * tx
    bottom = _LATTICE[base + _STRIDE] + (_LATTICE[base + _STRIDE + 1] - _LATTICE[base + _STRIDE]) * tx
    return (top + (bottom - top) * ty).astype(np.float32)


@functools.lru_cache(maxsize=8)
def _vignette(height: int, width: int) -> np.ndarray:
    """Radial light fall-off [H,W,1]: 1 at the centre, 0.7 at the horizontal edges."""
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    r2 = ((xs - (width - 1) / 2) / (width / 2)) ** 2 + ((ys - (height - 1) / 2) / (width / 2)) ** 2
    return (1 - 0.3 * r2)[..., None].astype(np.float32)


def _surface_coords(hits: Hits) -> tuple[np.ndarray, np.ndarray]:
    """2-D texture coordinates on each surface, chosen by the dominant normal axis."""
    p, n = hits.point, np.abs(hits.normal)
    along_x = n[..., 0] >= np.maximum(n[..., 1], n[..., 2])
    along_y = ~along_x & (n[..., 1] >= n[..., 2])
    s = np.where(along_x, p[..., 2], p[..., 0])
    t = np.where(along_y, p[..., 2], p[..., 1])
    return s, t


def _blur(img: np.ndarray) -> np.ndarray:
    """Separable [1,2,1]/4 blur with edge replication, [H,W,3]."""
    p = np.pad(img, ((1, 1), (0, 0), (0, 0)), mode="edge")
    img = 0.25 * p[:-2] + 0.5 * p[1:-1] + 0.25 * p[2:]
    p = np.pad(img, ((0, 0), (1, 1), (0, 0)), mode="edge")
    return 0.25 * p[:, :-2] + 0.5 * p[:, 1:-1] + 0.25 * p[:, 2:]


def shade_target(hits: Hits, *, haze_distance: float, rng: np.random.Generator) -> np.ndarray:
    """"Real-like" shading. ``haze_distance``: metres at which 63 % of the light is haze.

    Returns [H,W,3] float32 in [0,1]; ``rng`` draws this view's sensor noise.
    """
    h, w = hits.cls.shape
    colour = _albedo(hits, TARGET_ALBEDO)
    s, t = _surface_coords(hits)
    salt = np.floor(hits.tint * 997)  # each object gets its own patch of the noise lattice
    grain = value_noise(s * 10 + salt, t * 10)
    stain = value_noise(s * 0.4 + salt, t * 0.4 + 151)
    texture = 0.7 + 0.35 * grain + 0.25 * (stain - 0.5)
    veg = hits.cls == VEGETATION
    texture[veg] = 0.35 + 1.1 * grain[veg]
    colour = colour * texture[..., None]
    # Windows: a dark glazed grid on facades above the ground floor.
    facade = np.flatnonzero((hits.cls == BUILDING) & (np.abs(hits.normal[..., 1]) < 0.5) & (t > 2.5))
    fs, ft = s.ravel()[facade], t.ravel()[facade]
    window = facade[(np.abs(np.mod(fs / 2.6, 1.0) - 0.5) < 0.25) & (np.abs(np.mod(ft / 3.1, 1.0) - 0.55) < 0.22)]
    colour.reshape(-1, 3)[window] = np.array([0.16, 0.19, 0.22], np.float32) + 0.1 * grain.ravel()[window, None]
    worn = hits.marking & (grain > 0.35)
    colour[worn] = TARGET_MARKING * (0.8 + 0.3 * grain[worn, None])

    light = 0.62 + 0.45 * np.maximum(hits.normal @ TARGET_SUN.astype(np.float32), 0)
    colour = colour * light[..., None] * TARGET_LIGHT
    sky_mask = hits.cls == SKY
    colour[sky_mask] = _sky(hits, sky_mask, 2.0, (0.86, 0.84, 0.80), (0.68, 0.71, 0.76))

    transmission = np.exp(-np.where(sky_mask, 0.0, hits.distance) / haze_distance)[..., None]
    colour = colour * transmission + TARGET_HAZE * (1 - transmission)
    colour = np.clip(colour, 0, 1)
    colour = colour * (1.25 - 0.25 * colour) * 0.85 + 0.06  # gamma-like lift and washed-out contrast
    colour = _blur(colour * _vignette(h, w))
    # Sensor noise: uniform with standard deviation 0.02 (cheaper to draw than Gaussian, same strength).
    colour += (rng.random(colour.shape, dtype=np.float32) - np.float32(0.5)) * np.float32(0.02 * 12**0.5)
    return np.clip(colour, 0, 1).astype(np.float32)
