"""One entry point for every dataset: a registry of names, ``build_dataset(name_or_folder, ...)``, format detection, checks.

Each dataset registers its builder where it is defined (``@register_dataset("kitti")``), so a name
lives in one place; :func:`dataset_names` lists them and the config is validated against it.
Names: "synthetic-source", "synthetic-target" (the built-in world), "vkitti2", "kitti", "cityscapes",
"folder"; the alias "synthetic" means the built-in world of the domain it is used for
(:func:`resolve_dataset_name`). Instead of a name, a folder: one written by ``edgedepth data synth``
(it holds ``meta.yaml``) or the root of one of the real datasets, recognised by its layout
(:func:`detect_format`).
"""
from __future__ import annotations

import importlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Optional, Sequence, Union

from edgedepth.errors import DataError, EdgedepthError

if TYPE_CHECKING:
    from torch.utils.data import Dataset

SPLITS = ("train", "test")
DOMAINS = ("source", "target")
SYNTHETIC_ALIAS = "synthetic"
# Modules whose import registers the built-in datasets (imported on the first look-up, not before,
# so that reading a config does not load every loader).
BUILTIN_MODULES = ("synthetic", "folder", "kitti", "vkitti2", "cityscapes")

TransformArg = Optional[Union[Callable, Sequence[Callable]]]


@dataclass(frozen=True)
class DatasetOptions:
    """What a builder may use. Builders of real datasets return samples at their native size."""

    root: Optional[Path]
    split: str
    size: tuple[int, int]
    length: int
    seed: int
    views: str
    split_file: Union[str, os.PathLike, None]
    cache: bool
    cache_dir: Optional[str]


@dataclass(frozen=True)
class DatasetEntry:
    name: str
    build: Callable[[DatasetOptions], "Dataset"]
    reads_folder: bool  # needs ``root``; its samples are scaled to cover the asked size


_REGISTRY: dict[str, DatasetEntry] = {}


def register_dataset(name: str, *, reads_folder: bool):
    """Decorator: register ``builder(options: DatasetOptions) -> Dataset`` under ``name``."""

    def decorator(builder: Callable[[DatasetOptions], "Dataset"]):
        if name in _REGISTRY and _REGISTRY[name].build is not builder:
            raise ValueError(f"dataset {name!r} is registered twice")
        _REGISTRY[name] = DatasetEntry(name, builder, reads_folder)
        return builder

    return decorator


def _entries() -> dict[str, DatasetEntry]:
    for module in BUILTIN_MODULES:
        importlib.import_module(f"edgedepth.data.{module}")
    return _REGISTRY


def dataset_names() -> tuple[str, ...]:
    """Every registered dataset name, in registration order."""
    return tuple(_entries())


def resolve_dataset_name(name: str, domain: str) -> str:
    """The one place the "synthetic" alias is resolved: the built-in world of ``domain`` ("source" or "target")."""
    if domain not in DOMAINS:
        raise ValueError(f"domain must be one of {DOMAINS}, got {domain!r}")
    return f"synthetic-{domain}" if name == SYNTHETIC_ALIAS else name


def _looks_like_folder(name: str) -> bool:
    return os.sep in name or "/" in name or Path(name).is_dir()


def check_dataset_name(name: str, *, what: str, error: type[EdgedepthError] = DataError) -> None:
    """Raise ``error`` naming ``what`` (e.g. a config key) unless ``name`` is a registered name, the
    "synthetic" alias or a folder path (whose contents are checked when the dataset is built)."""
    if name == SYNTHETIC_ALIAS or _looks_like_folder(name) or name in _entries():
        return
    raise error(f"{what} is {name!r}, which is not a known dataset",
                fix=f"use {SYNTHETIC_ALIAS!r}, one of {', '.join(dataset_names())}, or a dataset folder")


def detect_format(root: Union[str, os.PathLike]) -> str:
    """"folder" (written by ``edgedepth data synth``), "cityscapes", "vkitti2" or "kitti", from the layout."""
    path = Path(root)
    if not path.is_dir():
        raise DataError(f"dataset folder {path} does not exist", fix="pass the folder that holds the dataset")
    if (path / "meta.yaml").is_file():
        return "folder"
    if (path / "leftImg8bit").is_dir():
        return "cityscapes"
    if any(path.glob("vkitti_2*_rgb")) or any(path.glob("Scene*/*/frames")):
        return "vkitti2"
    if any(path.glob("*/calib_cam_to_cam.txt")):
        return "kitti"
    raise DataError(
        f"cannot tell which dataset {path} holds",
        why="it has no meta.yaml (edgedepth data synth), leftImg8bit/ (Cityscapes), Scene*/ or vkitti_2.0.3_* "
        "folders (Virtual KITTI 2), nor <date>/calib_cam_to_cam.txt (KITTI raw)",
        fix="point at the dataset root laid out as in docs/datasets.md",
    )


