"""KITTI raw (the Eigen split and friends): images, stereo partner, OXTS temporal poses, depth ground truth.

On-disk layout (the raw-data archives extracted into one folder, see docs/datasets.md)::

    ROOT/2011_09_26/calib_cam_to_cam.txt, calib_velo_to_cam.txt, calib_imu_to_velo.txt
    ROOT/2011_09_26/2011_09_26_drive_0002_sync/image_02/data/0000000069.png   (left colour; .jpg also read)
    ROOT/2011_09_26/2011_09_26_drive_0002_sync/image_03/data/0000000069.png   (right colour)
    ROOT/2011_09_26/2011_09_26_drive_0002_sync/oxts/data/0000000069.txt       (30 GPS/IMU values)
    ROOT/2011_09_26/2011_09_26_drive_0002_sync/velodyne_points/data/0000000069.bin
    DEPTH_ROOT/[train|val/]2011_09_26_drive_0002_sync/proj_depth/groundtruth/image_02/0000000069.png

A split file lists one sample per line: ``2011_09_26/2011_09_26_drive_0002_sync 0000000069 l``
(``l`` = image_02 is the target, ``r`` = image_03).

Frames: the rectified cameras share one orientation; camera c sits at ``t_c = K^-1 P_rect_0c[:, 3]``
in rectified camera-0 coordinates, so X_c = X_rect0 + t_c and X_rect0 = R_rect_00 Tr_velo_to_cam X_velo.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from edgedepth.data import geometry as geo
from edgedepth.data.readers import (
    FrameRecord,
    RealDataset,
    check_same_size,
    check_view_sizes,
    read_rgb,
    read_size,
    read_split_entries,
    read_text,
    read_uint16_png,
    require_file,
    view_kinds,
)
from edgedepth.data.registry import DatasetOptions, register_dataset
from edgedepth.data.sample import Sample, View
from edgedepth.errors import DataError

GT_CHOICES = ("auto", "velodyne", "annotated", "none")
CAMERA_OF_SIDE = {"l": 2, "r": 3}
FIX_RAW = "download the KITTI raw drive (and its calibration) and extract it under the dataset root (docs/datasets.md)"
FIX_CALIB = "download the calibration archive of that date (e.g. 2011_09_26_calib.zip) and extract it under the dataset root"


@dataclass(frozen=True)
class KittiCalib:
    """Per-date calibration: intrinsics and camera offsets of the rectified colour cameras."""

    K: dict[int, np.ndarray]  # camera (2, 3) -> [3,3]
    T_cam_velo: dict[int, np.ndarray]  # camera -> 4x4, velodyne -> rectified camera c
    T_velo_imu: np.ndarray | None  # 4x4, IMU -> velodyne; None if calib_imu_to_velo.txt is absent

    def T_cam_imu(self, cam: int, path: Path) -> np.ndarray:
        if self.T_velo_imu is None:
            raise DataError(f"calibration file is missing: {path}", why="temporal poses need it", fix=FIX_CALIB)
        return self.T_cam_velo[cam] @ self.T_velo_imu


def _rt_entry(path: Path) -> np.ndarray:
    calib = geo.read_kitti_calib(path, fix=FIX_CALIB)
    R = geo.calib_entry(calib, "R", 9, path, FIX_CALIB).reshape(3, 3)
    t = geo.calib_entry(calib, "T", 3, path, FIX_CALIB)
    return geo.rigid(R, t)


def load_calib(date_dir: Path) -> KittiCalib:
    """Parse calib_cam_to_cam.txt, calib_velo_to_cam.txt and (if present) calib_imu_to_velo.txt of a date."""
    cam_path = date_dir / "calib_cam_to_cam.txt"
    cam = geo.read_kitti_calib(cam_path, fix=FIX_CALIB)
    R_rect = geo.rigid(geo.calib_entry(cam, "R_rect_00", 9, cam_path, FIX_CALIB).reshape(3, 3), np.zeros(3))
    T_rect_velo = R_rect @ _rt_entry(date_dir / "calib_velo_to_cam.txt")
    K, T_cam_velo = {}, {}
    for c in (2, 3):
        P = geo.calib_entry(cam, f"P_rect_0{c}", 12, cam_path, FIX_CALIB).reshape(3, 4)
        K[c] = P[:, :3]
        offset = np.linalg.solve(K[c], P[:, 3])  # P = K [I | t]
        T_cam_velo[c] = geo.translation(*offset) @ T_rect_velo
    imu_path = date_dir / "calib_imu_to_velo.txt"
    T_velo_imu = _rt_entry(imu_path) if imu_path.exists() else None
    return KittiCalib(K=K, T_cam_velo=T_cam_velo, T_velo_imu=T_velo_imu)


def project_velodyne(points: np.ndarray, T_cam_velo: np.ndarray, K: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Sparse depth [H,W] (metres, 0 = no point) from Velodyne points [N,>=3] (x, y, z, ...).

    Like monodepth2's generate_depth_map (P_rect @ R_rect @ Tr_velo_to_cam, nearest point kept per
    pixel), but geometrically exact for our pixel convention: the depth is the camera z, and a point
    lands on the pixel whose centre (integer coordinates) is nearest, without the extra -1 offset.
    """
    h, w = shape
    xyz = points[:, :3].astype(np.float64)
    cam = xyz @ T_cam_velo[:3, :3].T + T_cam_velo[:3, 3]
    cam = cam[cam[:, 2] > 1e-3]  # in front of the camera
    pix = cam @ K.T
    u = np.round(pix[:, 0] / pix[:, 2]).astype(np.int64)
    v = np.round(pix[:, 1] / pix[:, 2]).astype(np.int64)
    inside = (u >= 0) & (u < w) & (v >= 0) & (v < h)
    depth = np.full(h * w, np.inf)
    np.minimum.at(depth, v[inside] * w + u[inside], cam[inside, 2])
    depth[~np.isfinite(depth)] = 0.0
    return depth.reshape(h, w).astype(np.float32)


