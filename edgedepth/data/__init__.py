"""Datasets: the built-in synthetic two-domain world and loaders for KITTI, Virtual KITTI 2 and Cityscapes.

Every name here is loaded on first use, by name: importing a numpy module of this package (the
renderer ``synthetic_world``, the folder format ``folder_format``) does not import torch, so the
deploy half can use them; ``Sample``, the datasets and the registry need torch.
"""
from __future__ import annotations

import importlib

_LAZY = {
    "IGNORE_INDEX": "sample", "Sample": "sample", "View": "sample", "collate_samples": "sample",
    "SyntheticWorld": "synthetic",
    **dict.fromkeys(("build_dataset", "check_dataset", "detect_format", "dataset_names", "register_dataset",
                     "resolve_dataset_name"), "registry"),
}
__all__ = list(_LAZY)


def __getattr__(name):
    if name in _LAZY:
        return getattr(importlib.import_module(f"edgedepth.data.{_LAZY[name]}"), name)
    raise AttributeError(f"module 'edgedepth.data' has no attribute {name!r}")
