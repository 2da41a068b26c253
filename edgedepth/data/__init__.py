"""Datasets: the built-in synthetic two-domain world and loaders for KITTI, Virtual KITTI 2 and Cityscapes."""
from edgedepth.data.sample import IGNORE_INDEX, Sample, View, collate_samples

__all__ = ["IGNORE_INDEX", "Sample", "View", "collate_samples", "SyntheticWorld", "build_dataset", "check_dataset",
           "detect_format", "dataset_names", "register_dataset", "resolve_dataset_name"]
_REGISTRY_NAMES = ("build_dataset", "check_dataset", "detect_format", "dataset_names", "register_dataset", "resolve_dataset_name")


def __getattr__(name):
    # Lazy, so that importing the Sample type does not pull in every loader.
    if name == "SyntheticWorld":
        from edgedepth.data.synthetic import SyntheticWorld

        return SyntheticWorld
    if name in _REGISTRY_NAMES:
        from edgedepth.data import registry

        return getattr(registry, name)
    raise AttributeError(name)
