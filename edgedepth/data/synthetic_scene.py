"""Random street layouts for the synthetic world: axis-aligned boxes and spheres on a ground plane.

World frame: x right, y up, z forward along the street; the ground is y = 0 and the target camera
stands near z = 0. Every primitive carries a Cityscapes trainId and a random ``tint`` in [0, 1)
that the domain styles turn into colours and texture offsets, so the geometry distribution is
shared by both domains while their looks differ.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

ROAD, SIDEWALK, BUILDING, POLE, VEGETATION, TERRAIN, SKY, CAR = 0, 1, 2, 5, 8, 9, 10, 13
LANE_WIDTH = 3.5
# Cameras of one sample stay inside this box (stereo baseline, +-1.5 m of forward motion),
# so no primitive may be placed inside it.
CAMERA_CLEARANCE_Z = 6.0


@dataclass
class Scene:
    """One static street. boxes [N,6] (xmin, ymin, zmin, xmax, ymax, zmax), spheres [M,4] (x, y, z, r)."""

    boxes: np.ndarray
    box_class: np.ndarray  # [N] uint8 trainIds
    box_tint: np.ndarray  # [N] float32
    spheres: np.ndarray
    sphere_class: np.ndarray
    sphere_tint: np.ndarray
    road_half: float  # road spans |x| < road_half
    sidewalk_width: float
    n_lanes: int
    camera_x: float
    clutter: float  # in [0, 1]: how busy the street is
    n_objects: int  # cars, poles, trees and bushes


class _Builder:
    def __init__(self, rng: np.random.Generator):
        self.rng = rng
        self.boxes: list[tuple[float, ...]] = []
        self.box_class: list[int] = []
        self.spheres: list[tuple[float, ...]] = []
        self.sphere_class: list[int] = []

    def box(self, x0, x1, y0, y1, z0, z1, cls):
        self.boxes.append((min(x0, x1), y0, z0, max(x0, x1), y1, z1))
        self.box_class.append(cls)

    def sphere(self, x, y, z, r, cls):
        self.spheres.append((x, y, z, r))
        self.sphere_class.append(cls)


def _free_slots(rng, n, lo, hi, length, taken):
    """Up to ``n`` z-intervals of ``length`` in [lo, hi] that overlap neither each other nor ``taken``."""
    slots = []
    for z in np.sort(rng.uniform(lo, hi, size=n)):
        iv = (z, z + length)
        if all(iv[1] + 0.8 < a or iv[0] - 0.8 > b for a, b in taken + slots):
            slots.append(iv)
    return slots


def _buildings(b: _Builder, side: int, edge: float, far_end: float):
    rng = b.rng
    z = -20.0
    while z < far_end:
        length = rng.uniform(8, 30)
        if rng.random() < 0.2:  # a gap between blocks shows terrain, trees or sky behind
            z += rng.uniform(3, 12)
            continue
        setback = rng.uniform(0, 4)
        x0 = side * (edge + setback)
        b.box(x0, x0 + side * rng.uniform(8, 15), 0.0, rng.uniform(5, 28), z, z + length - 0.3, BUILDING)
        z += length


def _car(b: _Builder, x: float, z0: float, length: float):
    """A car: body box plus a narrower cabin box."""
    rng = b.rng
    half_w = rng.uniform(0.8, 0.95)
    body_h = rng.uniform(0.85, 1.0)
    b.box(x - half_w, x + half_w, 0.0, body_h, z0, z0 + length, CAR)
    inset = length * rng.uniform(0.2, 0.3)
    b.box(x - half_w + 0.1, x + half_w - 0.1, body_h, body_h + rng.uniform(0.45, 0.6), z0 + inset, z0 + length - inset * 0.8, CAR)


def make_scene(rng: np.random.Generator, *, clutter: float) -> Scene:
    """A random street whose object count grows with ``clutter`` in [0, 1]."""
    b = _Builder(rng)
    n_lanes = int(rng.integers(2, 5))
    road_half = n_lanes * LANE_WIDTH / 2
    sidewalk = rng.uniform(2.0, 4.5)
    edge = road_half + sidewalk
    lane = int(rng.integers(0, n_lanes))
    # The left (target) camera sits half a stereo baseline left of the lane centre, +-0.4 m.
    camera_x = -road_half + LANE_WIDTH * (lane + 0.5) + rng.uniform(-0.4, 0.4) - 0.27

    for side in (-1, 1):
        _buildings(b, side, edge, far_end=110.0)
    if rng.random() < 0.3:  # the street ends at a T-junction facing the camera
        z_end = rng.uniform(45, 90)
        b.box(-edge - 20, edge + 20, 0.0, rng.uniform(8, 25), z_end, z_end + 10, BUILDING)

    n_objects = 0
    # Cars: parked along both kerbs and driving in lanes; none inside the cameras' clearance.
    for x in (-road_half + 1.1, road_half - 1.1, *(-road_half + LANE_WIDTH * (k + 0.5) for k in range(n_lanes))):
        n = int(rng.poisson(0.3 + 2.2 * clutter))
        in_camera_lane = abs(x - (camera_x + 0.27)) < 3.0  # within a car width of the stereo rig
        taken = [(-CAMERA_CLEARANCE_Z, CAMERA_CLEARANCE_Z)] if in_camera_lane else []
        for z0, z1 in _free_slots(rng, n, -15.0, 80.0, rng.uniform(3.8, 4.8), taken):
            _car(b, x, z0, z1 - z0)
            n_objects += 1
    # Poles on the kerb, some with an arm reaching over the road.
    for side in (-1, 1):
        for z in rng.uniform(-10, 80, size=int(rng.poisson(0.5 + 4 * clutter))):
            x = side * (road_half + 0.5)
            h = rng.uniform(4, 9)
            w = rng.uniform(0.08, 0.14)
            b.box(x - w, x + w, 0.0, h, z - w, z + w, POLE)
            if rng.random() < 0.4:
                b.box(x, x - side * rng.uniform(1.5, 3.5), h - 0.2, h, z - 0.06, z + 0.06, POLE)
            n_objects += 1
    # Trees at the outer edge of the sidewalk; bushes in front of set-back facades.
    for side in (-1, 1):
        for z in rng.uniform(-10, 85, size=int(rng.poisson(0.7 + 4 * clutter))):
            x = side * (edge - 0.8)
            trunk = rng.uniform(1.8, 3.5)
            # The canopy may overhang the road by 0.3 m at most, so it never reaches the cameras.
            r = min(rng.uniform(1.2, 2.8), sidewalk - 0.5)
            b.box(x - 0.15, x + 0.15, 0.0, trunk, z - 0.15, z + 0.15, VEGETATION)
            b.sphere(x, trunk + 0.7 * r, z, r, VEGETATION)
            n_objects += 1
        for z in rng.uniform(-10, 85, size=int(rng.poisson(2 * clutter))):
            x = side * edge
            b.box(x, x + side * 1.0, 0.0, rng.uniform(0.6, 1.5), z, z + rng.uniform(2, 10), VEGETATION)
            n_objects += 1

    boxes = np.asarray(b.boxes, dtype=np.float64).reshape(-1, 6)
    spheres = np.asarray(b.spheres, dtype=np.float64).reshape(-1, 4)
    return Scene(
        boxes=boxes,
        box_class=np.asarray(b.box_class, dtype=np.uint8),
        box_tint=rng.random(len(boxes)).astype(np.float32),
        spheres=spheres,
        sphere_class=np.asarray(b.sphere_class, dtype=np.uint8),
        sphere_tint=rng.random(len(spheres)).astype(np.float32),
        road_half=road_half,
        sidewalk_width=sidewalk,
        n_lanes=n_lanes,
        camera_x=camera_x,
        clutter=clutter,
        n_objects=n_objects,
    )
