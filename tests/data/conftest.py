"""Fixtures: tiny KITTI raw, Virtual KITTI 2 and Cityscapes trees in tmp_path (see helpers/realdata.py)."""
from pathlib import Path
from types import SimpleNamespace

import pytest
from helpers.realdata import KITTI_DRIVE, write_cityscapes, write_kitti, write_vkitti2


@pytest.fixture
def kitti(tmp_path: Path) -> SimpleNamespace:
    ns = write_kitti(tmp_path / "kitti")
    ns.split = tmp_path / "split.txt"
    ns.split.write_text(f"{KITTI_DRIVE} 0000000001 l\n{KITTI_DRIVE} 0000000001 r\n")
    return ns


@pytest.fixture
def vkitti2(tmp_path: Path) -> SimpleNamespace:
    return write_vkitti2(tmp_path / "vkitti2")


@pytest.fixture
def cityscapes(tmp_path: Path) -> SimpleNamespace:
    return write_cityscapes(tmp_path / "cityscapes")

