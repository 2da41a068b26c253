"""File readers shared by the real-dataset loaders; every failure is a DataError naming the file and the fix.

Also holds :class:`RealDataset`, the small base the KITTI, Virtual KITTI 2 and Cityscapes loaders share
(length, a complexity proxy for the curriculum, and :meth:`RealDataset.problems` for ``edgedepth data check``).
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, ClassVar

import numpy as np
import torch
from PIL import Image

from edgedepth.errors import DataError

VIEW_CHOICES = ("stereo", "temporal", "both")


def require_file(path: Path, what: str, fix: str) -> Path:
    """Return ``path`` if it is a file, else raise a DataError saying ``what`` is missing."""
    if not path.is_file():
        raise DataError(f"{what} is missing: {path}", fix=fix)
    return path


def _open_image(path: Path, what: str, fix: str) -> Image.Image:
    require_file(path, what, fix)
    try:
        image = Image.open(path)
        image.load()  # decode now so that truncated files fail here, not later
    except (OSError, ValueError, SyntaxError) as exc:
        raise DataError(f"cannot read {what} {path}", why=str(exc), fix=f"the file is corrupt; {fix}") from None
    return image


def read_size(path: Path, *, what: str, fix: str) -> tuple[int, int]:
    """(H, W) of an image from its header, without decoding the pixels."""
    require_file(path, what, fix)
    try:
        with Image.open(path) as image:
            width, height = image.size
    except (OSError, ValueError, SyntaxError) as exc:
        raise DataError(f"cannot read {what} {path}", why=str(exc), fix=f"the file is corrupt; {fix}") from None
    return height, width


def read_rgb(path: Path, *, what: str, fix: str) -> torch.Tensor:
    """An 8-bit colour image as [3,H,W] float32 RGB in [0,1]."""
    array = np.asarray(_open_image(path, what, fix).convert("RGB"), dtype=np.uint8)
    return torch.from_numpy(array.copy()).permute(2, 0, 1).float().div_(255.0)


def read_rgb_uint8(path: Path, *, what: str, fix: str) -> np.ndarray:
    """An 8-bit colour image as [H,W,3] uint8 (for colour-coded labels, no conversion to float)."""
    return np.asarray(_open_image(path, what, fix).convert("RGB"), dtype=np.uint8)


def read_uint8_map(path: Path, *, what: str, fix: str) -> np.ndarray:
    """A single-channel 8-bit PNG (label ids) as [H,W] uint8; palette images keep their indices."""
    image = _open_image(path, what, fix)
    if image.mode not in ("L", "P"):
        raise DataError(
            f"{what} {path} is not a single-channel 8-bit PNG (mode {image.mode})",
            fix=f"use the label-id PNGs, not the colour visualisations; {fix}",
        )
    return np.asarray(image, dtype=np.uint8)


def read_uint16_png(path: Path, *, what: str, fix: str) -> np.ndarray:
    """A 16-bit single-channel PNG as [H,W] int64 (raw values, no scaling)."""
    image = _open_image(path, what, fix)
    if image.mode not in ("I;16", "I;16B", "I"):
        raise DataError(
            f"{what} {path} is not a 16-bit PNG (mode {image.mode})",
            why="depth and disparity maps are stored as single-channel uint16 PNGs",
            fix=fix,
        )
    return np.asarray(image).astype(np.int64)


def read_text(path: Path, *, what: str, fix: str) -> str:
    require_file(path, what, fix)
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"cannot read {what} {path}", why=str(exc), fix=fix) from None


def check_same_size(path: Path, what: str, shape: tuple[int, ...], expected: tuple[int, ...], fix: str) -> None:
    """Raise if a map read from ``path`` (shape [H,W,...]) does not match the image size ``expected`` (H,W)."""
    if tuple(shape[:2]) != tuple(expected[:2]):
        raise DataError(
            f"{what} {path} is {shape[1]}x{shape[0]} but its image is {expected[1]}x{expected[0]}",
            why="every map of a sample must have the size of its image",
            fix=fix,
        )


def check_view_sizes(name: str, image: torch.Tensor, views: list, fix: str) -> None:
    """Raise if a neighbour view's image differs in size from the target image [3,H,W]."""
    for view in views:
        if view.image.shape != image.shape:
            raise DataError(
                f"images of sample {name} differ in size: {tuple(image.shape[1:])} vs {tuple(view.image.shape[1:])}",
                why="a view must have the target's size to be warped into it",
                fix=fix,
            )


