"""The synth folder format (see docs/data_format.md and ``edgedepth.data.folder``) without torch:
its constants and file names, meta.yaml and calibration readers, and :class:`SynthFolder`, which
reads a sample's image, depth and semantics as numpy arrays (the deploy half's ``bench
--accuracy-data DIR`` uses it; ``edgedepth.data.folder.FolderDataset`` wraps it for training).
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Optional, Union

import numpy as np
import yaml
from PIL import Image

from edgedepth.errors import DataError

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


def load_png(path: Path) -> Image.Image:
    image = Image.open(path)
    image.load()  # decode now so a truncated file fails here
    return image


def _read_png(path: Path, what: str) -> np.ndarray:
    if not path.is_file():
        raise DataError(f"{what} {path} is missing", fix=REGENERATE)
    try:
        return np.asarray(load_png(path))
    except (OSError, ValueError, SyntaxError) as exc:
        raise DataError(f"cannot read {what} {path}", why=str(exc), fix=f"the file is corrupt; {REGENERATE}") from None


def _matrix(value, shape: tuple[int, int]) -> Optional[np.ndarray]:
    try:
        m = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        return None
    return m if m.shape == shape and np.isfinite(m).all() else None


def read_calib(path: Path) -> dict:
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


class SynthFolder:
    """A folder written by ``edgedepth data synth`` (one domain), read as numpy arrays."""

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

    def read_rgb(self, path: Path, what: str) -> np.ndarray:
        """[H,W,3] uint8 of an image of the folder, checked against the folder's size."""
        array = _read_png(path, what)
        if array.ndim != 3 or array.shape[2] != 3:
            raise DataError(f"{what} {path} is not an RGB image", fix=REGENERATE)
        self._check_size(path, array, what)
        return array

    def _check_size(self, path: Path, array: np.ndarray, what: str) -> None:
        if tuple(array.shape[:2]) != self.size:
            h, w = self.size
            raise DataError(f"{what} {path} is {array.shape[0]}x{array.shape[1]}, the dataset is {h}x{w}",
                            fix=REGENERATE)

    def _read_map(self, path: Path, what: str) -> np.ndarray:
        raw = _read_png(path, what)
        self._check_size(path, raw, what)
        return raw

    def read_arrays(self, index: int) -> dict:
        """Sample ``index``: image [H,W,3] uint8, depth [H,W] float32 metres (0 = unknown), semantics [H,W]
        int64 and calib (K, views, complexity, name, domain; see :func:`read_calib`)."""
        if not -len(self) <= index < len(self):
            raise IndexError(f"sample {index} out of range for {self.root} ({len(self)} samples)")
        index %= len(self)
        files = sample_files(index, 0)
        calib = read_calib(self.root / files["calib"])
        image = self.read_rgb(self.root / files["image"], "image")
        # Every sample of the format has both maps (check_folder says so too): a missing one is damage, and
        # treating it as "no labels" would leave it out of evaluation without a word.
        depth = self._read_map(self.root / files["depth"], "depth map").astype(np.float32) / DEPTH_SCALE
        semantics = self._read_map(self.root / files["semantics"], "semantics").astype(np.int64)
        return {"image": image, "depth": depth, "semantics": semantics, "calib": calib, "index": index}


def count_samples(root: PathLike) -> int:
    """Number of samples in a synth folder (all domains together)."""
    meta = read_meta(root)
    if "domains" in meta:
        return sum(count_samples(Path(root) / d) for d in meta["domains"])
    return int(meta["count"])
