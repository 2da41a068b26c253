"""The on-disk folder format written by ``edgedepth data synth`` (see docs/data_format.md).

One domain per folder::

    meta.yaml                 format, version, domain, size [H, W], count, views, seed
    image/000000.png          8-bit RGB
    depth/000000.png          16-bit grey, metres = value / 256, 0 = unknown (sky, beyond 80 m)
    semantics/000000.png      8-bit grey Cityscapes trainIds, 255 = ignore
    views/000000_0.png        8-bit RGB neighbour views, in the sample's view order
    calib/000000.json         {"name", "domain", "complexity", "K": 3x3, "views": [{"file", "kind", "T": 4x4}]}

Both domains: ``meta.yaml`` with ``domains: [source, target]`` and one such folder per domain.
The format's constants, file names and readers are torch-free, in ``edgedepth.data.folder_format``;
this module writes and checks folders and reads them as torch Samples.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable, Optional

import numpy as np
import torch
import yaml
from PIL import Image
from torch.utils.data import Dataset

from edgedepth.data.folder_format import (  # noqa: F401  (re-exported: the format's names)
    DEPTH_SCALE,
    FOLDER_ENTRIES,
    FORMAT,
    PNG_COMPRESSION,
    REGENERATE,
    VERSION,
    PathLike,
    SynthFolder,
    count_samples,
    load_png,
    read_calib,
    read_meta,
    sample_files,
    to_uint8,
)
from edgedepth.data.registry import DatasetOptions, register_dataset
from edgedepth.data.sample import IGNORE_INDEX, Sample, View
from edgedepth.errors import DataError
from edgedepth.utils.io import atomic_write_text, write_json
from edgedepth.utils.progress import progress_bar


def _to_uint8_rgb(image: torch.Tensor) -> np.ndarray:
    return to_uint8(image.detach().permute(1, 2, 0).numpy())


def _save_png(path: Path, array: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path, format="PNG", compress_level=PNG_COMPRESSION)


def write_sample(root: Path, index: int, sample: Sample) -> None:
    """Write one sample's PNGs and calibration JSON under ``root``."""
    files = sample_files(index, len(sample.views))
    _save_png(root / files["image"], _to_uint8_rgb(sample.image))
    if sample.depth is not None:
        metres = sample.depth[0].detach().numpy().astype(np.float64)
        _save_png(root / files["depth"], np.clip(np.round(metres * DEPTH_SCALE), 0, 65535).astype(np.uint16))
    if sample.semantics is not None:
        _save_png(root / files["semantics"], sample.semantics.detach().numpy().astype(np.uint8))
    views = []
    for k, view in enumerate(sample.views):
        _save_png(root / files[f"view{k}"], _to_uint8_rgb(view.image))
        views.append({"file": files[f"view{k}"], "kind": view.kind, "T": view.T.double().tolist()})
    calib = {
        "name": sample.name,
        "domain": sample.domain,
        "complexity": float(sample.complexity),
        "K": sample.K.double().tolist(),
        "views": views,
    }
    write_json(root / files["calib"], calib)


def write_dataset(out_dir: PathLike, dataset: Iterable[Sample], *, progress: bool = True,
                  info: Optional[dict[str, Any]] = None) -> Path:
    """Write every sample of ``dataset`` to ``out_dir``; ``meta.yaml`` is written last, atomically.

    ``info`` adds keys to meta.yaml (e.g. seed, views). Returns the folder.
    """
    root = Path(out_dir)
    root.mkdir(parents=True, exist_ok=True)
    count, size, domain = 0, None, None
    total = len(dataset) if hasattr(dataset, "__len__") else None
    for index, sample in enumerate(progress_bar(dataset, total=total, desc=f"writing {root}", disable=not progress)):
        write_sample(root, index, sample)
        size = size or list(sample.image.shape[-2:])
        domain = domain or sample.domain
        count += 1
    if count == 0:
        raise DataError("the dataset to write has no samples", fix="pass --n 1 or more")
    meta = {"format": FORMAT, "version": VERSION, "domain": domain, "size": [int(v) for v in size], "count": count,
            "depth_encoding": "uint16 PNG, metres = value / 256, 0 = unknown"}
    meta.update(info or {})
    atomic_write_text(root / "meta.yaml", yaml.safe_dump(meta, sort_keys=False))
    return root


def write_domain_index(out_dir: PathLike, domains: list[str]) -> None:
    """The top-level meta.yaml of a folder that holds one sub-folder per domain."""
    meta = {"format": FORMAT, "version": VERSION, "domains": list(domains)}
    atomic_write_text(Path(out_dir) / "meta.yaml", yaml.safe_dump(meta, sort_keys=False))


