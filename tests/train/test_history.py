"""Losses are read from the device every few steps, in order, and a NaN is still caught with its step."""
import math

import pytest
import torch

from edgedepth.train.distributed import DistInfo
from edgedepth.train.history import NonFiniteLoss, PendingLosses


def pending(*totals: float) -> PendingLosses:
    losses = PendingLosses()
    for step, total in enumerate(totals):
        losses.add(step + 10, 4, {"depth": torch.tensor(0.5), "total": torch.tensor(total)})
    return losses


def test_flush_reads_every_pending_step_in_order_once():
    losses = pending(1.0, 2.0)
    records = losses.flush(DistInfo())
    assert records == [{"depth": 0.5, "total": 1.0, "step": 10, "pool": 4}, {"depth": 0.5, "total": 2.0, "step": 11, "pool": 4}]
    assert len(losses) == 0 and losses.flush(DistInfo()) == []


def test_a_non_finite_loss_names_its_step():
    with pytest.raises(NonFiniteLoss) as info:
        pending(1.0, float("nan"), float("inf")).flush(DistInfo())
    assert info.value.record["step"] == 11 and math.isnan(info.value.record["total"])
    unchecked = pending(float("nan")).flush(DistInfo(), check_finite=False)  # for the checkpoint of an interrupted run
    assert math.isnan(unchecked[0]["total"])
