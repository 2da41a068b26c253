"""Argument types shared by several commands."""
from __future__ import annotations

import argparse


def parse_size(text: str) -> tuple[int, int]:
    """'96x320' -> (96, 320); anything else is an argparse error that shows an example."""
    parts = text.lower().split("x")
    try:
        h, w = (int(v) for v in parts)
    except ValueError:
        raise argparse.ArgumentTypeError(f"size {text!r} is not HxW (two integers), e.g. 96x320") from None
    if h < 8 or w < 8:
        raise argparse.ArgumentTypeError(f"size {text!r} is too small: height and width must be at least 8")
    return h, w
