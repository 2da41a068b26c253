"""Image folders for the infer tests."""
from __future__ import annotations

from pathlib import Path

import numpy as np


def folder_with_a_truncated_jpeg(folder: Path, size: tuple[int, int] = (40, 70)) -> Path:
    """``folder`` with 0.jpg, 1.jpg, 2.jpg of random pixels at ``size`` (H, W); 1.jpg cut to half its bytes."""
    import cv2

    folder.mkdir()
    for i in range(3):
        cv2.imwrite(str(folder / f"{i}.jpg"), np.random.default_rng(i).integers(0, 255, (*size, 3), dtype=np.uint8))
    cut = folder / "1.jpg"
    cut.write_bytes(cut.read_bytes()[: len(cut.read_bytes()) // 2])
    return folder
