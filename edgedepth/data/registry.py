"""One entry point for every dataset: ``build_dataset(name_or_folder, ...)``, format detection and checks.

Names: "synthetic-source", "synthetic-target" (the built-in world), "vkitti2", "kitti", "cityscapes";
or a folder: one written by ``edgedepth data synth`` (it holds ``meta.yaml``) or the root of one of
the real datasets, recognised by its layout (:func:`detect_format`).
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Callable, Optional, Sequence, Union

from torch.utils.data import Dataset

from edgedepth.data.readers import view_kinds
from edgedepth.data.transforms import Compose, ResizeCover, TransformedDataset
from edgedepth.errors import DataError

REAL_DATASETS = ("vkitti2", "kitti", "cityscapes")
DATASET_NAMES = ("synthetic-source", "synthetic-target") + REAL_DATASETS
SPLITS = ("train", "test")
# Cityscapes' test labels are withheld, so our "test" split is its "val" folder.
CITYSCAPES_SPLIT = {"train": "train", "test": "val"}

TransformArg = Optional[Union[Callable, Sequence[Callable]]]


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


def _real_dataset(name: str, root: Path, *, split: str, views: str, split_file) -> Dataset:
    if name == "kitti":
        from edgedepth.data.kitti import KittiRaw

        if split_file is None:
            raise DataError(
                "KITTI needs a split file",
                why="without one, training and test frames of the Eigen split would mix",
                fix="pass split_file (data.split_file / data.test_split_file), e.g. monodepth2's "
                "splits/eigen_zhou/train_files.txt or splits/eigen/test_files.txt (docs/datasets.md)",
            )
        return KittiRaw(root, split_file=split_file, views=views)
    if name == "vkitti2":
        from edgedepth.data.vkitti2 import VirtualKitti2

        return VirtualKitti2(root, split_file=split_file, views=views)
    from edgedepth.data.cityscapes import Cityscapes

    return Cityscapes(root, split=CITYSCAPES_SPLIT[split], split_file=split_file, views=views)


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
) -> Dataset:
    """A torch Dataset of Samples at ``size`` (H, W).

    ``length`` and ``seed`` pick the synthetic samples; real datasets use every sample of the split
    (their split files decide), and a synth folder keeps the samples and views it was written with.
    Real and folder images are scaled to cover ``size`` and centre-cropped, keeping the aspect ratio
    and K exact; ``transforms`` (a callable or a list, e.g.
    ``edgedepth.data.transforms.augmentations(...)``) are applied after that.
    """
    if split not in SPLITS:
        raise DataError(f"unknown split {split!r}", fix=f"use one of {', '.join(SPLITS)}")
    view_kinds(views)
    name = str(name_or_folder)
    extra = list(transforms) if isinstance(transforms, (list, tuple)) else ([transforms] if transforms else [])
    if name in ("synthetic-source", "synthetic-target"):
        from edgedepth.data.synthetic import SyntheticWorld

        dataset = SyntheticWorld(domain=name.split("-")[1], size=tuple(size), length=length, seed=seed, views=views)
        return TransformedDataset(dataset, Compose(extra)) if extra else dataset
    if name in REAL_DATASETS:
        if root is None:
            raise DataError(f"dataset {name!r} needs its root folder", fix=f"pass root= (data.source_root / data.target_root) for {name}")
        folder, kind = Path(root), name
    elif Path(name).is_dir() or root is None and os.sep in name:
        folder = Path(name)
        kind = detect_format(folder)
    else:
        raise DataError(f"unknown dataset {name!r}", fix=f"use one of {', '.join(DATASET_NAMES)} or a dataset folder")
    if kind == "folder":
        from edgedepth.data.folder import FolderDataset

        dataset = FolderDataset(folder)
    else:
        dataset = _real_dataset(kind, folder, split=split, views=views, split_file=split_file)
    return TransformedDataset(dataset, Compose([ResizeCover(size)] + extra))


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
