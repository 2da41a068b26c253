"""The datasets a training run reads (labelled source, unlabelled target with complexity, target test)
and how their batches reach the training device."""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Optional

import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from edgedepth.config import Config
from edgedepth.errors import DataError

# Synthetic test samples come from a disjoint seed range, so no test layout was trained on.
TEST_SEED_OFFSET = 1_000_003
PREFETCH_BATCHES = 4  # per loader worker: hides a slow file read or decode behind a few steps
MAX_AUTO_WORKERS = 4


@dataclass
class TrainData:
    source: Dataset
    target: Dataset
    target_complexity: list[float]
    test: Optional[Dataset]


def dataset_for(cfg: Config, which: str, split: str) -> Dataset:
    """``which`` is "source" or "target"; "synthetic" is the built-in world of that domain.

    The synthetic training split is read from the render cache when ``data.cache`` is on; the test
    split is rendered on the fly, so that training's evaluation and ``edgedepth eval`` see the
    same images.
    """
    from edgedepth.data.registry import build_dataset, resolve_dataset_name

    d = cfg.data
    name = resolve_dataset_name(getattr(d, which), which)
    root = getattr(d, f"{which}_root")
    seed = d.seed + (TEST_SEED_OFFSET if split == "test" else 0)
    length = d.test_length if split == "test" else d.train_length
    split_file = d.test_split_file if split == "test" else d.split_file
    return build_dataset(
        name, root=root, split=split, size=tuple(d.size), length=length, seed=seed, views=d.views,
        split_file=split_file if which == "target" else None, cache=d.cache and split == "train", cache_dir=d.cache_dir,
    )


def complexity_of(dataset: Dataset) -> list[float]:
    """Per-sample complexity; cheap when the dataset can report it without rendering."""
    fast = getattr(dataset, "complexities", None)
    if callable(fast):
        return [float(c) for c in fast()]
    return [float(dataset[i].complexity) for i in range(len(dataset))]


def build_train_data(cfg: Config, *, with_test: bool) -> TrainData:
    source = dataset_for(cfg, "source", "train")
    target = dataset_for(cfg, "target", "train")
    complexity = complexity_of(target) if cfg.curriculum.enabled else [0.0] * len(target)
    test = dataset_for(cfg, "target", "test") if with_test else None
    return TrainData(source=source, target=target, target_complexity=complexity, test=test)


def check_labelled_source(source: Dataset, cfg: Config, probe: int = 8) -> None:
    """Refuse to train when the source domain has no depth labels (the supervised loss would be empty)."""
    if cfg.loss.depth <= 0:
        return
    n = min(probe, len(source))
    for i in range(n):
        depth = source[i].depth
        if depth is not None and bool((depth > 0).any()):
            return
    raise DataError(
        f"the source dataset '{cfg.data.source}' has no labelled depth pixels in its first {n} samples",
        why="supervised depth needs ground truth on the source domain (vKITTI2 or the synthetic source world)",
        fix="point data.source/data.source_root at a dataset with depth, or set loss.depth=0 to train without labels",
    )


# ---------------------------------------------------------------- loading


def pinned_transfers(device: torch.device) -> bool:
    """Whether host batches should be page-locked: only then is a copy to a GPU asynchronous (a copy
    from pageable memory waits for the GPU's queue). False on a CPU and under tests' fake CUDA device."""
    accelerator = getattr(torch, "accelerator", None)
    available = accelerator.is_available() if accelerator is not None else torch.cuda.is_available()
    return device.type == "cuda" and available


def to_device(t: torch.Tensor, device: torch.device) -> torch.Tensor:
    """``t`` on ``device`` without waiting for the GPU (pinned, non-blocking where that helps)."""
    if t.device == device:
        return t
    if pinned_transfers(device) and not t.is_pinned():
        t = t.pin_memory()
    return t.to(device, non_blocking=True)


def batch_to_device(batch: dict[str, torch.Tensor], device: torch.device) -> dict[str, torch.Tensor]:
    """A loader's batch on ``device``, as ``collate_samples`` describes it: 8-bit images (the render
    cache's) become float32 in [0, 1] and 8-bit labels int64, on the device, after the smaller copy."""
    out = {}
    for key, value in batch.items():
        value = to_device(value, device)
        if value.dtype == torch.uint8:
            value = value.float().div_(255.0) if key in ("image", "views_image") else value.long()
        out[key] = value
    return out


class _BatchFetcher(Dataset):
    """Hands a whole list of indices to ``dataset.load_batch``: one gather per batch, no per-sample objects."""

    def __init__(self, dataset: Dataset):
        self.dataset = dataset

    def __getitem__(self, indices: list[int]) -> dict[str, torch.Tensor]:
        return self.dataset.load_batch(indices)


def _unchanged(batch):
    return batch


def auto_workers(dataset: Dataset) -> int:
    """Loader processes when ``data.num_workers`` is unset: none for a dataset that gathers whole
    batches from memory (the render cache; a worker would only add a copy between processes), up to
    four for datasets that decode files, leaving the cores to the training step otherwise."""
    if hasattr(dataset, "load_batch"):
        return 0
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return min(MAX_AUTO_WORKERS, max(0, cpus - 1))


def make_loader(dataset: Dataset, batches: Sampler[list[int]], *, device: torch.device,
                num_workers: Optional[int]) -> DataLoader:
    """A loader of collated batches drawn by ``batches``: pinned for a GPU, persistent prefetching workers."""
    from edgedepth.data import collate_samples

    workers = auto_workers(dataset) if num_workers is None else num_workers
    options = dict(num_workers=workers, pin_memory=pinned_transfers(device))
    if workers > 0:
        options.update(persistent_workers=True, prefetch_factor=PREFETCH_BATCHES)
    if hasattr(dataset, "load_batch"):
        return DataLoader(_BatchFetcher(dataset), sampler=batches, batch_size=None, collate_fn=_unchanged, **options)
    return DataLoader(dataset, batch_sampler=batches, collate_fn=collate_samples, **options)
