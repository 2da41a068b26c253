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
    """Keep the k most sensitive layers in float, for the smallest k with ``drop_of(model)[1] <= max_drop``.

    k doubles (1, 2, 4, ...) until the budget is met, then a bisection finds the smallest such k
    (the drop is close to monotonic in k), so a 30-conv network needs about 10 builds, not 30.
    Returns (model, excluded node names, AbsRel, drop); when even excluding every layer misses the
    budget, the candidate with the smallest drop (the report says the budget was not met).
    """
    order = [entry["node"] for entry in sensitivity]
    tried: dict[int, tuple] = {}

    def attempt(k: int) -> tuple:
        if k not in tried:
            model = build(order[:k])
            tried[k] = (model, order[:k], *drop_of(model))
        return tried[k]

    k, low = 1, 0
    while k < len(order) and attempt(k)[3] > max_drop:
        low, k = k, min(2 * k, len(order))
    if not order or attempt(k)[3] > max_drop:
        return min((attempt(k) for k in ([0] + list(tried))), key=lambda t: t[3])
    while k - low > 1:  # invariant: k meets the budget, low does not
        mid = (low + k) // 2
        low, k = (low, mid) if attempt(mid)[3] <= max_drop else (mid, k)
    return attempt(k)
