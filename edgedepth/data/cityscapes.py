"""Cityscapes: left image, right image as the stereo partner, depth from disparity, gtFine trainIds.

On-disk layout (the official packages extracted into one folder, see docs/datasets.md)::

    ROOT/leftImg8bit/train/aachen/aachen_000000_000019_leftImg8bit.png
    ROOT/rightImg8bit/train/aachen/aachen_000000_000019_rightImg8bit.png
    ROOT/camera/train/aachen/aachen_000000_000019_camera.json
    ROOT/disparity/train/aachen/aachen_000000_000019_disparity.png      (optional: depth)
    ROOT/gtFine/train/aachen/aachen_000000_000019_gtFine_labelIds.png   (optional: semantics)

Disparity PNGs store p = 256 d + 1 (p = 0 invalid); depth = baseline * fx / d with the camera JSON.
Depth and labels are read when their top-level folder exists. Cityscapes has no exact poses between
consecutive frames, so only the stereo partner is offered.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from edgedepth.data import geometry as geo
from edgedepth.data.readers import (
    RealDataset,
    check_same_size,
    read_rgb,
    read_size,
    read_split_lines,
    read_text,
    read_uint16_png,
    read_uint8_map,
    real_sample,
    view_kinds,
)
from edgedepth.data.registry import DatasetOptions, register_dataset
from edgedepth.data.sample import IGNORE_INDEX, Sample, View
from edgedepth.errors import DataError

FIX = "download the Cityscapes packages (leftImg8bit, rightImg8bit, camera, disparity, gtFine) and extract them under the dataset root"

# labelId -> trainId, the standard Cityscapes table (cityscapesscripts/helpers/labels.py).
TRAIN_ID_OF_LABEL = {
    7: 0, 8: 1, 11: 2, 12: 3, 13: 4, 17: 5, 19: 6, 20: 7, 21: 8, 22: 9,
    23: 10, 24: 11, 25: 12, 26: 13, 27: 14, 28: 15, 31: 16, 32: 17, 33: 18,
}  # fmt: skip
LABEL_LUT = np.full(256, IGNORE_INDEX, dtype=np.int64)
for _label, _train_id in TRAIN_ID_OF_LABEL.items():
    LABEL_LUT[_label] = _train_id


def disparity_to_depth(raw: np.ndarray, *, baseline: float, fx: float) -> np.ndarray:
    """Cityscapes disparity PNG values [H,W] -> depth [H,W] float32 metres (0 where invalid)."""
    disparity = (raw.astype(np.float64) - 1.0) / 256.0
    valid = (raw > 0) & (disparity > 0)
    depth = np.zeros(raw.shape, dtype=np.float32)
    depth[valid] = baseline * fx / disparity[valid]
    return depth


def read_camera(path: Path) -> tuple[np.ndarray, float]:
    """A ``*_camera.json`` -> (K [3,3], stereo baseline in metres)."""
    text = read_text(path, what="Cityscapes camera file", fix=FIX)
    try:
        camera = json.loads(text)
        intrinsic = camera["intrinsic"]
        K = np.array([[intrinsic["fx"], 0, intrinsic["u0"]], [0, intrinsic["fy"], intrinsic["v0"]], [0, 0, 1]], dtype=np.float64)
        baseline = float(camera["extrinsic"]["baseline"])
    except (ValueError, KeyError, TypeError) as exc:
        raise DataError(
            f"Cityscapes camera file {path} is not valid",
            why=f"expected JSON with intrinsic.fx/fy/u0/v0 and extrinsic.baseline ({exc!r})",
            fix=f"the file is corrupt; {FIX}",
        ) from None
    return K, baseline


@dataclass(frozen=True)
class CityscapesRecord:
    split: str  # on-disk split folder: "train" | "val" | "test" | ...
    city: str
    stem: str  # "aachen_000000_000019"

    @property
    def name(self) -> str:
        return f"{self.split}/{self.city}/{self.stem}"


class Cityscapes(RealDataset):
    """Cityscapes samples of one split folder (``train``, ``val``, ...) at the native 1024x2048."""

    def __init__(
        self,
        root: str | os.PathLike,
        *,
        split: str = "train",
        split_file: str | os.PathLike | None = None,
        views: str = "stereo",
    ):
        self.root = Path(root)
        if not (self.root / "leftImg8bit").is_dir():
            raise DataError(f"{self.root} has no leftImg8bit folder, so it is not a Cityscapes root", fix=FIX)
        stereo, temporal = view_kinds(views)
        if temporal:
            raise DataError(
                "Cityscapes offers no temporal neighbours",
                why="the dataset has no exact camera poses between consecutive frames",
                fix="use views='stereo' for Cityscapes",
            )
        self.stereo = stereo
        self.records = self._read_split(split_file) if split_file else self._all_frames(split)
        if not self.records:
            raise DataError(f"no Cityscapes images found in {self.root / 'leftImg8bit' / split}", fix=FIX)

    def _read_split(self, split_file) -> list[CityscapesRecord]:
        records = []
        for number, fields in read_split_lines(split_file):
            parts = fields[0].strip("/").split("/")
            if len(parts) != 3:
                raise DataError(
                    f"split file {split_file}, line {number}: {fields[0]!r} is not a Cityscapes entry",
                    fix="write lines like 'train/aachen/aachen_000000_000019'",
                )
            records.append(CityscapesRecord(*parts))
        return records

    def _all_frames(self, split: str) -> list[CityscapesRecord]:
        suffix = "_leftImg8bit.png"
        paths = sorted((self.root / "leftImg8bit" / split).glob(f"*/*{suffix}"))
        return [CityscapesRecord(split, p.parent.name, p.name[: -len(suffix)]) for p in paths]

    def path(self, folder: str, record: CityscapesRecord, suffix: str) -> Path:
        return self.root / folder / record.split / record.city / f"{record.stem}_{suffix}"

    def _camera(self, record: CityscapesRecord) -> tuple[np.ndarray, float]:
        return read_camera(self.path("camera", record, "camera.json"))

    def _size(self, record: CityscapesRecord) -> tuple[int, int]:
        return read_size(self.path("leftImg8bit", record, "leftImg8bit.png"), what="Cityscapes left image", fix=FIX)

    def _stereo_view(self, record: CityscapesRecord) -> View:
        right = read_rgb(self.path("rightImg8bit", record, "rightImg8bit.png"), what="Cityscapes right image", fix=FIX)
        # Rectified pair: the right camera sits `baseline` metres to the right of the left one.
        return View(right, geo.pose_tensor(geo.translation(x=-self._camera(record)[1])), "stereo")

    def parts(self, record: CityscapesRecord) -> list[Callable[[], object]]:
        views = [lambda: self._stereo_view(record)] if self.stereo else []
        return [lambda: self._camera(record), *views, lambda: self._depth(record, self._size(record)),
                lambda: self._semantics(record, self._size(record))]

    def load(self, record: CityscapesRecord) -> Sample:
        image = read_rgb(self.path("leftImg8bit", record, "leftImg8bit.png"), what="Cityscapes left image", fix=FIX)
        K, _ = self._camera(record)
        views = [self._stereo_view(record)] if self.stereo else []
        return real_sample(record.name, image, K, views, domain="cityscapes", fix=FIX,
                           depth=lambda shape: self._depth(record, shape), semantics=lambda shape: self._semantics(record, shape))

    def _depth(self, record: CityscapesRecord, shape) -> torch.Tensor | None:
        if not (self.root / "disparity").is_dir():
            return None
        K, baseline = self._camera(record)
        path = self.path("disparity", record, "disparity.png")
        raw = read_uint16_png(path, what="Cityscapes disparity PNG", fix=FIX)
        check_same_size(path, "Cityscapes disparity PNG", raw.shape, shape, FIX)
        return torch.from_numpy(disparity_to_depth(raw, baseline=baseline, fx=float(K[0, 0]))).unsqueeze(0)

    def _semantics(self, record: CityscapesRecord, shape) -> torch.Tensor | None:
        if not (self.root / "gtFine").is_dir():
            return None
        path = self.path("gtFine", record, "gtFine_labelIds.png")
        labels = read_uint8_map(path, what="Cityscapes label PNG", fix=FIX)
        check_same_size(path, "Cityscapes label PNG", labels.shape, shape, FIX)
        return torch.from_numpy(LABEL_LUT[labels])


# Cityscapes' test labels are withheld, so our "test" split is its "val" folder.
SPLIT_FOLDERS = {"train": "train", "test": "val"}


@register_dataset("cityscapes", reads_folder=True)
def _build_cityscapes(options: DatasetOptions) -> Cityscapes:
    return Cityscapes(options.root, split=SPLIT_FOLDERS[options.split], split_file=options.split_file, views=options.views)
