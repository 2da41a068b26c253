"""Vectorised ray casting of a :class:`Scene` from one pinhole camera (numpy, no external renderer).

Rays are built with camera-space z = 1, so the ray parameter of a hit *is* its z-depth, exactly
the depth that :func:`edgedepth.kernels.reference.inverse_warp` backprojects. Each primitive is
only tested against the pixels inside its projected screen rectangle, which keeps a street of
~100 primitives at a few milliseconds per 96x320 view.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

from edgedepth.data.synthetic_scene import ROAD, SIDEWALK, SKY, TERRAIN, Scene

NEAR = 0.05
# Camera axes (x right, y down, z forward) expressed in the world frame (x right, y up, z forward).
CAMERA_TO_WORLD_AXES = np.diag([1.0, -1.0, 1.0])


@dataclass
class Hits:
    """Per-pixel ray-cast result, all [H,W] (or [H,W,3]); sky pixels have depth = inf."""

    depth: np.ndarray  # z-depth in metres, float32
    cls: np.ndarray  # trainIds, uint8
    tint: np.ndarray  # per-object random value in [0, 1), float32
    normal: np.ndarray  # world-frame unit normal [H,W,3]
    point: np.ndarray  # world-frame hit point [H,W,3] (undefined for sky)
    direction: np.ndarray  # world-frame ray direction with camera z = 1, [H,W,3]
    marking: np.ndarray  # bool: lane marking on the road
    distance: np.ndarray  # Euclidean distance camera -> hit (inf for sky)


@functools.lru_cache(maxsize=8)
def _camera_space_rays(fx: float, fy: float, cx: float, cy: float, height: int, width: int) -> np.ndarray:
    """Camera-space ray directions [3,H,W] (float64) with z = 1; cached per camera."""
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float64)
    return np.stack([(xs - cx) / fx, (ys - cy) / fy, np.ones_like(xs)])


def camera_rays(K: np.ndarray, height: int, width: int, rotation: np.ndarray) -> np.ndarray:
    """World-frame ray directions [3,H,W] (float32, channel-planar) whose camera-space z component is 1."""
    cam = _camera_space_rays(float(K[0, 0]), float(K[1, 1]), float(K[0, 2]), float(K[1, 2]), height, width)
    return np.einsum("ij,jhw->ihw", rotation, cam).astype(np.float32)


def _screen_rects(corners: np.ndarray, world_to_cam: np.ndarray, K: np.ndarray, height: int, width: int):
    """Pixel rectangles [N,4] (v0, v1, u0, u1; half-open) covering primitives with corners [N,8,3]."""
    cam = corners @ world_to_cam[:3, :3].T + world_to_cam[:3, 3]
    z = cam[..., 2]
    visible = (z > NEAR).any(axis=1)
    straddles = (z <= NEAR).any(axis=1)
    zc = np.maximum(z, NEAR)
    u = K[0, 0] * cam[..., 0] / zc + K[0, 2]
    v = K[1, 1] * cam[..., 1] / zc + K[1, 2]
    u0 = np.floor(u.min(1)) - 1
    u1 = np.ceil(u.max(1)) + 2
    v0 = np.floor(v.min(1)) - 1
    v1 = np.ceil(v.max(1)) + 2
    # A primitive that crosses the camera plane can cover any pixel: test the whole image.
    u0[straddles], v0[straddles], u1[straddles], v1[straddles] = 0, 0, width, height
    rects = np.stack([np.clip(v0, 0, height), np.clip(v1, 0, height), np.clip(u0, 0, width), np.clip(u1, 0, width)], 1)
    rects = rects.astype(np.int64)
    keep = visible & (rects[:, 1] > rects[:, 0]) & (rects[:, 3] > rects[:, 2])
    return rects, keep


def _box_corners(boxes: np.ndarray) -> np.ndarray:
    idx = np.array([[0, 1, 2], [3, 1, 2], [0, 4, 2], [3, 4, 2], [0, 1, 5], [3, 1, 5], [0, 4, 5], [3, 4, 5]])
    return boxes[:, idx]  # [N,8,3]


def _sphere_corners(spheres: np.ndarray) -> np.ndarray:
    signs = np.array([[sx, sy, sz] for sx in (-1, 1) for sy in (-1, 1) for sz in (-1, 1)], dtype=np.float64)
    return spheres[:, None, :3] + signs[None] * spheres[:, None, 3:4]


def _cast_boxes(boxes, origin, inv, rects, order, depth, obj):
    """Slab test of each box against the rays of its screen rectangle; updates depth/obj in place."""
    lo = (boxes[:, :3] - origin).astype(np.float32)
    hi = (boxes[:, 3:] - origin).astype(np.float32)
    for k in order:
        v0, v1, u0, u1 = rects[k]
        ix, iy, iz = inv[0, v0:v1, u0:u1], inv[1, v0:v1, u0:u1], inv[2, v0:v1, u0:u1]
        x0, x1 = lo[k, 0] * ix, hi[k, 0] * ix
        y0, y1 = lo[k, 1] * iy, hi[k, 1] * iy
        z0, z1 = lo[k, 2] * iz, hi[k, 2] * iz
        near = np.maximum(np.maximum(np.minimum(x0, x1), np.minimum(y0, y1)), np.minimum(z0, z1))
        far = np.minimum(np.minimum(np.maximum(x0, x1), np.maximum(y0, y1)), np.maximum(z0, z1))
        r_depth = depth[v0:v1, u0:u1]
        hit = (near <= far) & (near > NEAR) & (near < r_depth)
        np.copyto(r_depth, near, where=hit)
        np.copyto(obj[v0:v1, u0:u1], k, where=hit)


def _cast_spheres(spheres, origin, dirs, rects, order, depth, obj):
    """Ray-sphere intersection in each sphere's screen rectangle; sphere k is stored as obj -2-k."""
    for k in order:
        v0, v1, u0, u1 = rects[k]
        dx, dy, dz = dirs[0, v0:v1, u0:u1], dirs[1, v0:v1, u0:u1], dirs[2, v0:v1, u0:u1]
        oc = (origin - spheres[k, :3]).astype(np.float32)
        a = dx * dx + dy * dy + dz * dz
        half_b = dx * oc[0] + dy * oc[1] + dz * oc[2]
        c = np.float32(oc @ oc - spheres[k, 3] ** 2)
        disc = half_b * half_b - a * c
        t = (-half_b - np.sqrt(np.maximum(disc, 0))) / a
        r_depth = depth[v0:v1, u0:u1]
        hit = (disc > 0) & (t > NEAR) & (t < r_depth)
        np.copyto(r_depth, t, where=hit)
        np.copyto(obj[v0:v1, u0:u1], -2 - k, where=hit)


