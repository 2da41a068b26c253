"""benchmarks/da_drift.py reports window means, per-seed verdicts and the loss-term comparison from the runs alone."""
from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "da_drift.py"


def _module():
    spec = importlib.util.spec_from_file_location("da_drift", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _run(name: str, seed: int, level: float, near_at_end: float) -> dict:
    curve = [{"step": s, "train_seconds": s / 5, "abs_rel": level, "bins": {"0-10": level, "10-20": level, "20-40": level, "40-80": level}}
             for s in range(125, 1001, 125)]
    curve[-1]["bins"]["0-10"] = near_at_end
    losses = [{"from": lo, "depth": 0.1, "cycle": 0.06 * (1 + 0.01 * seed), "seg": 0.2, "adv": 0.4, "disc": 0.2, "pool": 171}
              for lo in range(0, 1000, 125)]
    return {"candidate": name, "seed": seed, "curve": curve, "losses": losses, "train_seconds": 200.0}


@pytest.mark.skipif(not SCRIPT.is_file(), reason="benchmarks/ is not part of this checkout")
def test_report_compares_window_means_per_seed_and_the_loss_terms():
    drift = _module()
    runs = {}
    for seed in (0, 1):
        runs[f"full_s{seed}"] = _run("full", seed, 0.20, 0.20 if seed == 0 else 0.30)
        runs[f"emafb_s{seed}"] = _run("emafb", seed, 0.18, 0.18)  # 10 % better on both seeds
        runs[f"fb_s{seed}"] = _run("fb", seed, 0.19 if seed == 0 else 0.21, 0.2)  # better on one, worse on the other
    data = {"runs": runs, "averaged": {}, "meta": {
        "seeds": [0, 1], "candidates": ["full", "fb", "emafb"], "stop_at": 1000, "test_length": 48, "jobs": 2,
        "threads": 1, "machine": "test CPU", "torch": "x", "edgedepth": "y", "command": "python benchmarks/da_drift.py"}}
    # steps 500..1000: five evaluations; seed 1's last 0-10 m value 0.30 lifts its mean to (4 * 0.2 + 0.3) / 5
    assert drift.window_mean(runs["full_s1"]["curve"], "0-10") == pytest.approx(0.22)
    text = drift.markdown(data)
    lines = drift.analysis(data)
    kept = next(line for line in lines if line.startswith("- weight average + temporal fallback"))
    assert "-10.0%, -10.0% per seed" in kept and "better on every seed" in kept
    assert "(mixed)" in next(line for line in lines if line.startswith("- stereo + temporal views"))
    # the seeds' cycle terms differ by 1 %, their 0-10 m bins at step 1000 by 50 %
    assert any("differ by 50% in the 0-10 m bin" in line and "at most 1.0% (cycle" in line for line in lines)
    assert "| **weight average + temporal fallback (kept)** | mean | **0.180** |" in text
