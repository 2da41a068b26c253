"""Writers of tiny datasets in the exact on-disk formats of KITTI raw, Virtual KITTI 2 and Cityscapes.

Each fixture writes a few 24x80 frames into tmp_path and returns a namespace with the root and the
ground truth the tests compare against (intrinsics, baselines, motion, known depth values).
"""
from __future__ import annotations

import json
import math
from pathlib import Path
from types import SimpleNamespace

import numpy as np
from PIL import Image

H, W = 24, 80
FX, FY, CX, CY = 50.0, 52.0, 39.5, 11.5
K = np.array([[FX, 0, CX], [0, FY, CY], [0, 0, 1]])


def _rgb(path: Path, seed: int, fmt: str = "PNG") -> np.ndarray:
    path.parent.mkdir(parents=True, exist_ok=True)
    pixels = np.random.default_rng(seed).integers(0, 256, (H, W, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(path, format=fmt, **({"quality": 95} if fmt == "JPEG" else {}))
    return pixels


def _uint16(path: Path, values: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(values.astype(np.uint16)).save(path)


def _numbers(values) -> str:
    return " ".join(f"{float(v):.12e}" for v in np.asarray(values).reshape(-1))


# ------------------------------------------------------------------ KITTI raw
KITTI_DATE = "2011_09_26"
KITTI_DRIVE = f"{KITTI_DATE}/{KITTI_DATE}_drive_0001_sync"
EARTH_RADIUS = 6378137.0


def _mercator_to_latlon(tx: float, ty: float, scale: float) -> tuple[float, float]:
    lon = tx / (scale * EARTH_RADIUS) * 180.0 / math.pi
    lat = 360.0 / math.pi * math.atan(math.exp(ty / (scale * EARTH_RADIUS))) - 90.0
    return lat, lon


def write_kitti(root: Path, *, yaw: float = 0.7, step: float = 1.0, R_rect: np.ndarray | None = None) -> SimpleNamespace:
    """Frames 0..2 of one drive; the car drives ``step`` metres per frame along heading ``yaw``."""
    date_dir = root / KITTI_DATE
    drive_dir = root / KITTI_DRIVE
    date_dir.mkdir(parents=True)
    R_rect = np.eye(3) if R_rect is None else R_rect
    t2, t3 = np.array([0.06, -0.0003, 0.0027]), np.array([-0.48, 0.003, 0.0027])
    P2, P3 = np.hstack([K, (K @ t2)[:, None]]), np.hstack([K, (K @ t3)[:, None]])
    P0 = np.hstack([K, np.zeros((3, 1))])
    (date_dir / "calib_cam_to_cam.txt").write_text(
        "calib_time: 09-Jan-2012 13:57:47\ncorner_dist: 9.950000e-02\n"
        + "".join(f"S_0{c}: 1.392000e+03 5.120000e+02\nK_0{c}: {_numbers(K)}\nD_0{c}: 0 0 0 0 0\n" for c in range(4))
        + f"S_rect_00: {W}.0 {H}.0\nR_rect_00: {_numbers(R_rect)}\nP_rect_00: {_numbers(P0)}\n"
        + f"S_rect_02: {W}.0 {H}.0\nR_rect_02: {_numbers(np.eye(3))}\nP_rect_02: {_numbers(P2)}\n"
        + f"S_rect_03: {W}.0 {H}.0\nR_rect_03: {_numbers(np.eye(3))}\nP_rect_03: {_numbers(P3)}\n"
    )
    R_velo = np.array([[0.0, -1, 0], [0, 0, -1], [1, 0, 0]])  # velodyne x forward -> camera z
    T_velo = np.array([-0.004, -0.08, -0.27])
    (date_dir / "calib_velo_to_cam.txt").write_text(
        f"calib_time: 15-Mar-2012 11:37:16\nR: {_numbers(R_velo)}\nT: {_numbers(T_velo)}\n"
        "delta_f: 0.000000e+00 0.000000e+00\ndelta_c: 0.000000e+00 0.000000e+00\n"
    )
    T_imu = np.array([-0.81, 0.32, -0.8])
    (date_dir / "calib_imu_to_velo.txt").write_text(
        f"calib_time: 25-May-2012 16:47:16\nR: {_numbers(np.eye(3))}\nT: {_numbers(T_imu)}\n"
    )
    # OXTS: frame 1 at latitude 49 deg exactly, so its Mercator scale is cos(49 deg).
    scale = math.cos(math.radians(49.0))
    tx1 = scale * math.radians(8.4) * EARTH_RADIUS
    ty1 = scale * EARTH_RADIUS * math.log(math.tan(math.radians(90.0 + 49.0) / 2))
    for frame in range(3):
        _rgb(drive_dir / "image_02" / "data" / f"{frame:010d}.png", seed=frame)
        _rgb(drive_dir / "image_03" / "data" / f"{frame:010d}.png", seed=100 + frame)
        d = (frame - 1) * step
        lat, lon = _mercator_to_latlon(tx1 + d * math.cos(yaw), ty1 + d * math.sin(yaw), scale)
        if frame == 1:
            lat = 49.0
        packet = [lat, lon, 110.0, 0.0, 0.0, yaw] + [0.0] * 19 + [0.1, 0.1, 4, 10, 4, 4, 4]
        oxts = drive_dir / "oxts" / "data" / f"{frame:010d}.txt"
        oxts.parent.mkdir(parents=True, exist_ok=True)
        oxts.write_text(" ".join(repr(v) for v in packet) + "\n")
    # Velodyne: two points on one camera-2 ray (the nearer must win), one behind the camera, one more.
    cam2_points = np.array([[1.1, 0.5, 10.0], [2.2, 1.0, 20.0], [0.0, 0.0, -5.0], [-2.0, -0.4, 8.0]])
    rect0 = cam2_points - t2
    velo_xyz = (R_velo.T @ (R_rect.T @ rect0.T - T_velo[:, None])).T
    velo = np.hstack([velo_xyz, np.full((4, 1), 0.3)]).astype(np.float32)
    for frame in range(3):
        path = drive_dir / "velodyne_points" / "data" / f"{frame:010d}.bin"
        path.parent.mkdir(parents=True, exist_ok=True)
        velo.tofile(path)
    annotated = np.zeros((H, W), dtype=np.uint16)
    annotated[5, 7], annotated[20, 60] = 3200, 256  # 12.5 m and 1 m
    _uint16(root / "data_depth_annotated" / "train" / Path(KITTI_DRIVE).name / "proj_depth" / "groundtruth"
            / "image_02" / "0000000001.png", annotated)
    Tr = np.eye(4)
    Tr[:3, :3], Tr[:3, 3] = R_velo, T_velo
    R_rect4 = np.eye(4)
    R_rect4[:3, :3] = R_rect
    return SimpleNamespace(root=root, t2=t2, t3=t3, P2=P2, P3=P3, velo=velo, cam2_points=cam2_points, velo_to_rect=R_rect4 @ Tr,
                           R_rect=R_rect, R_velo=R_velo, annotated=annotated)


# ------------------------------------------------------------------ Virtual KITTI 2
VK_BASELINE = 0.532725
VK_STEP = 0.8
VK_COLORS = """Category r g b
Terrain 210 0 200
Sky 90 200 255
Tree 0 199 0
Vegetation 90 240 0
Building 140 140 140
Road 100 60 100
GuardRail 250 100 255
TrafficSign 255 255 0
TrafficLight 200 200 0
Pole 255 130 0
Misc 80 80 80
Truck 160 60 60
Car 255 127 80
Van 0 139 139
Undefined 0 0 0
"""


def write_vkitti2(root: Path, sequence: str = "Scene01/clone", frames: int = 3) -> SimpleNamespace:
    """The four archives side by side; the rig moves VK_STEP metres forward per frame."""
    textgt = root / "vkitti_2.0.3_textgt" / sequence
    textgt.mkdir(parents=True)
    intr = ["frame cameraID K[0,0] K[1,1] K[0,2] K[1,2]"]
    extr = ["frame cameraID r1,1 r1,2 r1,3 t1 r2,1 r2,2 r2,3 t2 r3,1 r3,2 r3,3 t3 0 0 0 1"]
    depth_cm = np.full((H, W), 1234, dtype=np.uint16)
    depth_cm[:4] = 65535  # sky: the far-plane value
    classes = np.zeros((H, W, 3), dtype=np.uint8)
    classes[:4] = (90, 200, 255)  # Sky -> 10
    classes[4:12, :40] = (100, 60, 100)  # Road -> 0
    classes[4:12, 40:] = (0, 139, 139)  # Van -> 13 (car)
    classes[12:, :40] = (250, 100, 255)  # GuardRail -> 255
    classes[12:, 40:] = (0, 0, 0)  # Undefined -> 255
    for frame in range(frames):
        for cam in (0, 1):
            intr.append(f"{frame} {cam} {FX} {FY} {CX} {CY}")
            E = np.eye(4)  # world -> camera: the camera centre is at (cam * baseline, 0, frame * step)
            E[:3, 3] = [-cam * VK_BASELINE, 0.0, -frame * VK_STEP]
            extr.append(f"{frame} {cam} " + " ".join(f"{v:.6f}" for v in E.reshape(-1)))
            frames_dir = Path(sequence) / "frames"
            _rgb(root / "vkitti_2.0.3_rgb" / frames_dir / "rgb" / f"Camera_{cam}" / f"rgb_{frame:05d}.jpg",
                 seed=10 * frame + cam, fmt="JPEG")
            _uint16(root / "vkitti_2.0.3_depth" / frames_dir / "depth" / f"Camera_{cam}" / f"depth_{frame:05d}.png", depth_cm)
            class_path = root / "vkitti_2.0.3_classSegmentation" / frames_dir / "classSegmentation" / f"Camera_{cam}" / f"classgt_{frame:05d}.png"
            class_path.parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(classes).save(class_path)
    (textgt / "intrinsic.txt").write_text("\n".join(intr) + "\n")
    (textgt / "extrinsic.txt").write_text("\n".join(extr) + "\n")
    (textgt / "colors.txt").write_text(VK_COLORS)
    return SimpleNamespace(root=root, sequence=sequence, depth_cm=depth_cm)


# ------------------------------------------------------------------ Cityscapes
CS_BASELINE = 0.209313
CS_STEMS = {"train": ("aachen", "aachen_000000_000019"), "val": ("lindau", "lindau_000001_000019")}


def write_cityscapes(root: Path) -> SimpleNamespace:
    raw = np.zeros((H, W), dtype=np.uint16)
    raw[2, 3] = 1 + 256 * 10  # disparity 10 px
    raw[10, 50] = 1 + 128  # disparity 0.5 px
    raw[11, 50] = 1  # disparity 0 -> invalid
    labels = np.zeros((H, W), dtype=np.uint8)
    labels[:, :20] = 7  # road -> 0
    labels[:, 20:40] = 26  # car -> 13
    labels[:, 40:60] = 33  # bicycle -> 18
    labels[:, 60:] = 14  # guard rail -> 255
    for split, (city, stem) in CS_STEMS.items():
        _rgb(root / "leftImg8bit" / split / city / f"{stem}_leftImg8bit.png", seed=1)
        _rgb(root / "rightImg8bit" / split / city / f"{stem}_rightImg8bit.png", seed=2)
        _uint16(root / "disparity" / split / city / f"{stem}_disparity.png", raw)
        label_path = root / "gtFine" / split / city / f"{stem}_gtFine_labelIds.png"
        label_path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(labels, mode="L").save(label_path)
        camera = {
            "extrinsic": {"baseline": CS_BASELINE, "pitch": 0.038, "roll": 0.0, "x": 1.7, "y": 0.1, "yaw": -0.0195, "z": 1.22},
            "intrinsic": {"fx": FX, "fy": FY, "u0": CX, "v0": CY},
        }
        camera_path = root / "camera" / split / city / f"{stem}_camera.json"
        camera_path.parent.mkdir(parents=True, exist_ok=True)
        camera_path.write_text(json.dumps(camera, indent=2))
    return SimpleNamespace(root=root, raw=raw, labels=labels)