class FolderDataset(SynthFolder, Dataset):
    """Samples read back from a folder written by :func:`write_dataset` (exact up to 8/16-bit quantisation)."""

    def _rgb(self, path: Path, what: str) -> torch.Tensor:
        return torch.from_numpy(self.read_rgb(path, what).copy()).permute(2, 0, 1).float().div_(255.0)

    def __getitem__(self, index: int) -> Sample:
        arrays = self.read_arrays(index)
        calib = arrays["calib"]
        image = torch.from_numpy(arrays["image"].copy()).permute(2, 0, 1).float().div_(255.0)
        views = [View(image=self._rgb(self.root / v["file"], "view image"), T=torch.from_numpy(v["T"].astype(np.float32)),
                      kind=v["kind"]) for v in calib["views"]]
        return Sample(image=image, K=torch.from_numpy(calib["K"].astype(np.float32)), views=views,
                      depth=torch.from_numpy(arrays["depth"])[None], semantics=torch.from_numpy(arrays["semantics"]),
                      complexity=calib["complexity"], domain=calib["domain"] or self.domain,
                      name=calib["name"] or f"{self.domain}_{arrays['index']:06d}")


# -- check -------------------------------------------------------------------------------------------------

_PNG_MODES = {"image": ("RGB",), "depth": ("I;16", "I;16B", "I", "I;16L"), "semantics": ("L",)}
_VALID_TRAIN_IDS = set(range(19)) | {IGNORE_INDEX}


def _check_png(path: Path, what: str, size: tuple[int, int], modes: tuple[str, ...]) -> tuple[list[str], Optional[Image.Image]]:
    """Problems with one PNG (missing, unreadable, wrong mode, wrong size) and the decoded image if readable."""
    h, w = size
    if not path.is_file():
        return [f"{path}: {what} is missing; fix: {REGENERATE}"], None
    try:
        image = load_png(path)
    except (OSError, ValueError, SyntaxError) as exc:
        return [f"{path}: {what} is not a readable PNG ({exc}); fix: the file is corrupt or truncated, {REGENERATE}"], None
    problems = []
    if image.mode not in modes:
        problems.append(f"{path}: {what} has PNG mode {image.mode}, expected {' or '.join(modes)}; fix: {REGENERATE}")
    if image.size != (w, h):
        problems.append(f"{path}: {what} is {image.size[1]}x{image.size[0]} but meta.yaml says {h}x{w} "
                        f"(depth/semantics/views must match the image); fix: {REGENERATE}")
    return problems, image


def _check_sample(root: Path, index: int, size: tuple[int, int]) -> list[str]:
    files = sample_files(index, 0)
    problems: list[str] = []
    try:
        calib = read_calib(root / files["calib"])
    except DataError as exc:
        problems.append(f"{root / files['calib']}: {exc.what}; fix: {exc.fix}")
        calib = None
    for key in ("image", "depth", "semantics"):
        found, image = _check_png(root / files[key], f"{key} of sample {index}", size, _PNG_MODES[key])
        problems += found
        if key == "semantics" and image is not None and not found:
            bad = set(np.unique(np.asarray(image)).tolist()) - _VALID_TRAIN_IDS
            if bad:
                problems.append(f"{root / files[key]}: semantics hold values {sorted(bad)} that are not Cityscapes "
                                f"trainIds (0-18, 255 = ignore); fix: {REGENERATE}")
    for k, view in enumerate(calib["views"] if calib else []):
        problems += _check_png(root / view["file"], f"view {k} of sample {index}", size, _PNG_MODES["image"])[0]
    return problems


def check_folder(root: PathLike, *, progress: bool = True) -> list[str]:
    """Every missing, corrupt or inconsistent file of a synth folder, one message each with the fix; [] if none."""
    root = Path(root)
    if not root.is_dir():
        return [f"{root}: folder does not exist; fix: pass the folder written by `edgedepth data synth --out`"]
    try:
        meta = read_meta(root)
    except DataError as exc:
        return [exc.message()]
    if "domains" in meta:
        problems = []
        for domain in meta["domains"]:
            problems += check_folder(root / domain, progress=progress)
        return problems
    size = tuple(meta["size"])
    problems = []
    for index in progress_bar(range(meta["count"]), desc=f"checking {root}", disable=not progress):
        problems += _check_sample(root, index, size)
    return problems + _stray_files(root, meta["count"])


def _stray_files(root: Path, count: int) -> list[str]:
    """Files in the sample folders that are no sample meta.yaml counts (e.g. left by a larger dataset written there)."""
    problems = []
    for sub in ("image", "depth", "semantics", "calib", "views"):
        for path in sorted((root / sub).iterdir()) if (root / sub).is_dir() else []:
            stem = path.stem.split("_")[0]
            if not (stem.isdigit() and int(stem) < count):
                problems.append(f"{path}: not a file of the {count} samples meta.yaml counts (stale or foreign); "
                                f"fix: {REGENERATE}")
    return problems


@register_dataset("folder", reads_folder=True)
def _build_folder(options: DatasetOptions) -> FolderDataset:
    return FolderDataset(options.root)
