"""Entry point of the `edgedepth` command: parses arguments and turns our errors into messages."""
from __future__ import annotations

import argparse
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


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        code = args.func(args)
    except EdgedepthError as e:
        print(f"edgedepth {args.command}: error: {e.message()}", file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt:
        print(f"edgedepth {args.command}: interrupted", file=sys.stderr)
        return 130
    return int(code or 0)


if __name__ == "__main__":
    sys.exit(main())