def view_kinds(views: str) -> tuple[bool, bool]:
    """(stereo?, temporal?) for a ``views`` option; order in a Sample is stereo first, then prev, next."""
    if views not in VIEW_CHOICES:
        raise DataError(f"unknown views option {views!r}", fix=f"use one of {', '.join(VIEW_CHOICES)}")
    return views in ("stereo", "both"), views in ("temporal", "both")


def read_split_lines(split_file: str | os.PathLike) -> list[tuple[int, list[str]]]:
    """(line number in the file, whitespace-separated fields) of each line that is not blank or a # comment."""
    path = Path(split_file)
    text = read_text(path, what="split file", fix="pass the path of an existing split file (see docs/datasets.md)")
    rows = [(number, line.split()) for number, line in enumerate(text.splitlines(), start=1)
            if line.strip() and not line.lstrip().startswith("#")]
    if not rows:
        raise DataError(f"split file {path} has no entries", fix="list one sample per line (see docs/datasets.md)")
    return rows


def read_split_entries(split_file: str | os.PathLike, *, sides, dataset: str, example: str,
                       folder_parts: int | None = None) -> list[tuple[str, int, str]]:
    """(folder, frame number, side) of each line ``<folder> <frame> [l|r]`` of a KITTI-style split file.

    ``folder_parts``: how many path components the folder has (2 for KITTI's ``<date>/<drive>``), so a
    line without its date folder is reported as a bad line rather than as a missing calibration file."""
    entries = []
    for number, fields in read_split_lines(split_file):
        side = fields[2] if len(fields) > 2 else "l"
        folder = fields[0].strip("/")
        bad_folder = folder_parts is not None and len(folder.split("/")) != folder_parts
        if len(fields) < 2 or not fields[1].isdigit() or side not in sides or bad_folder:
            raise DataError(
                f"split file {split_file}, line {number}: {' '.join(fields)!r} is not a {dataset} split entry",
                why=f"its folder {folder!r} should have {folder_parts} parts, like {example.split()[0]!r}" if bad_folder else None,
                fix=f"write lines like '{example}'",
            )
        entries.append((folder, int(fields[1]), side))
    return entries


def clutter(image: torch.Tensor) -> float:
    """A complexity proxy for real images [3,H,W]: the mean absolute grey-level gradient (edges, texture).

    Real datasets have no object counts or haze labels; busy scenes have more edges, so the curriculum
    can still order them from simple to hard.
    """
    grey = image.mean(0)
    return float((grey[:, 1:] - grey[:, :-1]).abs().mean() + (grey[1:] - grey[:-1]).abs().mean())


@dataclass(frozen=True)
class FrameRecord:
    """One frame of one camera ("l" | "r") of a recorded sequence (a KITTI drive, a Virtual KITTI 2 scene)."""

    sequence: str
    frame: int
    side: str
    FRAME_DIGITS: ClassVar[int] = 5  # as the dataset's file names number frames

    @property
    def name(self) -> str:
        return f"{self.sequence} {self.frame:0{self.FRAME_DIGITS}d} {self.side}"


def real_sample(name: str, image: torch.Tensor, K: np.ndarray, views: list, *, domain: str, fix: str,
                depth: Callable, semantics: Callable):
    """A real dataset's Sample: the views checked against the image's size, then ``depth(shape)`` and
    ``semantics(shape)`` read at it (each a tensor or None)."""
    from edgedepth.data.sample import Sample

    check_view_sizes(name, image, views, fix)
    shape = tuple(image.shape[1:])
    return Sample(image=image, K=torch.from_numpy(K).float(), views=views, depth=depth(shape), semantics=semantics(shape),
                  domain=domain, name=name)


class RealDataset(torch.utils.data.Dataset):
    """Base of the real-dataset loaders: ``records`` (one per sample) and ``load(record) -> Sample``."""

    records: list

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, index: int):
        sample = self.load(self.records[index])
        sample.complexity = clutter(sample.image)
        return sample

    def load(self, record):  # pragma: no cover - every loader defines it
        raise NotImplementedError

    def parts(self, record) -> list:
        """Callables that each read one independent part of a sample (calibration, one view, depth, ...),
        so that a check reports every bad file of a sample, not only the first."""
        return []

    def problems(self, *, progress: bool = True) -> list[str]:
        """Read every part of every sample, then the sample itself; the message of every DataError
        (duplicates removed, in order)."""
        from edgedepth.utils.progress import progress_bar

        found: dict[str, None] = {}
        for record in progress_bar(self.records, desc="checking", disable=not progress):
            for read in [*self.parts(record), lambda: self.load(record)]:
                try:
                    read()
                except DataError as exc:
                    found.setdefault(exc.message(), None)
        return list(found)
