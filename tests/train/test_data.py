"""What training reads: the synthetic training split from the render cache, the test split rendered;
loaders that hand the step the same batches either way."""
from __future__ import annotations

import torch

from edgedepth.config import load_config
from edgedepth.data import SyntheticWorld, collate_samples
from edgedepth.data.render_cache import RenderedWorld
from edgedepth.train.curriculum import CurriculumBatchSampler
from edgedepth.train.data import batch_to_device, build_train_data, make_loader

TINY = ["data.size=[32,64]", "data.train_length=4", "data.test_length=2", "data.batch_size=2", "curriculum.enabled=true"]


def test_training_reads_the_render_cache_and_evaluates_on_rendered_samples(tmp_path):
    data = build_train_data(load_config(None, TINY + [f"data.cache_dir={tmp_path}"]), with_test=True)
    assert isinstance(data.source, RenderedWorld) and isinstance(data.target, RenderedWorld)
    assert data.source.domain == "source" and data.target.domain == "target"
    assert sorted(p.name.split("-")[0] for p in (tmp_path / "render").iterdir()) == ["source", "target"]
    assert isinstance(data.test, SyntheticWorld) and data.test.seed != data.target.seed
    assert data.target_complexity == SyntheticWorld("target", size=(32, 64), length=4).complexities()
    uncached = build_train_data(load_config(None, TINY + ["data.cache=false"]), with_test=False)
    assert isinstance(uncached.target, SyntheticWorld) and uncached.target_complexity == data.target_complexity


def test_cached_and_rendered_batches_reach_the_step_alike(tmp_path):
    cfg = load_config(None, TINY + [f"data.cache_dir={tmp_path}"])
    cached = build_train_data(cfg, with_test=False).target
    rendered = build_train_data(load_config(None, TINY + ["data.cache=false"]), with_test=False).target
    sampler = CurriculumBatchSampler([0.0] * 4, batch_size=2, total_steps=2, seed=3)
    device = torch.device("cpu")
    for cached_batch, indices in zip(make_loader(cached, sampler, device=device, num_workers=None), sampler):
        got = batch_to_device(cached_batch, device)
        want = collate_samples([rendered[i] for i in indices])
        assert got.keys() == want.keys() and all(got[k].dtype == want[k].dtype for k in want)
        assert (got["image"] - want["image"]).abs().max() <= 0.5 / 255 + 1e-6
        assert all(torch.equal(got[k], want[k]) for k in ("depth", "semantics", "K", "views_T", "complexity"))


def test_loader_workers_see_the_same_batches(tmp_path):
    world = build_train_data(load_config(None, TINY + [f"data.cache_dir={tmp_path}"]), with_test=False).source
    sampler = CurriculumBatchSampler([0.0] * 4, batch_size=2, total_steps=3, seed=1)
    device = torch.device("cpu")
    in_process = list(make_loader(world, sampler, device=device, num_workers=0))
    in_worker = list(make_loader(world, sampler, device=device, num_workers=1))
    assert len(in_process) == len(in_worker) == 3
    assert all(torch.equal(a[k], b[k]) for a, b in zip(in_process, in_worker) for k in a)
