"""A read-only folder that stays read-only for root too: CI runs as root, where chmod 555 stops no write."""
from __future__ import annotations

import builtins
import errno
import os
from pathlib import Path

import pytest

_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT


def make_read_only(monkeypatch: pytest.MonkeyPatch, folder: str | os.PathLike) -> Path:
    """Make every file creation or write under ``folder`` (through Python) fail with EACCES, as for a user
    without write permission. ``folder`` is created first."""
    folder = Path(folder).resolve()
    folder.mkdir(parents=True, exist_ok=True)

    def inside(path) -> bool:
        try:
            return Path(os.path.abspath(os.fspath(path))).resolve().is_relative_to(folder)
        except TypeError:  # a file descriptor, not a path
            return False

    def refuse(path):
        raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), os.fspath(path))

    real_open, real_mkdir, real_builtin_open = os.open, os.mkdir, builtins.open

    def guarded_open(path, flags, *args, **kwargs):
        if flags & _WRITE_FLAGS and inside(path):
            refuse(path)
        return real_open(path, flags, *args, **kwargs)

    def guarded_mkdir(path, *args, **kwargs):
        if inside(path) and Path(os.fspath(path)).resolve() != folder:
            refuse(path)
        return real_mkdir(path, *args, **kwargs)

    def guarded_builtin_open(file, mode="r", *args, **kwargs):
        if any(c in mode for c in "wax+") and not isinstance(file, int) and inside(file):
            refuse(file)
        return real_builtin_open(file, mode, *args, **kwargs)

    monkeypatch.setattr(os, "open", guarded_open)
    monkeypatch.setattr(os, "mkdir", guarded_mkdir)
    monkeypatch.setattr(builtins, "open", guarded_builtin_open)
    return folder
