"""Datasets: the built-in synthetic two-domain world and loaders for KITTI, Virtual KITTI 2 and Cityscapes."""
from edgedepth.data.sample import IGNORE_INDEX, Sample, View, collate_samples

__all__ = ["IGNORE_INDEX", "Sample", "View", "collate_samples", "SyntheticWorld"]


def __getattr__(name):
    if name == "SyntheticWorld":
        from edgedepth.data.synthetic import SyntheticWorld

        return SyntheticWorld
    raise AttributeError(name)