def read_velodyne(path: Path) -> np.ndarray:
    """A Velodyne scan: float32 (x, y, z, reflectance) records -> [N,4]."""
    require_file(path, "Velodyne scan", FIX_RAW)
    size = path.stat().st_size
    if size % 16:
        raise DataError(
            f"Velodyne scan {path} has {size} bytes, not a multiple of 16",
            why="scans are float32 (x, y, z, reflectance) records",
            fix=f"the file is truncated; {FIX_RAW}",
        )
    return np.fromfile(path, dtype=np.float32).reshape(-1, 4)


def read_oxts(path: Path) -> np.ndarray:
    """One OXTS packet (30 numbers: lat, lon, alt, roll, pitch, yaw, velocities, ...)."""
    text = read_text(path, what="OXTS file", fix=FIX_RAW)
    try:
        packet = np.array([float(v) for v in text.split()], dtype=np.float64)
    except ValueError as exc:
        raise DataError(f"OXTS file {path} is not a list of numbers", why=str(exc), fix=FIX_RAW) from None
    if packet.size < 6:
        raise DataError(f"OXTS file {path} has {packet.size} values, expected 30", fix=FIX_RAW)
    return packet


class KittiRecord(FrameRecord):
    """A frame of a KITTI raw drive (``sequence``: "2011_09_26/2011_09_26_drive_0002_sync")."""

    FRAME_DIGITS = 10

    @property
    def drive(self) -> str:
        return self.sequence


