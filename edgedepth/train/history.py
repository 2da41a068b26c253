"""Loss records kept on the training device and read back every ``train.log_every`` steps.

Reading a GPU value makes the host wait until the GPU has caught up, so reading every loss of every
step (and checking it for NaN) would keep the GPU idle while Python prepares the next step. Records
wait here as tensors; :meth:`PendingLosses.flush` reads them all at once and checks them then.
"""
from __future__ import annotations

import math

import torch

from edgedepth.train import distributed as ddp


class NonFiniteLoss(Exception):
    """A loss was NaN or infinite; ``record`` is the first such step's losses (with "step")."""

    def __init__(self, record: dict[str, float]):
        super().__init__(f"non-finite loss at step {record.get('step')}")
        self.record = record


class PendingLosses:
    """Steps whose losses have not been read yet, in order."""

    def __init__(self) -> None:
        self._steps: list[tuple[int, int]] = []
        self._losses: list[dict[str, torch.Tensor]] = []

    def __len__(self) -> int:
        return len(self._steps)

    def add(self, step: int, pool: int, losses: dict[str, torch.Tensor]) -> None:
        """``losses``: detached scalar tensors (every step of a run has the same names); ``pool``: the curriculum's pool size."""
        self._steps.append((step, pool))
        self._losses.append(losses)

    def flush(self, info: ddp.DistInfo, *, check_finite: bool = True) -> list[dict[str, float]]:
        """The pending records as floats (one read from the device), oldest first, and forget them.

        With ``check_finite`` raise :class:`NonFiniteLoss` when a loss of any step, on any rank, is
        not finite (all ranks see the same answer, so they stop together).
        """
        if not self._losses:
            return []
        names = list(self._losses[0])
        stacked = torch.stack([torch.stack([losses[name].float() for name in names]) for losses in self._losses])
        finite = ddp.all_finite(stacked, info) if check_finite else True
        records = [{**dict(zip(names, row)), "step": step, "pool": pool}
                   for row, (step, pool) in zip(stacked.cpu().tolist(), self._steps)]
        self._steps, self._losses = [], []
        if not finite:
            bad = [r for r in records if not all(math.isfinite(r[name]) for name in names)]
            raise NonFiniteLoss(bad[0] if bad else records[0])  # no local one: another rank's
        return records
