"""Per-layer INT8 sensitivity, and the greedy choice of layers to keep in float.

A layer's sensitivity is the depth error (mean |INT8 - FP32| / FP32 on the held-out images) of a
model where only that layer is quantized. Layers are then returned to float from the most
sensitive down until the held-out AbsRel drop is within the budget.
"""
from __future__ import annotations

import os
from typing import Any, Callable

from tqdm import tqdm


def layer_sensitivity(build_one: Callable[[str], Any], nodes: list[str], error_of: Callable[[Any], float]) -> list[dict[str, Any]]:
    """[{"node", "error"}] for each node quantized alone, most sensitive first."""
    disable = os.environ.get("EDGEDEPTH_NO_PROGRESS") == "1"
    results = [{"node": node, "error": error_of(build_one(node))} for node in tqdm(nodes, desc="layer sensitivity", disable=disable)]
    return sorted(results, key=lambda r: r["error"], reverse=True)


def greedy_exclude(build: Callable, sensitivity: list[dict[str, Any]], drop_of: Callable, max_drop: float):
    """Keep the most sensitive layers in float, one more at a time, until ``drop_of(model)[1] <= max_drop``.

    Returns (model, excluded node names, AbsRel, drop). When no prefix meets the budget, the model
    with the smallest drop is returned (the report says the budget was not met).
    """
    best = None
    excluded: list[str] = []
    for entry in sensitivity:
        excluded.append(entry["node"])
        model = build(excluded)
        err, drop = drop_of(model)
        if best is None or drop < best[3]:
            best = (model, list(excluded), err, drop)
        if drop <= max_drop:
            return model, list(excluded), err, drop
    return best if best is not None else (build(), [], *drop_of(build()))
