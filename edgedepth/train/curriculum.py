"""Curriculum- and rank-aware batch sampling that is a pure function of (seed, step).

Target samples are ordered by their complexity score. During the first ``warmup_fraction`` of
training the pool grows in ``stages`` equal steps from the simplest ``1/stages`` of the data to
all of it; afterwards every sample is drawn. Each step draws ``batch_size * world_size`` indices
from the pool without replacement and hands rank r its own slice, so ranks never see the same
sample in a step, and a resumed run draws exactly what an uninterrupted one would have.
"""
from __future__ import annotations

from typing import Iterator, Sequence

import numpy as np
from torch.utils.data import Sampler


class CurriculumBatchSampler(Sampler[list[int]]):
    """Yields one list of dataset indices per training step, from ``start_step`` to ``total_steps``."""

    def __init__(
        self,
        complexity: Sequence[float],
        *,
        batch_size: int,
        total_steps: int,
        seed: int = 0,
        curriculum: bool = False,
        stages: int = 3,
        warmup_fraction: float = 0.6,
        rank: int = 0,
        world_size: int = 1,
        start_step: int = 0,
    ):
        if len(complexity) == 0:
            raise ValueError("the dataset is empty")
        if stages < 1 or not 0.0 <= warmup_fraction <= 1.0:
            raise ValueError("curriculum needs stages >= 1 and 0 <= warmup_fraction <= 1")
        # Stable order: simplest first, ties broken by index.
        self.order = np.argsort(np.asarray(complexity, dtype=np.float64), kind="stable")
        self.batch_size, self.total_steps, self.seed = batch_size, total_steps, seed
        self.curriculum, self.stages, self.warmup_fraction = curriculum, stages, warmup_fraction
        self.rank, self.world_size, self.start_step = rank, world_size, start_step

    def pool_size(self, step: int) -> int:
        """How many of the simplest samples may be drawn at ``step``."""
        n = len(self.order)
        if not self.curriculum or self.stages == 1:
            return n
        warmup = self.warmup_fraction * self.total_steps
        stage = self.stages - 1 if warmup <= 0 else min(int(step / warmup * self.stages), self.stages - 1)
        return max(1, int(np.ceil(n * (stage + 1) / self.stages)))

    def indices(self, step: int) -> list[int]:
        pool = self.order[: self.pool_size(step)]
        rng = np.random.default_rng([self.seed, step])
        need = self.batch_size * self.world_size
        picks = rng.choice(len(pool), size=need, replace=need > len(pool))
        mine = picks[self.rank * self.batch_size : (self.rank + 1) * self.batch_size]
        return [int(i) for i in pool[mine]]

    def __iter__(self) -> Iterator[list[int]]:
        for step in range(self.start_step, self.total_steps):
            yield self.indices(step)

    def __len__(self) -> int:
        return max(0, self.total_steps - self.start_step)