def cast(scene: Scene, cam_to_world: np.ndarray, K: np.ndarray, height: int, width: int) -> Hits:
    """Ray-cast ``scene`` from the camera with pose ``cam_to_world`` [4,4] (camera axes x right, y down)."""
    origin = cam_to_world[:3, 3]
    world_to_cam = np.linalg.inv(cam_to_world)
    dirs = camera_rays(K, height, width, cam_to_world[:3, :3])  # [3,H,W]
    inv = 1.0 / np.where(np.abs(dirs) < 1e-12, np.float32(1e-12), dirs)

    depth = np.full((height, width), np.inf, dtype=np.float32)
    obj = np.full((height, width), -1, dtype=np.int64)  # >= 0: box index; <= -2: sphere -2-index
    rects, keep = _screen_rects(_box_corners(scene.boxes), world_to_cam, K, height, width)
    _cast_boxes(scene.boxes, origin, inv, rects, np.flatnonzero(keep), depth, obj)
    if len(scene.spheres):
        rects, keep = _screen_rects(_sphere_corners(scene.spheres), world_to_cam, K, height, width)
        _cast_spheres(scene.spheres, origin, dirs, rects, np.flatnonzero(keep), depth, obj)

    # The ground lies under every primitive, so it only fills pixels nothing else covered.
    down = dirs[1] < -1e-9
    ground = (obj == -1) & down
    np.copyto(depth, np.float32(-origin[1]) / np.where(down, dirs[1], np.float32(-1)), where=ground)

    dirs = np.ascontiguousarray(dirs.transpose(1, 2, 0))  # [H,W,3] from here on
    point = origin.astype(np.float32) + dirs * np.where(np.isfinite(depth), depth, 0)[..., None]
    cls, tint, normal = _surfaces(scene, obj, point, dirs, ground)
    gx, gz = np.abs(point[..., 0]), point[..., 2]
    ground_cls = np.where(gx < scene.road_half, ROAD, np.where(gx < scene.road_half + scene.sidewalk_width, SIDEWALK, TERRAIN))
    cls = np.where(ground, ground_cls, cls).astype(np.uint8)
    marking = ground & _lane_markings(point[..., 0], gz, scene)

    distance = depth * _ray_lengths(float(K[0, 0]), float(K[1, 1]), float(K[0, 2]), float(K[1, 2]), height, width)
    return Hits(depth=depth, cls=cls, tint=tint, normal=normal, point=point, direction=dirs, marking=marking,
                distance=distance)


