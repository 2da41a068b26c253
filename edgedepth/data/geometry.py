"""Pose helpers for the real datasets: 4x4 rigid transforms, KITTI calibration text, OXTS GPS/IMU poses.

Conventions: a transform ``T_a_b`` (4x4, float64) maps points from frame b into frame a. Camera frames
are x right, y down, z forward. The pose a Sample stores for a view is the transform from the target
camera into that view's camera.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from edgedepth.data.readers import read_text
from edgedepth.errors import DataError

EARTH_RADIUS_M = 6378137.0  # WGS84 equatorial radius, as in the KITTI devkit and pykitti


def rigid(R: np.ndarray, t: np.ndarray) -> np.ndarray:
    """4x4 transform from a rotation [3,3] and a translation [3]."""
    T = np.eye(4)
    T[:3, :3] = R
    T[:3, 3] = np.asarray(t, dtype=np.float64).reshape(3)
    return T


def translation(x: float = 0.0, y: float = 0.0, z: float = 0.0) -> np.ndarray:
    return rigid(np.eye(3), np.array([x, y, z]))


def invert(T: np.ndarray) -> np.ndarray:
    """Inverse of a rigid transform (exact, no general matrix inverse)."""
    R, t = T[:3, :3], T[:3, 3]
    return rigid(R.T, -R.T @ t)


def relative_pose(T_world_target: np.ndarray, T_world_source: np.ndarray) -> np.ndarray:
    """Target camera -> source camera, from both cameras' camera-to-world poses."""
    return invert(T_world_source) @ T_world_target


def read_kitti_calib(path: Path, *, fix: str) -> dict[str, np.ndarray]:
    """Parse a KITTI calibration text file (``key: v1 v2 ...`` per line) into float64 arrays.

    Lines whose values are not numbers (``calib_time: 09-Jan-2012 13:57:47``) are skipped.
    """
    values: dict[str, np.ndarray] = {}
    for line in read_text(path, what="calibration file", fix=fix).splitlines():
        key, sep, rest = line.partition(":")
        if not sep:
            continue
        try:
            values[key.strip()] = np.array([float(v) for v in rest.split()], dtype=np.float64)
        except ValueError:
            continue
    return values


def calib_entry(calib: dict[str, np.ndarray], key: str, size: int, path: Path, fix: str) -> np.ndarray:
    """The entry ``key`` of a parsed calibration file, checked to hold ``size`` numbers."""
    value = calib.get(key)
    if value is None or value.size != size:
        found = "missing" if value is None else f"has {value.size} values"
        raise DataError(f"calibration file {path}: entry {key!r} {found}, expected {size} numbers", fix=fix)
    return value


def _rot_x(a: float) -> np.ndarray:
    c, s = np.cos(a), np.sin(a)
    return np.array([[1, 0, 0], [0, c, -s], [0, s, c]])


def _rot_y(a: float) -> np.ndarray:
    c, s = np.cos(a), np.sin(a)
    return np.array([[c, 0, s], [0, 1, 0], [-s, 0, c]])


def _rot_z(a: float) -> np.ndarray:
    c, s = np.cos(a), np.sin(a)
    return np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]])


def oxts_pose(packet: np.ndarray, *, mercator_scale: float) -> np.ndarray:
    """IMU -> world pose of one OXTS packet (lat, lon, alt, roll, pitch, yaw, ...), as in the KITTI devkit.

    The position is a Mercator projection of latitude/longitude scaled by ``mercator_scale``
    (cos of a reference latitude, so that one unit is one metre near it); the rotation is
    Rz(yaw) Ry(pitch) Rx(roll). World axes: x east, y north, z up; IMU axes: x forward, y left, z up.
    """
    lat, lon, alt, roll, pitch, yaw = (float(v) for v in packet[:6])
    tx = mercator_scale * np.radians(lon) * EARTH_RADIUS_M
    ty = mercator_scale * EARTH_RADIUS_M * np.log(np.tan(np.radians(90.0 + lat) / 2.0))
    R = _rot_z(yaw) @ _rot_y(pitch) @ _rot_x(roll)
    return rigid(R, np.array([tx, ty, alt]))


def mercator_scale(latitude_deg: float) -> float:
    return float(np.cos(np.radians(latitude_deg)))


def pose_tensor(T: np.ndarray) -> torch.Tensor:
    """A float64 4x4 transform as the float32 tensor a View stores."""
    return torch.from_numpy(T).float()
