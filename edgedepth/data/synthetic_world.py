"""The built-in synthetic two-domain driving world as numpy arrays (no torch): layout, camera, rendering.

Sample ``i`` is a pure function of (seed, domain, i): its street layout, camera, neighbours and
sensor noise are all drawn from a generator seeded with exactly those three values. Both domains
draw layouts from the same distribution; they differ in look (see ``synthetic_style``) and
slightly in camera (the target camera sits lower and has a narrower field of view).

Complexity: ``density`` = min(1, objects / 40) (cars, poles, trees, bushes). Source samples use
``complexity = density``; target samples ``0.6 * density + 0.4 * haze`` with ``haze`` in [0, 1]
from the haze distance (150 m -> 0, 25 m -> 1).

``edgedepth.data.synthetic.SyntheticWorld`` (the torch Dataset of training) wraps
:class:`WorldRenderer`; the deploy half (``bench --accuracy-data synthetic-target``) uses it directly.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from edgedepth.data.synthetic_render import CAMERA_TO_WORLD_AXES, cast
from edgedepth.data.synthetic_scene import make_scene
from edgedepth.data.synthetic_style import shade_source, shade_target
from edgedepth.errors import ConfigError

MAX_DEPTH = 80.0  # metres; farther surfaces get depth 0 (unknown), like sky
STEREO_BASELINE = 0.54
DOMAINS = {"source": 0, "target": 1}
VIEW_SETS = {"stereo": ("stereo",), "temporal": ("prev", "next"), "both": ("stereo", "prev", "next"), "none": ()}
HAZE_NEAR, HAZE_FAR = 25.0, 150.0
NOISE_STREAMS = {"stereo": 1, "prev": 2, "next": 3}  # the target image itself uses stream 0


@dataclass(frozen=True)
class DomainCamera:
    height: float  # metres above the ground
    height_jitter: float
    focal: float  # focal length as a fraction of the image width


CAMERAS = {"source": DomainCamera(1.65, 0.0, 0.58), "target": DomainCamera(1.50, 0.05, 0.64)}


def intrinsics(domain: str, size: tuple[int, int]) -> np.ndarray:
    """K [3,3] float64 of a domain's camera at ``size`` (H, W); square pixels, centred principal point."""
    h, w = size
    f = CAMERAS[domain].focal * w
    return np.array([[f, 0, (w - 1) / 2], [0, f, (h - 1) / 2], [0, 0, 1]], dtype=np.float64)


def _yaw(angle: float) -> np.ndarray:
    """Rotation by ``angle`` radians about the y axis (vertical in both world and camera frames)."""
    c, s = math.cos(angle), math.sin(angle)
    return np.array([[c, 0, s], [0, 1, 0], [-s, 0, c]])


def _rigid(rotation: np.ndarray, translation) -> np.ndarray:
    m = np.eye(4)
    m[:3, :3] = rotation
    m[:3, 3] = translation
    return m


@dataclass
class RenderedView:
    """A neighbour view: ``image`` [3,H,W] float32 in [0,1], ``T`` [4,4] float64 (target camera -> this
    camera), ``kind`` "stereo" or "temporal", and the view's own z-depth [1,H,W] float32."""

    image: np.ndarray
    T: np.ndarray
    kind: str
    depth: np.ndarray


@dataclass
class RenderedSample:
    """One sample as numpy arrays: image [3,H,W] float32 in [0,1]; depth [1,H,W] float32 metres (0 =
    sky or farther than 80 m); semantics [H,W] int64 Cityscapes trainIds; K [3,3] float64; views."""

    image: np.ndarray
    depth: np.ndarray
    semantics: np.ndarray
    K: np.ndarray
    complexity: float
    domain: str
    name: str
    views: list[RenderedView] = field(default_factory=list)


