"""The render cache: the synthetic world rendered once, in parallel, into memory-mapped arrays.

Training (``data.cache``, on by default) and ``edgedepth data synth`` fill it on first use and read
it afterwards, so no training step waits for the numpy renderer. Layout, under the cache folder
(:func:`cache_root`)::

    render/<domain>-seed<S>-<H>x<W>-<views>-<renderer>/   one folder per key
        .lock                                           held while a store of this key is rendered
        n000512/                                        a complete store of samples 0..511
            meta.json  image.npy  views_image.npy  views_T.npy  depth.npy  semantics.npy  K.npy  complexity.npy

The key is (domain, seed, size, views, renderer version). The renderer version hashes the source
of every module that decides a pixel and the numpy version (whose random distributions may change
between releases), so editing the renderer invalidates every store it wrote. Sample ``i`` depends
only on (seed, domain, i), so a store of N samples serves any length <= N; a longer request renders
a larger store that copies the samples already rendered, and the smaller store is removed.

Images are stored as 8-bit RGB, quantised exactly as the folder format's PNGs (so ``data synth
--out`` writes the same files as before); depth, K, poses and complexity keep float precision.
A store is written into a temporary folder and renamed into place after every array is flushed
and ``meta.json`` written: a killed render never leaves a store that looks complete.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import multiprocessing
import os
import re
import secrets
import shutil
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Iterator, Optional, Sequence

import numpy as np
import torch
from torch.utils.data import Dataset

from edgedepth.data.folder import to_uint8
from edgedepth.data.sample import Sample, View
from edgedepth.data.synthetic import VIEW_SETS, SyntheticWorld
from edgedepth.errors import DataError
from edgedepth.utils.io import atomic_write_text
from edgedepth.utils.progress import progress_bar

log = logging.getLogger("edgedepth.data")

CACHE_ENV = "EDGEDEPTH_CACHE_DIR"
STORE_FORMAT = 1  # bump when the arrays or meta.json change shape or meaning
# Every module whose code decides a rendered value (tests/data/test_render_cache.py checks the list).
RENDERER_MODULES = ("synthetic", "synthetic_world", "synthetic_render", "synthetic_scene", "synthetic_style")
CHUNK = 16  # samples per task: small enough for a smooth progress bar, large enough to amortise a task
_STORE_NAME = re.compile(r"n(\d{6,})$")


def cache_root(configured: Optional[str | os.PathLike] = None) -> Path:
    """``configured`` (data.cache_dir), else $EDGEDEPTH_CACHE_DIR, else $XDG_CACHE_HOME/edgedepth, else ~/.cache/edgedepth."""
    if configured:
        return Path(configured).expanduser()
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV]).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "edgedepth"


def renderer_files() -> list[Path]:
    return [Path(__file__).with_name(f"{module}.py") for module in RENDERER_MODULES]


def renderer_version(files: Optional[Sequence[Path]] = None) -> str:
    """A hash of the renderer's source files (default :func:`renderer_files`), numpy's version and the store format."""
    digest = hashlib.sha256(f"store-format {STORE_FORMAT}; numpy {np.__version__}".encode())
    for path in files if files is not None else renderer_files():
        digest.update(path.name.encode() + b"\0" + Path(path).read_bytes() + b"\0")
    return digest.hexdigest()[:16]


@dataclass(frozen=True)
class StoreKey:
    domain: str
    seed: int
    size: tuple[int, int]
    views: str
    renderer: str

    @property
    def folder_name(self) -> str:
        h, w = self.size
        return f"{self.domain}-seed{self.seed}-{h}x{w}-{self.views}-{self.renderer}"

    def world(self, length: int) -> SyntheticWorld:
        return SyntheticWorld(domain=self.domain, size=self.size, length=length, seed=self.seed, views=self.views)

    def as_json(self) -> dict:
        return {**asdict(self), "size": list(self.size)}


def _shapes(key: StoreKey, count: int) -> dict[str, tuple[tuple[int, ...], str]]:
    """(shape, dtype) of every array of a store; views_* only when the key has neighbour views."""
    h, w = key.size
    n_views = len(VIEW_SETS[key.views])
    shapes = {
        "image": ((count, 3, h, w), "uint8"),
        "depth": ((count, 1, h, w), "float32"),
        "semantics": ((count, h, w), "uint8"),
        "K": ((count, 3, 3), "float32"),
        "complexity": ((count,), "float64"),
    }
    if n_views:
        shapes["views_image"] = ((count, n_views, 3, h, w), "uint8")
        shapes["views_T"] = ((count, n_views, 4, 4), "float32")
    return shapes


def _open_arrays(store: Path, mode: str) -> dict[str, np.ndarray]:
    return {path.stem: np.load(path, mmap_mode=mode) for path in sorted(store.glob("*.npy"))}


def _valid_store(store: Path, key: StoreKey) -> Optional[int]:
    """The sample count of a complete store of ``key``, or None when it is incomplete, foreign or damaged."""
    try:
        meta = json.loads((store / "meta.json").read_text())
        count = int(meta["count"])
        if meta.get("format") != STORE_FORMAT or meta.get("key") != key.as_json():
            return None
        arrays = _open_arrays(store, "r")
        expected = _shapes(key, count)
        if set(arrays) != set(expected):
            return None
        if any(arrays[name].shape != shape or arrays[name].dtype != dtype for name, (shape, dtype) in expected.items()):
            return None
        return count
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _stores(key_dir: Path, key: StoreKey) -> list[tuple[int, Path]]:
    """(count, folder) of every complete store of ``key``, smallest first."""
    found = []
    for path in key_dir.glob("n*") if key_dir.is_dir() else []:
        if _STORE_NAME.fullmatch(path.name) and (count := _valid_store(path, key)) is not None:
            found.append((count, path))
    return sorted(found)


@contextlib.contextmanager
def _exclusive(key_dir: Path) -> Iterator[None]:
    """One process renders a key at a time (the others wait, then read its store). Without fcntl
    (Windows) nothing is locked: two renders then race, and the atomic rename keeps one store."""
    key_dir.mkdir(parents=True, exist_ok=True)
    try:
        import fcntl
    except ImportError:
        yield
        return
    with open(key_dir / ".lock", "a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            log.info("waiting for another process that renders %s", key_dir)
            fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _write_sample(arrays: dict[str, np.ndarray], index: int, sample: Sample) -> None:
    arrays["image"][index] = to_uint8(sample.image.numpy())
    arrays["depth"][index] = sample.depth.numpy()
    arrays["semantics"][index] = sample.semantics.numpy()
    arrays["K"][index] = sample.K.numpy()
    arrays["complexity"][index] = sample.complexity
    for k, view in enumerate(sample.views):
        arrays["views_image"][index, k] = to_uint8(view.image.numpy())
        arrays["views_T"][index, k] = view.T.numpy()


def _render_range(key: StoreKey, store: str, start: int, stop: int) -> int:
    """Render samples [start, stop) into the arrays of ``store`` (run in a worker process)."""
    world = key.world(length=stop)
    arrays = _open_arrays(Path(store), "r+")
    for index in range(start, stop):
        _write_sample(arrays, index, world[index])
    for array in arrays.values():
        array.flush()
    return stop - start


def default_workers() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def _pool_context():
    # fork where there is one (Linux): workers start at once and need no __main__ guard in the
    # user's script; they run numpy only. Elsewhere spawn, the only start method there.
    methods = multiprocessing.get_all_start_methods()
    return multiprocessing.get_context("fork" if "fork" in methods else "spawn")


def _render_all(key: StoreKey, store: Path, start: int, count: int, *, workers: int, progress: bool) -> None:
    """Fill samples [start, count) of ``store``: in ``workers`` processes, or here when one is enough."""
    chunks = [(i, min(i + CHUNK, count)) for i in range(start, count, CHUNK)]
    workers = max(1, min(workers, len(chunks)))
    bar = progress_bar(total=count - start, desc=f"rendering {key.domain} {key.size[0]}x{key.size[1]}", unit="sample",
                       disable=not progress)
    try:
        if workers == 1:
            for begin, end in chunks:
                bar.update(_render_range(key, str(store), begin, end))
            return
        with ProcessPoolExecutor(max_workers=workers, mp_context=_pool_context()) as pool:
            futures = [pool.submit(_render_range, key, str(store), begin, end) for begin, end in chunks]
            try:
                for future in as_completed(futures):
                    bar.update(future.result())
            except BaseException:
                for future in futures:
                    future.cancel()
                raise
    finally:
        bar.close()


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_dir(path: Path) -> None:
    """Make a rename in ``path`` durable where the platform can (not on Windows or some network file systems);
    a killed process never sees a half-renamed folder either way, only a power cut could."""
    with contextlib.suppress(OSError):
        _fsync(path)


def _build_store(key: StoreKey, key_dir: Path, count: int, reuse: Optional[tuple[int, Path]], *, workers: int,
                 progress: bool) -> Path:
    """Render a store of ``count`` samples (copying the ``reuse`` store's samples) and rename it into place."""
    tmp = key_dir / f".tmp-{os.getpid()}-{secrets.token_hex(4)}"
    tmp.mkdir()
    try:
        arrays = {name: np.lib.format.open_memmap(tmp / f"{name}.npy", mode="w+", dtype=dtype, shape=shape)
                  for name, (shape, dtype) in _shapes(key, count).items()}
        start = 0
        if reuse is not None:
            start, old = reuse
            for name, array in _open_arrays(old, "r").items():
                arrays[name][:start] = array
        for array in arrays.values():
            array.flush()
        del arrays
        _render_all(key, tmp, start, count, workers=workers, progress=progress)
        for path in tmp.glob("*.npy"):
            _fsync(path)
        meta = {"format": STORE_FORMAT, "key": key.as_json(), "count": count,
                "view_kinds": ["stereo" if name == "stereo" else "temporal" for name in VIEW_SETS[key.views]]}
        atomic_write_text(tmp / "meta.json", json.dumps(meta, indent=2) + "\n")
        final = key_dir / f"n{count:06d}"
        os.rename(tmp, final)
        _fsync_dir(key_dir)
        return final
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def ensure_store(key: StoreKey, length: int, *, root: Optional[str | os.PathLike] = None, workers: Optional[int] = None,
                 progress: bool = True) -> Path:
    """The folder of a complete store of ``key`` with at least ``length`` samples, rendered if needed."""
    key_dir = cache_root(root) / "render" / key.folder_name
    for count, path in _stores(key_dir, key):
        if count >= length:
            return path
    try:
        with _exclusive(key_dir):
            stores = _stores(key_dir, key)  # another process may have rendered it while we waited
            for count, path in stores:
                if count >= length:
                    return path
            valid = {path for _, path in stores}
            for stale in [*key_dir.glob(".tmp-*"), *key_dir.glob("n*")]:  # a killed render's, or damaged (we hold the lock)
                if stale not in valid:
                    shutil.rmtree(stale, ignore_errors=True)
            store = _build_store(key, key_dir, length, stores[-1] if stores else None,
                                 workers=workers or default_workers(), progress=progress)
            for _, smaller in stores:  # open memory maps of them stay valid until closed (POSIX)
                shutil.rmtree(smaller, ignore_errors=True)
            return store
    except OSError as e:
        raise DataError(f"cannot write the render cache in {key_dir}", why=str(e),
                        fix=f"free disk space, set data.cache_dir (or ${CACHE_ENV}) to a writable folder, "
                        "or set data.cache=false to render on the fly") from e


class RenderedWorld(Dataset):
    """The first ``length`` samples of a store, as :class:`Sample` items or as whole batches.

    ``load_batch(indices)`` gathers a batch straight from the memory maps, with the keys of
    ``collate_samples`` but ``image``/``views_image`` and ``semantics`` as uint8 (a quarter and an
    eighth of the bytes to move; ``edgedepth.train.data.batch_to_device`` turns them into floats
    and int64 on the training device). Items equal :class:`SyntheticWorld`'s up to the 8-bit
    quantisation of the images (at most 0.5/255).
    """

    def __init__(self, store: str | os.PathLike, length: Optional[int] = None):
        self.store = Path(store)
        meta = json.loads((self.store / "meta.json").read_text())
        key = meta["key"]
        self.domain, self.seed, self.views = key["domain"], int(key["seed"]), key["views"]
        self.size = (int(key["size"][0]), int(key["size"][1]))
        self.view_kinds = list(meta["view_kinds"])
        count = int(meta["count"])
        self.length = count if length is None else int(length)
        if not 0 <= self.length <= count:
            raise ValueError(f"length {self.length} is outside the {count} samples of store {self.store}")
        # Mapped now: a store is never changed, and an open map outlives a store removed after
        # another process grew it (POSIX), so later reads cannot fail.
        self._arrays: Optional[dict[str, np.ndarray]] = _open_arrays(self.store, "r")

    def __getstate__(self) -> dict:
        # DataLoader workers started by spawn get the path and reopen the maps, not a copy of the data.
        return {**self.__dict__, "_arrays": None}

    @property
    def arrays(self) -> dict[str, np.ndarray]:
        if self._arrays is None:
            self._arrays = _open_arrays(self.store, "r")
        return self._arrays

    def __len__(self) -> int:
        return self.length

    def complexities(self) -> list[float]:
        return [float(c) for c in self.arrays["complexity"][: self.length]]

    def load_batch(self, indices: Sequence[int]) -> dict[str, torch.Tensor]:
        index = np.asarray(indices, dtype=np.int64)
        if index.size and (index.min() < -self.length or index.max() >= self.length):
            raise IndexError(f"sample index out of range for a store view of length {self.length}")
        index %= max(self.length, 1)
        batch = {name: torch.from_numpy(np.ascontiguousarray(array[index])) for name, array in self.arrays.items()}
        batch["complexity"] = batch["complexity"].float()
        return batch

    def __getitem__(self, index: int) -> Sample:
        batch = self.load_batch([index])
        index %= self.length
        images = {name: batch[name][0].float().div_(255.0) for name in ("image", "views_image") if name in batch}
        views = [View(image=images["views_image"][k], T=batch["views_T"][0, k], kind=kind)
                 for k, kind in enumerate(self.view_kinds)]
        return Sample(image=images["image"], K=batch["K"][0], views=views, depth=batch["depth"][0],
                      semantics=batch["semantics"][0].long(), complexity=float(self.arrays["complexity"][index]),
                      domain=self.domain, name=f"{self.domain}_{index:06d}")


def cached_world(domain: str, *, size: tuple[int, int], length: int, seed: int = 0, views: str = "stereo",
                 cache_dir: Optional[str | os.PathLike] = None, workers: Optional[int] = None,
                 progress: bool = True) -> Dataset:
    """The synthetic world of ``domain`` read from the render cache (rendered there on first use)."""
    world = SyntheticWorld(domain=domain, size=size, length=length, seed=seed, views=views)  # validates the arguments
    if length == 0:
        return world
    key = StoreKey(domain=world.domain, seed=world.seed, size=world.size, views=world.views, renderer=renderer_version())
    return RenderedWorld(ensure_store(key, length, root=cache_dir, workers=workers, progress=progress), length)