# Unit normals of the flat faces by code 2 * axis + (normal points to +axis); 6 = sphere, 7 = sky.
FACE_NORMALS = np.array([(-1, 0, 0), (1, 0, 0), (0, -1, 0), (0, 1, 0), (0, 0, -1), (0, 0, 1), (0, 0, 0), (0, 0, 0)],
                        dtype=np.float32)
GROUND_FACE, SPHERE_FACE, SKY_FACE = 3, 6, 7


def _surfaces(scene: Scene, obj: np.ndarray, point: np.ndarray, dirs: np.ndarray, ground: np.ndarray):
    """Per-pixel trainId [H,W], tint [H,W] and world normal [H,W,3] of what each ray hit."""
    nb = len(scene.boxes)
    flat_obj = obj.ravel()
    prim = np.where(flat_obj <= -2, nb - 2 - flat_obj, flat_obj)  # boxes, then spheres, then -1: nothing
    cls = np.concatenate([scene.box_class, scene.sphere_class, [SKY]]).astype(np.uint8)[prim]
    tint = np.concatenate([scene.box_tint, scene.sphere_tint, [0.0]]).astype(np.float32)[prim]
    face = np.where(ground.ravel(), GROUND_FACE, SKY_FACE).astype(np.int64)
    points, rays = point.reshape(-1, 3), dirs.reshape(-1, 3)
    # A ray enters a box through the face that points against it, on the axis where the hit is flush.
    idx = np.flatnonzero(flat_obj >= 0)
    bounds = scene.boxes.astype(np.float32)[flat_obj[idx]]
    p = points[idx]
    axis = np.minimum(np.abs(p - bounds[:, :3]), np.abs(p - bounds[:, 3:])).argmin(1)
    face[idx] = 2 * axis + (rays[idx, axis] < 0)
    sidx = np.flatnonzero(flat_obj <= -2)
    face[sidx] = SPHERE_FACE
    normal = FACE_NORMALS[face]
    sphere = scene.spheres[-2 - flat_obj[sidx]]
    normal[sidx] = (points[sidx] - sphere[:, :3]) / sphere[:, 3:]
    h, w = obj.shape
    return cls.reshape(h, w), tint.reshape(h, w), normal.reshape(h, w, 3)


@functools.lru_cache(maxsize=8)
def _ray_lengths(fx: float, fy: float, cx: float, cy: float, height: int, width: int) -> np.ndarray:
    """Euclidean length [H,W] of each z = 1 ray (rotation-invariant, so cached per camera)."""
    cam = _camera_space_rays(fx, fy, cx, cy, height, width)
    return np.sqrt((cam * cam).sum(0)).astype(np.float32)


def _lane_markings(x: np.ndarray, z: np.ndarray, scene: Scene) -> np.ndarray:
    """Solid edge lines and dashed lines between lanes, painted on the ground plane."""
    edge = np.abs(np.abs(x) - (scene.road_half - 0.3)) < 0.08
    offset = x + scene.road_half
    nearest = np.clip(np.round(offset / 3.5), 1, scene.n_lanes - 1)
    between = (np.abs(offset - nearest * 3.5) < 0.07) & (np.mod(z, 9.0) < 3.0)
    return edge | between
