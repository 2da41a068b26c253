"""Virtual KITTI 2: RGB, depth (uint16 cm), class colours -> Cityscapes trainIds, per-frame camera poses.

On-disk layout: the archives (vkitti_2.0.3_rgb, _depth, _classSegmentation, _textgt) extracted side by
side under ROOT, or merged into one tree; both are read::

    ROOT/[vkitti_2.0.3_rgb/]Scene01/clone/frames/rgb/Camera_0/rgb_00000.jpg
    ROOT/[vkitti_2.0.3_depth/]Scene01/clone/frames/depth/Camera_0/depth_00000.png
    ROOT/[vkitti_2.0.3_classSegmentation/]Scene01/clone/frames/classSegmentation/Camera_0/classgt_00000.png
    ROOT/[vkitti_2.0.3_textgt/]Scene01/clone/{intrinsic,extrinsic,colors}.txt

``intrinsic.txt``: header, then ``frame cameraID fx fy cx cy``; ``extrinsic.txt``: header, then
``frame cameraID`` and the 16 entries (row-major) of the world -> camera transform. Camera_0 is the
left camera, Camera_1 the right one. Depth and class maps are read when their folder exists;
depth is centimetres / 100, and the far plane (65535, the sky) becomes 0 = unknown.
A split file (optional) lists ``Scene01/clone 00012 l`` per line (``r`` = Camera_1 is the target).
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from edgedepth.data import geometry as geo
from edgedepth.data.readers import (
    FrameRecord,
    RealDataset,
    check_same_size,
    read_rgb,
    read_rgb_uint8,
    read_size,
    read_split_entries,
    read_text,
    read_uint16_png,
    real_sample,
    view_kinds,
)
from edgedepth.data.registry import DatasetOptions, register_dataset
from edgedepth.data.sample import IGNORE_INDEX, Sample, View
from edgedepth.errors import DataError

KINDS = ("rgb", "depth", "classSegmentation", "textgt")
FIX = "download the Virtual KITTI 2 archives and extract them under the dataset root (docs/datasets.md)"
CAMERA_OF_SIDE = {"l": 0, "r": 1}
FAR_PLANE_CM = 65535  # depth PNG value of the sky (655.35 m); read as 0 = unknown, like the synthetic world

# Virtual KITTI 2 class names (colors.txt) -> Cityscapes trainIds. Guard rails are ignored, as in
# Cityscapes' own trainId table; vans count as cars; "Misc" and "Undefined" have no Cityscapes class.
TRAIN_ID_OF_CLASS = {
    "Terrain": 9,
    "Sky": 10,
    "Tree": 8,
    "Vegetation": 8,
    "Building": 2,
    "Road": 0,
    "GuardRail": IGNORE_INDEX,
    "TrafficSign": 7,
    "TrafficLight": 6,
    "Pole": 5,
    "Misc": IGNORE_INDEX,
    "Truck": 14,
    "Car": 13,
    "Van": 13,
    "Undefined": IGNORE_INDEX,
}


def _table(path: Path, width: int) -> dict[tuple[int, int], np.ndarray]:
    """Rows ``frame cameraID v1 .. v_width`` of a text-gt file after its header -> {(frame, camera): values}."""
    rows = {}
    lines = read_text(path, what="Virtual KITTI 2 camera file", fix=FIX).splitlines()
    for number, line in enumerate(lines[1:], start=2):
        fields = line.split()
        if not fields:
            continue
        try:
            values = [float(v) for v in fields]
        except ValueError:
            values = []
        if len(values) != width + 2:
            raise DataError(
                f"{path}, line {number}: expected 'frame cameraID' and {width} numbers, got {line.strip()!r}",
                fix=f"the file is corrupt; {FIX}",
            )
        rows[(int(values[0]), int(values[1]))] = np.array(values[2:], dtype=np.float64)
    return rows


def load_cameras(textgt_dir: Path) -> tuple[dict, dict]:
    """(intrinsics {(frame, cam): K [3,3]}, extrinsics {(frame, cam): world->camera [4,4]})."""
    intrinsics = {}
    for key, (fx, fy, cx, cy) in _table(textgt_dir / "intrinsic.txt", 4).items():
        intrinsics[key] = np.array([[fx, 0, cx], [0, fy, cy], [0, 0, 1]])
    extrinsics = {key: v.reshape(4, 4) for key, v in _table(textgt_dir / "extrinsic.txt", 16).items()}
    return intrinsics, extrinsics


def load_colors(path: Path) -> dict[int, int]:
    """colors.txt (``Category r g b`` header, then ``Name r g b``) -> {packed colour: trainId}."""
    lut = {}
    for number, line in enumerate(read_text(path, what="class colour table", fix=FIX).splitlines()[1:], start=2):
        fields = line.split()
        if not fields:
            continue
        if len(fields) != 4 or not all(f.isdigit() for f in fields[1:]):
            raise DataError(f"{path}, line {number}: expected 'Name r g b', got {line.strip()!r}", fix=FIX)
        r, g, b = (int(f) for f in fields[1:])
        lut[(r << 16) | (g << 8) | b] = TRAIN_ID_OF_CLASS.get(fields[0], IGNORE_INDEX)
    return lut


def colors_to_train_ids(rgb: np.ndarray, lut: dict[int, int], *, path: Path | str = "class PNG",
                        table: Path | str = "colors.txt") -> np.ndarray:
    """[H,W,3] uint8 class colours -> [H,W] int64 trainIds.

    A colour that the table (``table``, read into ``lut``) does not list is an error naming ``path``:
    the PNG belongs to another version of the table or is damaged, and mapping it to "ignore" would
    silently drop its labels from training and from mIoU."""
    packed = (rgb[..., 0].astype(np.int64) << 16) | (rgb[..., 1].astype(np.int64) << 8) | rgb[..., 2]
    colours, inverse = np.unique(packed, return_inverse=True)
    unknown = [int(c) for c in colours if int(c) not in lut]
    if unknown:
        shown = ", ".join(f"({c >> 16}, {(c >> 8) & 255}, {c & 255})" for c in unknown[:5])
        raise DataError(f"Virtual KITTI 2 class PNG {path} has colours that {table} does not list: {shown}",
                        why="every class colour of a class PNG is a row of its sequence's colors.txt",
                        fix=f"the PNG or the table is damaged or from another Virtual KITTI 2 version; {FIX}")
    ids = np.array([lut[int(c)] for c in colours], dtype=np.int64)
    return ids[inverse].reshape(packed.shape)


class VkittiRecord(FrameRecord):
    """A frame of a Virtual KITTI 2 sequence ("Scene01/clone")."""


class VirtualKitti2(RealDataset):
    """Virtual KITTI 2 samples at the native 375x1242; the split file is optional (default: every frame)."""

    def __init__(self, root: str | os.PathLike, *, split_file: str | os.PathLike | None = None, views: str = "stereo"):
        self.root = Path(root)
        if not self.root.is_dir():
            raise DataError(f"Virtual KITTI 2 root {self.root} is not a folder", fix=FIX)
        self.stereo, self.temporal = view_kinds(views)
        self.bases = {kind: self._base(kind) for kind in KINDS}
        self._parsed: dict[tuple[str, Path], object] = {}  # camera and colour tables, parsed once per dataset
        self.records = self._read_split(split_file) if split_file else self._all_frames()
        if not self.records:
            raise DataError(f"no Virtual KITTI 2 frames found under {self.root}", fix=FIX)

    def _base(self, kind: str) -> Path:
        archives = sorted(self.root.glob(f"vkitti_2*_{kind}"))
        return archives[-1] if archives else self.root

    def _read_split(self, split_file) -> list[VkittiRecord]:
        entries = read_split_entries(split_file, sides=CAMERA_OF_SIDE, dataset="Virtual KITTI 2",
                                     example="Scene01/clone 00012 l", folder_parts=2)
        return [VkittiRecord(*entry) for entry in entries]

    def _all_frames(self) -> list[VkittiRecord]:
        records = []
        for camera_dir in sorted(self.bases["rgb"].glob("Scene*/*/frames/rgb/Camera_0")):
            sequence = f"{camera_dir.parents[3].name}/{camera_dir.parents[2].name}"
            frames = sorted(int(p.stem.split("_")[-1]) for p in camera_dir.glob("rgb_*.jpg"))
            if self.temporal:  # the first and last frame have no neighbour on one side
                present = set(frames)
                frames = [f for f in frames if f - 1 in present and f + 1 in present]
            records += [VkittiRecord(sequence, f, "l") for f in frames]
        return records

    def _frames_dir(self, kind: str, record: VkittiRecord) -> Path:
        return self.bases[kind] / record.sequence / "frames" / kind

    def _once(self, parse, path: Path):
        key = (parse.__name__, path)
        if key not in self._parsed:
            self._parsed[key] = parse(path)
        return self._parsed[key]

    def _image(self, record: VkittiRecord, cam: int, frame: int) -> torch.Tensor:
        return read_rgb(self._image_path(record, cam, frame), what="Virtual KITTI 2 image", fix=FIX)

    def _pose(self, record: VkittiRecord, frame: int, cam: int) -> np.ndarray:
        """World -> camera transform of ``cam`` at ``frame``."""
        E = self._once(load_cameras, self.bases["textgt"] / record.sequence)[1].get((frame, cam))
        if E is None:
            path = self.bases["textgt"] / record.sequence / "extrinsic.txt"
            raise DataError(f"{path} has no pose for frame {frame}, camera {cam}", fix=f"the file is incomplete; {FIX}")
        return E

    def _intrinsics(self, record: VkittiRecord) -> np.ndarray:
        cam, textgt = CAMERA_OF_SIDE[record.side], self.bases["textgt"] / record.sequence
        K = self._once(load_cameras, textgt)[0].get((record.frame, cam))
        if K is None:
            raise DataError(f"{textgt / 'intrinsic.txt'} has no entry for frame {record.frame}, camera {cam}", fix=FIX)
        return K

    def _view(self, record: VkittiRecord, frame: int, cam: int, kind: str) -> View:
        target = CAMERA_OF_SIDE[record.side]
        T = self._pose(record, frame, cam) @ geo.invert(self._pose(record, record.frame, target))
        return View(self._image(record, cam, frame), geo.pose_tensor(T), kind)

    def _views(self, record: VkittiRecord) -> list[Callable[[], View]]:
        """Loaders of the neighbour views, in Sample order (stereo, previous, next)."""
        cam = CAMERA_OF_SIDE[record.side]
        views = [lambda: self._view(record, record.frame, 1 - cam, "stereo")] if self.stereo else []
        if self.temporal:
            views += [lambda f=f: self._view(record, f, cam, "temporal") for f in (record.frame - 1, record.frame + 1)]
        return views

    def _image_path(self, record: VkittiRecord, cam: int, frame: int) -> Path:
        return self._frames_dir("rgb", record) / f"Camera_{cam}" / f"rgb_{frame:05d}.jpg"

    def parts(self, record: VkittiRecord) -> list[Callable[[], object]]:
        cam = CAMERA_OF_SIDE[record.side]
        size = lambda: read_size(self._image_path(record, cam, record.frame), what="Virtual KITTI 2 image", fix=FIX)  # noqa: E731
        return [lambda: self._intrinsics(record), *self._views(record), lambda: self._depth(record, size()),
                lambda: self._semantics(record, size())]

    def load(self, record: VkittiRecord) -> Sample:
        K = self._intrinsics(record)
        image = self._image(record, CAMERA_OF_SIDE[record.side], record.frame)
        views = [load_view() for load_view in self._views(record)]
        return real_sample(record.name, image, K, views, domain="vkitti2", fix=FIX,
                           depth=lambda shape: self._depth(record, shape), semantics=lambda shape: self._semantics(record, shape))

    def _depth(self, record: VkittiRecord, shape: tuple[int, int]) -> torch.Tensor | None:
        folder = self._frames_dir("depth", record)
        if not folder.is_dir():
            return None
        path = folder / f"Camera_{CAMERA_OF_SIDE[record.side]}" / f"depth_{record.frame:05d}.png"
        centimetres = read_uint16_png(path, what="Virtual KITTI 2 depth PNG", fix=FIX)
        check_same_size(path, "Virtual KITTI 2 depth PNG", centimetres.shape, shape, FIX)
        depth = centimetres.astype(np.float32) / 100.0
        depth[centimetres >= FAR_PLANE_CM] = 0.0  # sky: the renderer's far plane, not a measurement
        return torch.from_numpy(depth).unsqueeze(0)

    def _semantics(self, record: VkittiRecord, shape: tuple[int, int]) -> torch.Tensor | None:
        folder = self._frames_dir("classSegmentation", record)
        if not folder.is_dir():
            return None
        path = folder / f"Camera_{CAMERA_OF_SIDE[record.side]}" / f"classgt_{record.frame:05d}.png"
        rgb = read_rgb_uint8(path, what="Virtual KITTI 2 class PNG", fix=FIX)
        check_same_size(path, "Virtual KITTI 2 class PNG", rgb.shape, shape, FIX)
        table = self.bases["textgt"] / record.sequence / "colors.txt"
        return torch.from_numpy(colors_to_train_ids(rgb, self._once(load_colors, table), path=path, table=table))



@register_dataset("vkitti2", reads_folder=True)
def _build_vkitti2(options: DatasetOptions) -> VirtualKitti2:
    return VirtualKitti2(options.root, split_file=options.split_file, views=options.views)