class KittiRaw(RealDataset):
    """KITTI raw samples listed by a split file (or every frame under ``root`` when ``split_file`` is None).

    gt: "velodyne" projects the scan; "annotated" reads the depth-completion PNGs (uint16, value/256 m);
    "none" loads no depth; "auto" picks one of them for the whole split (see ``_resolve_gt``).
    Items are Samples at the native resolution (about 375x1242); resize them with edgedepth.data.transforms.
    """

    def __init__(
        self,
        root: str | os.PathLike,
        *,
        split_file: str | os.PathLike | None = None,
        views: str = "stereo",
        gt: str = "auto",
        depth_root: str | os.PathLike | None = None,
    ):
        self.root = Path(root)
        if not self.root.is_dir():
            raise DataError(f"KITTI root {self.root} is not a folder", fix=FIX_RAW)
        if gt not in GT_CHOICES:
            raise DataError(f"unknown KITTI ground truth {gt!r}", fix=f"use one of {', '.join(GT_CHOICES)}")
        self.stereo, self.temporal = view_kinds(views)
        self.depth_roots = [Path(depth_root)] if depth_root else [self.root / "data_depth_annotated", self.root]
        self.records = self._read_split(split_file) if split_file else self._all_frames()
        if not self.records:
            raise DataError(f"no KITTI frames found under {self.root}", fix=FIX_RAW)
        self.gt = self._resolve_gt(gt)
        self._calibs: dict[Path, KittiCalib] = {}  # per date folder, parsed once per dataset (and worker)

    # ------------------------------------------------------------------ records
    def _read_split(self, split_file) -> list[KittiRecord]:
        entries = read_split_entries(split_file, sides=CAMERA_OF_SIDE, dataset="KITTI",
                                     example="2011_09_26/2011_09_26_drive_0002_sync 0000000069 l", folder_parts=2)
        return [KittiRecord(*entry) for entry in entries]

    def _all_frames(self) -> list[KittiRecord]:
        records = []
        for image_dir in sorted(self.root.glob("*/*_sync/image_02/data")):
            drive = f"{image_dir.parents[2].name}/{image_dir.parents[1].name}"
            frames = sorted(int(p.stem) for p in image_dir.iterdir() if p.stem.isdigit())
            if self.temporal:  # the first and last frame have no neighbour on one side
                present = set(frames)
                frames = [f for f in frames if f - 1 in present and f + 1 in present]
            records += [KittiRecord(drive, f, "l") for f in frames]
        return records

    # ------------------------------------------------------------------ paths
    def _drive_dir(self, record: KittiRecord) -> Path:
        return self.root / record.drive

    def image_path(self, record: KittiRecord, cam: int, frame: int) -> Path:
        base = self._drive_dir(record) / f"image_0{cam}" / "data" / f"{frame:010d}"
        png = base.with_suffix(".png")
        jpg = base.with_suffix(".jpg")
        return jpg if not png.exists() and jpg.exists() else png

    def annotated_path(self, record: KittiRecord, cam: int) -> Path:
        drive_name = Path(record.drive).name
        tail = Path("proj_depth", "groundtruth", f"image_0{cam}", f"{record.frame:010d}.png")
        candidates = [base / sub / drive_name / tail for base in self.depth_roots for sub in ("train", "val", "")]
        candidates.append(self._drive_dir(record) / tail)
        return next((p for p in candidates if p.exists()), candidates[0])

    def velodyne_path(self, record: KittiRecord) -> Path:
        return self._drive_dir(record) / "velodyne_points" / "data" / f"{record.frame:010d}.bin"

    def _resolve_gt(self, gt: str) -> str:
        """auto: annotated PNGs if every sample has one; else the scans if any exist (then every sample
        needs one); else annotated PNGs if any exist; else no depth. One source for the whole split."""
        if gt != "auto":
            return gt
        annotated = [self.annotated_path(r, CAMERA_OF_SIDE[r.side]).exists() for r in self.records]
        if all(annotated):
            return "annotated"
        if any(self.velodyne_path(r).exists() for r in self.records):
            return "velodyne"
        return "annotated" if any(annotated) else "none"

    # ------------------------------------------------------------------ loading
    def _calib(self, record: KittiRecord) -> KittiCalib:
        date_dir = self._drive_dir(record).parent
        if date_dir not in self._calibs:
            self._calibs[date_dir] = load_calib(date_dir)
        return self._calibs[date_dir]

    def _image(self, record: KittiRecord, cam: int, frame: int) -> torch.Tensor:
        return read_rgb(self.image_path(record, cam, frame), what="KITTI image", fix=FIX_RAW)

    def _oxts_path(self, record: KittiRecord, frame: int) -> Path:
        return self._drive_dir(record) / "oxts" / "data" / f"{frame:010d}.txt"

    def _stereo_view(self, record: KittiRecord) -> View:
        calib, cam = self._calib(record), CAMERA_OF_SIDE[record.side]
        other = 5 - cam  # 2 <-> 3
        T = calib.T_cam_velo[other] @ geo.invert(calib.T_cam_velo[cam])
        return View(self._image(record, other, record.frame), geo.pose_tensor(T), "stereo")

    def _temporal_view(self, record: KittiRecord, frame: int) -> View:
        cam = CAMERA_OF_SIDE[record.side]
        T_cam_imu = self._calib(record).T_cam_imu(cam, self._drive_dir(record).parent / "calib_imu_to_velo.txt")
        target_packet = read_oxts(self._oxts_path(record, record.frame))
        # One Mercator scale (the target's latitude) for both frames, so the relative pose is metric there.
        scale = geo.mercator_scale(target_packet[0])
        T_world_target = geo.oxts_pose(target_packet, mercator_scale=scale) @ geo.invert(T_cam_imu)
        T_world_source = geo.oxts_pose(read_oxts(self._oxts_path(record, frame)), mercator_scale=scale) @ geo.invert(T_cam_imu)
        T = geo.relative_pose(T_world_target, T_world_source)
        return View(self._image(record, cam, frame), geo.pose_tensor(T), "temporal")

    def _depth(self, record: KittiRecord, shape: tuple[int, int]) -> torch.Tensor | None:
        cam = CAMERA_OF_SIDE[record.side]
        if self.gt == "none":
            return None
        if self.gt == "annotated":
            path = self.annotated_path(record, cam)
            fix = "download KITTI's data_depth_annotated.zip and extract it under the dataset root, or use gt='velodyne'"
            depth = read_uint16_png(path, what="annotated depth PNG", fix=fix).astype(np.float32) / 256.0
            check_same_size(path, "annotated depth PNG", depth.shape, shape, fix)
        else:
            calib = self._calib(record)
            depth = project_velodyne(read_velodyne(self.velodyne_path(record)), calib.T_cam_velo[cam], calib.K[cam], shape)
        return torch.from_numpy(depth).unsqueeze(0)

    def _views(self, record: KittiRecord) -> list[Callable[[], View]]:
        """Loaders of the neighbour views, in Sample order (stereo, previous, next)."""
        views = [lambda: self._stereo_view(record)] if self.stereo else []
        if self.temporal:
            views += [lambda f=f: self._temporal_view(record, f) for f in (record.frame - 1, record.frame + 1)]
        return views

    def parts(self, record: KittiRecord) -> list[Callable[[], object]]:
        cam = CAMERA_OF_SIDE[record.side]
        target_size = lambda: read_size(self.image_path(record, cam, record.frame), what="KITTI image", fix=FIX_RAW)  # noqa: E731
        return [lambda: self._calib(record), *self._views(record), lambda: self._depth(record, target_size())]

    def load(self, record: KittiRecord) -> Sample:
        cam = CAMERA_OF_SIDE[record.side]
        calib = self._calib(record)
        image = self._image(record, cam, record.frame)
        views = [load_view() for load_view in self._views(record)]
        check_view_sizes(record.name, image, views, FIX_RAW)
        depth = self._depth(record, tuple(image.shape[1:]))
        K = torch.from_numpy(calib.K[cam]).float()
        return Sample(image=image, K=K, views=views, depth=depth, domain="kitti", name=record.name)


@register_dataset("kitti", reads_folder=True)
def _build_kitti(options: DatasetOptions) -> KittiRaw:
    if options.split_file is None:
        raise DataError(
            "KITTI needs a split file",
            why="without one, training and test frames of the Eigen split would mix",
            fix="pass split_file (data.split_file / data.test_split_file), e.g. monodepth2's "
            "splits/eigen_zhou/train_files.txt or splits/eigen/test_files.txt (docs/datasets.md)",
        )
    return KittiRaw(options.root, split_file=options.split_file, views=options.views)
