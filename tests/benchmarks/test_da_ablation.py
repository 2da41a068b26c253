"""benchmarks/da_ablation.py writes its report (tables, paired gap closed, goal verdicts) from the runs alone."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "da_ablation.py"
# target AbsRel per variant; gap closed = (source_only - v) / (source_only - oracle) = (0.40 - v) / 0.20
ABS_REL = {"source_only": 0.40, "cycle": 0.30, "adversarial": 0.28, "adversarial_semantic": 0.26,
           "full_curriculum": 0.25, "oracle": 0.20}


def _run(variant: str, seed: int) -> dict:
    a = ABS_REL[variant] + 0.002 * seed
    row = {"variant": variant, "seed": seed, "abs_rel": a, "sq_rel": a, "rmse": 10 * a, "a1": 1 - a,
           "bins": {"0-10": a / 2, "10-20": a, "20-40": 1.5 * a, "40-80": 2 * a},
           "boundary_abs_rel": 1.2 * a, "interior_abs_rel": 0.9 * a, "seconds": 1.0}
    if variant == "source_only":
        row["source_domain_abs_rel"] = 0.15
    return row


@pytest.mark.skipif(not SCRIPT.is_file(), reason="benchmarks/ is not part of this checkout")
def test_report_is_generated_from_the_runs(tmp_path):
    runs = [_run(v, s) for s in (0, 1, 2) for v in ABS_REL]
    meta = {"name": "abl", "seeds": [0, 1, 2], "size": [64, 192], "batch_size": 4, "steps": 10, "warm_start": 5,
            "train_length": 8, "test_length": 4, "jobs": 1, "threads": 1, "overrides": [], "hours": 0.0,
            "budget": "5 + 10 steps", "machine": "test", "torch": "x", "edgedepth": "x", "command": "python da_ablation.py"}
    saved = tmp_path / "in.json"
    saved.write_text(json.dumps({"runs": runs, "meta": meta}))
    subprocess.run([sys.executable, str(SCRIPT), "--from-json", str(saved), "--out", str(tmp_path), "--note", "rows reused: none"],
                   check=True, capture_output=True, text=True)
    report = (tmp_path / "abl.md").read_text()
    summary = json.loads((tmp_path / "abl.json").read_text())["summary"]
    # seed s: source_only 0.40+0.002s, oracle 0.20+0.002s, full 0.25+0.002s -> 75 % on every seed
    assert summary["full_curriculum"]["gap_closed"][0] == pytest.approx(0.75)
    assert summary["adversarial_semantic"]["gap_closed"][0] - summary["adversarial"]["gap_closed"][0] == pytest.approx(0.10)
    assert "full_curriculum closes ≥ 50% of the gap: 75.0%" in report and "met." in report
    assert "+10.0 ± 0.0 points" in report
    assert "2.68×" in report  # the domain gap: mean over seeds of (0.40 + 0.002 s) / 0.15
    assert "rows reused: none" in report and (tmp_path / "abl.png").is_file()