def _entry_and_root(name: str, root) -> tuple[DatasetEntry, Optional[Path]]:
    entries = _entries()
    if name in entries:
        entry = entries[name]
        if entry.reads_folder and root is None:
            raise DataError(f"dataset {name!r} needs its root folder", fix=f"pass root= (data.source_root / data.target_root) for {name}")
        return entry, Path(root) if entry.reads_folder else None
    if Path(name).is_dir() or root is None and os.sep in name:
        return entries[detect_format(name)], Path(name)
    raise DataError(f"unknown dataset {name!r}", fix=f"use one of {', '.join(entries)} or a dataset folder")


def build_dataset(
    name_or_folder: Union[str, os.PathLike],
    *,
    root: Union[str, os.PathLike, None] = None,
    split: str = "train",
    size: tuple[int, int] = (96, 320),
    length: int = 512,
    seed: int = 0,
    views: str = "stereo",
    split_file: Union[str, os.PathLike, None] = None,
    transforms: TransformArg = None,
    cache: bool = False,
    cache_dir: Optional[str] = None,
) -> "Dataset":
    """A torch Dataset of Samples at ``size`` (H, W).

    ``length`` and ``seed`` pick the synthetic samples; real datasets use every sample of the split
    (their split files decide), and a synth folder keeps the samples and views it was written with.
    ``cache`` reads the synthetic world from the render cache (rendered there on first use, see
    ``edgedepth.data.render_cache``; ``cache_dir`` overrides its location) instead of rendering
    every access. Real and folder images are scaled to cover ``size`` and centre-cropped, keeping
    the aspect ratio and K exact; ``transforms`` (a callable or a list of Sample -> Sample
    functions, e.g. ``edgedepth.data.transforms.CenterCrop``) are applied after that.
    """
    from edgedepth.data.readers import view_kinds
    from edgedepth.data.transforms import Compose, ResizeCover, TransformedDataset

    if split not in SPLITS:
        raise DataError(f"unknown split {split!r}", fix=f"use one of {', '.join(SPLITS)}")
    view_kinds(views)
    entry, folder = _entry_and_root(str(name_or_folder), root)
    options = DatasetOptions(root=folder, split=split, size=tuple(size), length=length, seed=seed, views=views,
                             split_file=split_file, cache=cache, cache_dir=cache_dir)
    dataset = entry.build(options)
    extra = list(transforms) if isinstance(transforms, (list, tuple)) else ([transforms] if transforms else [])
    steps = ([ResizeCover(size)] if entry.reads_folder else []) + extra
    return TransformedDataset(dataset, Compose(steps)) if steps else dataset


def check_dataset(
    root: Union[str, os.PathLike],
    *,
    split_file: Union[str, os.PathLike, None] = None,
    progress: bool = True,
) -> list[str]:
    """Every problem found in a dataset folder, one message each (naming the file and the fix); [] if none.

    Synth folders are checked by ``edgedepth.data.folder.check_folder``; for the real datasets every
    file the loader would read is opened (images, calibration, poses, depth, labels), for the stereo
    and the temporal views.
    """
    try:
        kind = detect_format(root)
        if kind == "folder":
            from edgedepth.data.folder import check_folder

            return list(check_folder(root))
        if kind == "cityscapes":
            from edgedepth.data.cityscapes import Cityscapes

            if split_file:
                datasets = [Cityscapes(root, split_file=split_file)]
            else:
                splits = sorted(p.name for p in (Path(root) / "leftImg8bit").iterdir() if p.is_dir())
                datasets = [Cityscapes(root, split=s) for s in splits or ["train"]]
        elif kind == "kitti":
            from edgedepth.data.kitti import KittiRaw

            # stereo covers every frame (temporal skips each drive's first and last), temporal the poses
            datasets = [KittiRaw(root, split_file=split_file, views=v) for v in ("stereo", "temporal")]
        else:
            from edgedepth.data.vkitti2 import VirtualKitti2

            datasets = [VirtualKitti2(root, split_file=split_file, views=v) for v in ("stereo", "temporal")]
    except DataError as exc:
        return [exc.message()]
    problems: dict[str, None] = {}
    for dataset in datasets:
        problems.update(dict.fromkeys(dataset.problems(progress=progress)))
    return list(problems)
