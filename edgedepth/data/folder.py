"""The on-disk folder format written by ``edgedepth data synth`` (see docs/data_format.md).

One domain per folder::

    meta.yaml                 format, version, domain, size [H, W], count, views, seed
    image/000000.png          8-bit RGB
    depth/000000.png          16-bit grey, metres = value / 256, 0 = unknown (sky, beyond 80 m)
    semantics/000000.png      8-bit grey Cityscapes trainIds, 255 = ignore
    views/000000_0.png        8-bit RGB neighbour views, in the sample's view order
    calib/000000.json         {"name", "domain", "complexity", "K": 3x3, "views": [{"file", "kind", "T": 4x4}]}

Both domains: ``meta.yaml`` with ``domains: [source, target]`` and one such folder per domain.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Iterable, Optional, Union

import numpy as np
import torch
import yaml
from PIL import Image
from torch.utils.data import Dataset

from edgedepth.data.registry import DatasetOptions, register_dataset
from edgedepth.data.sample import IGNORE_INDEX, Sample, View
from edgedepth.errors import DataError
from edgedepth.utils.io import atomic_write_text, write_json
from edgedepth.utils.progress import progress_bar

FORMAT = "edgedepth-synth"
VERSION = 1
DEPTH_SCALE = 256.0  # stored value = round(metres * 256): 3.9 mm steps, up to 255.99 m
PNG_COMPRESSION = 1  # fast writes; PNG stays lossless
REGENERATE = "regenerate the dataset with `edgedepth data synth --out DIR --overwrite ...`"
# Everything a synth folder holds (glob patterns): `data synth --overwrite` removes these, nothing else.
FOLDER_ENTRIES = ("meta.yaml", "image", "depth", "semantics", "views", "calib", "source", "target", ".*.tmp")
PathLike = Union[str, os.PathLike]


def _stem(index: int) -> str:
    return f"{index:06d}"


def sample_files(index: int, n_views: int) -> dict[str, str]:
    """Relative paths of every file of sample ``index`` (keys: image, depth, semantics, calib, view0...)."""
    stem = _stem(index)
    files = {
        "image": f"image/{stem}.png",
        "depth": f"depth/{stem}.png",
        "semantics": f"semantics/{stem}.png",
        "calib": f"calib/{stem}.json",
    }
    files.update({f"view{k}": f"views/{stem}_{k}.png" for k in range(n_views)})
    return files


def to_uint8(image: np.ndarray) -> np.ndarray:
    """The 8-bit levels of a float image in [0, 1] (clipped), rounded to the nearest level."""
    return (np.clip(image, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)


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


def read_meta(root: PathLike) -> dict:
    """meta.yaml of ``root``, validated; raises DataError naming the file and the fix."""
    path = Path(root) / "meta.yaml"
    if not path.is_file():
        raise DataError(f"{path} is missing", why="every folder written by `edgedepth data synth` has one, "
                        "written last", fix=f"the folder is incomplete or not a synth dataset; {REGENERATE}")
    try:
        meta = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError, UnicodeDecodeError) as exc:
        raise DataError(f"cannot read {path}", why=str(exc).splitlines()[0], fix=REGENERATE) from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise DataError(f"{path} does not describe an {FORMAT} folder", fix=REGENERATE)
    if meta.get("version") != VERSION:
        raise DataError(f"{path} has format version {meta.get('version')!r}; this edgedepth reads {VERSION}",
                        fix=f"{REGENERATE} with this version")
    if "domains" in meta:
        if not isinstance(meta["domains"], list) or not all(isinstance(d, str) for d in meta["domains"]):
            raise DataError(f"{path}: 'domains' must be a list of sub-folder names", fix=REGENERATE)
        return meta
    size, count = meta.get("size"), meta.get("count")
    if not (isinstance(size, list) and len(size) == 2 and all(isinstance(v, int) and v > 0 for v in size)):
        raise DataError(f"{path}: 'size' must be [H, W] (positive integers), got {size!r}", fix=REGENERATE)
    if not (isinstance(count, int) and count >= 0):
        raise DataError(f"{path}: 'count' must be a non-negative integer, got {count!r}", fix=REGENERATE)
    return meta


def _load_png(path: Path) -> Image.Image:
    image = Image.open(path)
    image.load()  # decode now so a truncated file fails here
    return image


def _read_png(path: Path, what: str) -> np.ndarray:
    if not path.is_file():
        raise DataError(f"{what} {path} is missing", fix=REGENERATE)
    try:
        return np.asarray(_load_png(path))
    except (OSError, ValueError, SyntaxError) as exc:
        raise DataError(f"cannot read {what} {path}", why=str(exc), fix=f"the file is corrupt; {REGENERATE}") from None


def _matrix(value, shape: tuple[int, int]) -> Optional[np.ndarray]:
    try:
        m = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        return None
    return m if m.shape == shape and np.isfinite(m).all() else None


def _read_calib(path: Path) -> dict:
    """A sample's calibration JSON with K [3,3] and views[*].T [4,4] as numpy arrays (validated)."""
    if not path.is_file():
        raise DataError(f"calibration {path} is missing", fix=REGENERATE)
    try:
        calib = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise DataError(f"cannot read calibration {path}", why=str(exc), fix=REGENERATE) from None
    if not isinstance(calib, dict):
        raise DataError(f"calibration {path} is not a JSON object", fix=REGENERATE)
    K = _matrix(calib.get("K"), (3, 3))
    if K is None:
        raise DataError(f"calibration {path} has no valid 'K' (3x3 numbers)", fix=REGENERATE)
    views = calib.get("views", [])
    if not isinstance(views, list):
        raise DataError(f"calibration {path}: 'views' must be a list", fix=REGENERATE)
    parsed = []
    for k, view in enumerate(views):
        T = _matrix(view.get("T") if isinstance(view, dict) else None, (4, 4))
        if T is None or not isinstance(view.get("file"), str):
            raise DataError(f"calibration {path}: view {k} needs 'file' and a 4x4 'T'", fix=REGENERATE)
        parsed.append({"file": view["file"], "kind": str(view.get("kind", "stereo")), "T": T})
    complexity = calib.get("complexity", 0.0)
    if not isinstance(complexity, (int, float)):
        raise DataError(f"calibration {path}: 'complexity' must be a number", fix=REGENERATE)
    return {"K": K, "views": parsed, "complexity": float(complexity), "name": str(calib.get("name", "")),
            "domain": str(calib.get("domain", ""))}


