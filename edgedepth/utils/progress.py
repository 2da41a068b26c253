"""tqdm progress bars that a test run or a log file can switch off (EDGEDEPTH_NO_PROGRESS=1)."""
from __future__ import annotations

import os
import sys

from tqdm.auto import tqdm


def progress_enabled() -> bool:
    return os.environ.get("EDGEDEPTH_NO_PROGRESS", "") not in ("1", "true", "yes")


def progress_bar(iterable=None, *, disable: bool = False, **kwargs):
    return tqdm(iterable, disable=disable or not progress_enabled(), file=sys.stderr, dynamic_ncols=True, **kwargs)
