"""Entry point of the `edgedepth` command: parses arguments and turns our errors into messages."""
from __future__ import annotations

import argparse
import errno
import importlib
import sys

from edgedepth import __version__
from edgedepth.errors import EdgedepthError

# Each module defines register(subparsers) that adds its parser and sets `func(args) -> int | None`.
COMMAND_MODULES = ["data", "train", "eval", "export", "engine", "bench", "infer", "demo", "info"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="edgedepth",
        description="Train domain-adaptive monocular depth networks and ship them to edge GPUs.",
    )
    parser.add_argument("--version", action="version", version=f"edgedepth {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(f"edgedepth.cli.{name}").register(sub)
    return parser


# What to do about the usual reasons a file or folder cannot be written or read.
FILE_FIXES = {
    errno.EACCES: "choose a folder you can write to (or read from), or fix its permissions",
    errno.EPERM: "choose a folder you can write to (or read from), or fix its permissions",
    errno.EROFS: "the file system is read-only: choose a folder on a writable disk",
    errno.ENOSPC: "free some disk space, or write to another disk",
    errno.ENOENT: "check the path: a folder on it does not exist",
    errno.ENOTDIR: "check the path: a part of it is a file, not a folder",
    errno.EISDIR: "pass a file name, not a folder",
}


def file_error(e: OSError) -> EdgedepthError:
    """An OSError about a user's path as our what / why / fix, for every command in one place."""
    return EdgedepthError(f"cannot use {e.filename}", why=e.strerror or type(e).__name__,
                          fix=FILE_FIXES.get(e.errno, "check the path, its permissions and the free disk space"))


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        code = args.func(args)
    except (EdgedepthError, OSError) as e:
        if not isinstance(e, EdgedepthError) and e.filename is None:
            raise  # an OSError about no path the user gave is a bug or a broken machine: keep its traceback
        error = e if isinstance(e, EdgedepthError) else file_error(e)
        print(f"edgedepth {args.command}: error: {error.message()}", file=sys.stderr)
        return error.exit_code
    except KeyboardInterrupt:
        print(f"edgedepth {args.command}: interrupted", file=sys.stderr)
        return 130
    return int(code or 0)


if __name__ == "__main__":
    sys.exit(main())