class WorldRenderer:
    """Procedural street scenes of one domain with exact depth, semantics, intrinsics and neighbour poses.

    Views: the stereo right camera (T translation x = -0.54 m), then the previous and next frame
    (camera moving ~1 m/frame forward), as ``views`` ("stereo", "temporal", "both" or "none") asks.
    """

    def __init__(self, domain: str = "source", size: tuple[int, int] = (96, 320), length: int = 1000, seed: int = 0,
                 views: str = "stereo"):
        if domain not in DOMAINS:
            raise ConfigError(f"unknown synthetic domain {domain!r}", fix="use 'source' or 'target'")
        if views not in VIEW_SETS:
            raise ConfigError(f"unknown views {views!r}", fix=f"use one of {', '.join(VIEW_SETS)}")
        h, w = (int(v) for v in size)
        if h < 8 or w < 8:
            raise ConfigError(f"image size {h}x{w} is too small", fix="use at least 8x8, e.g. 96x320")
        if length < 0:
            raise ConfigError(f"dataset length {length} is negative", fix="use a length >= 0")
        self.domain, self.size, self.length, self.seed, self.views = domain, (h, w), int(length), int(seed), views
        self.K = intrinsics(domain, (h, w))

    def __len__(self) -> int:
        return self.length

    def _layout(self, index: int):
        """Scene, camera pose, speed, turn and haze of sample ``index``: everything drawn before rendering."""
        rng = np.random.default_rng([self.seed, DOMAINS[self.domain], index])
        cam = CAMERAS[self.domain]
        scene = make_scene(rng, clutter=float(rng.random()))
        height = cam.height + rng.uniform(-cam.height_jitter, cam.height_jitter)
        pose = _rigid(_yaw(rng.uniform(-0.05, 0.05)) @ CAMERA_TO_WORLD_AXES,
                      (scene.camera_x, height, 0.0))
        speed = rng.uniform(0.8, 1.2)
        turn = rng.uniform(-0.015, 0.015)
        haze = 1.0 if self.domain == "source" else rng.uniform(0.0, 1.0)
        return scene, pose, speed, turn, haze

    def _complexity(self, scene, haze: float) -> float:
        density = min(1.0, scene.n_objects / 40.0)
        return float(density if self.domain == "source" else 0.6 * density + 0.4 * haze)

    def complexities(self) -> list[float]:
        """Every sample's complexity from its layout alone, without rendering (for the curriculum)."""
        return [self._complexity(scene, haze) for scene, _, _, _, haze in map(self._layout, range(self.length))]

    def render_arrays(self, index: int, *, with_views: bool = True) -> RenderedSample:
        """Sample ``index`` as numpy arrays; ``with_views=False`` renders the target camera only."""
        if not -self.length <= index < self.length:
            raise IndexError(f"sample {index} out of range for a SyntheticWorld of length {self.length}")
        index %= self.length
        scene, pose, speed, turn, haze = self._layout(index)
        haze_distance = HAZE_FAR * (HAZE_NEAR / HAZE_FAR) ** haze

        def shoot(camera_pose: np.ndarray, noise_stream: int):
            hits = cast(scene, camera_pose, self.K, *self.size)
            if self.domain == "source":
                colour = shade_source(hits)
            else:
                noise_rng = np.random.default_rng([self.seed, DOMAINS[self.domain], index, noise_stream])
                colour = shade_target(hits, haze_distance=haze_distance, rng=noise_rng)
            depth = np.where(hits.depth <= MAX_DEPTH, hits.depth, 0.0).astype(np.float32)
            return hits, np.ascontiguousarray(colour.transpose(2, 0, 1)), depth[None]

        hits, image, depth = shoot(pose, 0)
        next_to_target = _rigid(_yaw(turn), (0.0, 0.0, speed))
        transforms = {
            "stereo": _rigid(np.eye(3), (-STEREO_BASELINE, 0.0, 0.0)),
            "prev": next_to_target,
            "next": np.linalg.inv(next_to_target),
        }
        views = []
        for name in VIEW_SETS[self.views] if with_views else ():
            T = transforms[name]
            # A fixed noise stream per view name keeps each view the same whichever view set is asked for.
            _, view_image, view_depth = shoot(pose @ np.linalg.inv(T), NOISE_STREAMS[name])
            views.append(RenderedView(image=view_image, T=T, kind="stereo" if name == "stereo" else "temporal",
                                      depth=view_depth))
        return RenderedSample(image=image, depth=depth, semantics=hits.cls.astype(np.int64), K=self.K,
                              complexity=self._complexity(scene, haze), domain=self.domain,
                              name=f"{self.domain}_{index:06d}", views=views)