def _domain_root(root: Path, meta: dict, domain: Optional[str]) -> Path:
    domains = meta["domains"]
    if domain is None:
        if len(domains) == 1:
            return root / domains[0]
        raise DataError(f"{root} holds several domains ({', '.join(domains)})",
                        fix=f"pass domain= one of them, or point at {root / domains[0]}")
    if domain not in domains:
        raise DataError(f"{root} has no domain {domain!r}", fix=f"use one of {', '.join(domains)}")
    return root / domain


class FolderDataset(Dataset):
    """Samples read back from a folder written by :func:`write_dataset` (exact up to 8/16-bit quantisation)."""

    def __init__(self, root: PathLike, *, domain: Optional[str] = None):
        root = Path(root)
        meta = read_meta(root)
        if "domains" in meta:
            root = _domain_root(root, meta, domain)
            meta = read_meta(root)
        elif domain is not None and meta.get("domain") != domain:
            raise DataError(f"{root} holds domain {meta.get('domain')!r}, not {domain!r}",
                            fix="pass the folder of the domain you want, or domain=None")
        self.root, self.meta = root, meta
        self.size = tuple(meta["size"])
        self.domain = str(meta.get("domain", ""))

    def __len__(self) -> int:
        return int(self.meta["count"])

    def _rgb(self, path: Path, what: str) -> torch.Tensor:
        array = _read_png(path, what)
        if array.ndim != 3 or array.shape[2] != 3:
            raise DataError(f"{what} {path} is not an RGB image", fix=REGENERATE)
        self._check_size(path, array, what)
        return torch.from_numpy(array.copy()).permute(2, 0, 1).float().div_(255.0)

    def _check_size(self, path: Path, array: np.ndarray, what: str) -> None:
        if tuple(array.shape[:2]) != self.size:
            h, w = self.size
            raise DataError(f"{what} {path} is {array.shape[0]}x{array.shape[1]}, the dataset is {h}x{w}",
                            fix=REGENERATE)

    def __getitem__(self, index: int) -> Sample:
        if not -len(self) <= index < len(self):
            raise IndexError(f"sample {index} out of range for {self.root} ({len(self)} samples)")
        index %= len(self)
        files = sample_files(index, 0)
        calib = _read_calib(self.root / files["calib"])
        image = self._rgb(self.root / files["image"], "image")
        # Every sample of the format has both maps (check_folder says so too): a missing one is damage, and
        # treating it as "no labels" would leave it out of evaluation without a word.
        raw = _read_png(self.root / files["depth"], "depth map")
        self._check_size(self.root / files["depth"], raw, "depth map")
        depth = torch.from_numpy(raw.astype(np.float32) / DEPTH_SCALE)[None]
        raw = _read_png(self.root / files["semantics"], "semantics")
        self._check_size(self.root / files["semantics"], raw, "semantics")
        semantics = torch.from_numpy(raw.astype(np.int64))
        views = [View(image=self._rgb(self.root / v["file"], "view image"), T=torch.from_numpy(v["T"].astype(np.float32)),
                      kind=v["kind"]) for v in calib["views"]]
        return Sample(image=image, K=torch.from_numpy(calib["K"].astype(np.float32)), views=views, depth=depth,
                      semantics=semantics, complexity=calib["complexity"], domain=calib["domain"] or self.domain,
                      name=calib["name"] or f"{self.domain}_{index:06d}")


# -- check -------------------------------------------------------------------------------------------------

_PNG_MODES = {"image": ("RGB",), "depth": ("I;16", "I;16B", "I", "I;16L"), "semantics": ("L",)}
_VALID_TRAIN_IDS = set(range(19)) | {IGNORE_INDEX}


def _check_png(path: Path, what: str, size: tuple[int, int], modes: tuple[str, ...]) -> tuple[list[str], Optional[Image.Image]]:
    """Problems with one PNG (missing, unreadable, wrong mode, wrong size) and the decoded image if readable."""
    h, w = size
    if not path.is_file():
        return [f"{path}: {what} is missing; fix: {REGENERATE}"], None
    try:
        image = _load_png(path)
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
        calib = _read_calib(root / files["calib"])
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


def count_samples(root: PathLike) -> int:
    """Number of samples in a synth folder (all domains together)."""
    meta = read_meta(root)
    if "domains" in meta:
        return sum(count_samples(Path(root) / d) for d in meta["domains"])
    return int(meta["count"])


@register_dataset("folder", reads_folder=True)
def _build_folder(options: DatasetOptions) -> FolderDataset:
    return FolderDataset(options.root)
