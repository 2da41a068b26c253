"""Atomic file writes and output folders: a reader never sees a half-written checkpoint, engine or result,
and a new run never mixes its files with an old run's or silently replaces another writer's."""
from __future__ import annotations

import contextlib
import fnmatch
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import IO, Any, Iterator, Sequence

from edgedepth.errors import EdgedepthError

TEMP_SUFFIX = ".tmp"


def _naming(error: OSError, path: Path) -> OSError:
    """``error`` re-raised about ``path``, the file the user asked for, not our hidden temporary name."""
    return type(error)(error.errno, error.strerror, str(path))


@contextlib.contextmanager
def atomic_open(path: str | os.PathLike, mode: str = "wb", *, durable: bool = True) -> Iterator[IO[Any]]:
    """Open a temporary file next to ``path``; on success fsync it (unless not ``durable``) and rename it over ``path``.

    A reader never sees a partial file either way; ``durable`` also survives a power cut, for a checkpoint
    or an engine, at the price of an fsync (per-frame camera outputs skip it: one fsync per frame cost the
    camera path more than the engine). The temporary file is ``.NAME.<random>.tmp``: :func:`remove_stale_temps`
    finds the ones a killed process left behind."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=TEMP_SUFFIX, dir=path.parent)
    except OSError as e:
        raise _naming(e, path) from None
    try:
        with os.fdopen(fd, mode) as f:
            yield f
            f.flush()
            if durable:
                os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def atomic_write_bytes(path: str | os.PathLike, data: bytes, *, durable: bool = True) -> None:
    with atomic_open(path, "wb", durable=durable) as f:
        f.write(data)


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    with atomic_open(path, "w") as f:
        f.write(text)


def write_json(path: str | os.PathLike, obj: Any) -> None:
    atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=False) + "\n")


def remove_stale_temps(folder: str | os.PathLike, names: Sequence[str]) -> list[Path]:
    """Delete the temporary files that :func:`atomic_open` left for ``names`` (file names or glob patterns)
    in ``folder`` when its process was killed mid-write (the rename never happened); returns them. Call
    it only where no other process is writing those names."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    stale = [p for name in names for p in folder.glob(f".{name}.*{TEMP_SUFFIX}") if p.is_file()]
    for path in stale:
        path.unlink(missing_ok=True)
    return stale


def ensure_writable_dir(path: str | os.PathLike, *, what: str = "output folder") -> Path:
    """Create ``path`` if needed and prove a file can be written there, before any work starts."""
    path = Path(path)
    try:
        if path.exists() and not path.is_dir():
            raise NotADirectoryError(f"{path} is a file")
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=path):
            pass
    except OSError as e:
        raise EdgedepthError(f"cannot write to the {what} {path}", why=str(e),
                             fix="choose a folder you can write to, or fix its permissions") from e
    return path


def ensure_writable_file(path: str | os.PathLike, *, what: str = "output file") -> Path:
    """Check before any work that ``path`` can be written: not a folder, and its folder writable."""
    path = Path(path)
    if path.is_dir():
        raise EdgedepthError(f"the {what} {path} is a folder", fix="pass a file name")
    ensure_writable_dir(path.parent, what=f"folder of the {what} {path}")
    return path


def _remove(entry: Path) -> None:
    if entry.is_dir() and not entry.is_symlink():
        shutil.rmtree(entry)
    else:
        entry.unlink()


def claim_output_dir(path: str | os.PathLike, *, owned: Sequence[str], overwrite: bool, what: str = "output folder",
                     fix: str = "choose a new or empty folder, or pass --overwrite to replace the previous run's outputs") -> Path:
    """Make ``path`` the output folder of a new run, so that a new run never mixes its files with an old one's.

    An empty or new folder is used as it is. A folder that holds anything is refused unless
    ``overwrite``; then the entries matching ``owned`` (glob patterns of what this command writes) are
    removed. Anything else in it is refused even with ``overwrite``: a user's own files are never
    deleted, nor mixed with ours."""
    path = ensure_writable_dir(path, what=what)
    entries = sorted(path.iterdir())
    if not entries:
        return path
    foreign = [e.name for e in entries if not any(fnmatch.fnmatch(e.name, pattern) for pattern in owned)]
    shown = ", ".join(e.name for e in entries[:4]) + (", ..." if len(entries) > 4 else "")
    if foreign and overwrite:
        raise EdgedepthError(f"the {what} {path} holds files this command did not write: {', '.join(foreign[:4])}",
                             why="--overwrite removes only a previous run's outputs, never other files",
                             fix="choose another folder, or move those files away")
    if not overwrite:
        raise EdgedepthError(f"the {what} {path} is not empty ({shown})",
                             why="a new run would replace some of its files and leave the others beside its own",
                             fix=fix)
    for entry in entries:
        _remove(entry)
    return path


@contextlib.contextmanager
def exclusive_output(path: str | os.PathLike, *, what: str = "file") -> Iterator[Path]:
    """Hold an advisory lock on writing ``path`` (``.NAME.lock`` next to it) for as long as the block runs.

    A second edgedepth process that writes the same file stops at once with an error, instead of both
    reporting a file that only one of them wrote. The lock dies with its process, so a killed writer
    never blocks the next one. Without ``fcntl`` (Windows) the block runs unlocked."""
    try:
        import fcntl
    except ImportError:
        yield Path(path)
        return
    path = Path(path)
    lock = path.with_name(f".{path.name}.lock")
    while True:
        fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise EdgedepthError(f"another process is writing the {what} {path}",
                                 why="two writers of one file would both report it as theirs, and one would be lost",
                                 fix="wait until the other command has finished, or pass another --out") from None
        # The previous holder unlinks the lock file before closing it: a lock on that old file is no lock.
        with contextlib.suppress(FileNotFoundError):
            if os.stat(lock).st_ino == os.fstat(fd).st_ino:
                break
        os.close(fd)
    try:
        yield path
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(lock)
        os.close(fd)
