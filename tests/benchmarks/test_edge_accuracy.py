"""benchmarks/edge_accuracy.py: a resumed run keeps finished ablations and step times only when their budget is
this one, and the goals are judged from the numbers."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "benchmarks"
pytestmark = pytest.mark.skipif(not (BENCH / "edge_accuracy.py").is_file(), reason="benchmarks/ is not part of this checkout")


@pytest.fixture
def edge_accuracy(monkeypatch):
    monkeypatch.syspath_prepend(str(BENCH))
    import edge_accuracy as module

    return module


def _args(tmp_path, seeds=(0, 1, 2)):
    return argparse.Namespace(out=tmp_path / "edge_accuracy", seeds=list(seeds), jobs=1, threads=1)


def _finished(tmp_path, name, *, warm, steps, seeds, overrides):
    out = tmp_path / "edge_accuracy_runs"
    out.mkdir(exist_ok=True)
    saved = {"runs": [], "meta": {"warm_start": warm, "steps": steps, "seeds": seeds, "overrides": overrides}}
    (out / f"{name}.json").write_text(json.dumps(saved))
    return saved


def test_a_finished_ablation_of_the_same_budget_is_not_trained_again(edge_accuracy, tmp_path, monkeypatch):
    saved = _finished(tmp_path, "edge_accuracy_edge_s_time", warm=600, steps=400, seeds=[0, 1, 2],
                      overrides=edge_accuracy.NETS["edge_s"])
    monkeypatch.setattr(edge_accuracy.da_ablation, "main", lambda argv: pytest.fail("trained again"))
    assert edge_accuracy.ablation(_args(tmp_path), "edge_s", "time", 600, 400, "runs/x") == saved


@pytest.mark.parametrize("change", ["steps", "seeds", "partial"])
def test_a_finished_ablation_of_another_budget_or_an_unfinished_one_is_run(edge_accuracy, tmp_path, monkeypatch, change):
    _finished(tmp_path, "edge_accuracy_edge_s_time", warm=600, steps=400 if change != "steps" else 300,
              seeds=[0, 1] if change == "seeds" else [0, 1, 2], overrides=edge_accuracy.NETS["edge_s"])
    if change == "partial":
        (tmp_path / "edge_accuracy_runs" / "edge_accuracy_edge_s_time.partial.json").write_text('{"runs": []}')
    calls = []
    monkeypatch.setattr(edge_accuracy.da_ablation, "main", lambda argv: calls.append(argv))
    edge_accuracy.ablation(_args(tmp_path), "edge_s", "time", 600, 400, "runs/x")
    assert len(calls) == 1
    argv = calls[0]
    assert argv[argv.index("--warm-start") + 1] == "600" and argv[argv.index("--steps") + 1] == "400"
    assert "model.encoder=edge_s" in argv


def test_step_times_are_read_back_only_for_the_same_step_count(edge_accuracy, tmp_path, monkeypatch):
    run = tmp_path / "timing_edge_s_0"
    run.mkdir()
    (run / "summary.json").write_text(json.dumps({"steps": 40, "seconds": 20.0}))
    monkeypatch.setattr(edge_accuracy.da_ablation, "_train", lambda overrides, threads: {"seconds": 99.0})
    assert edge_accuracy._timed_steps("edge_s", 40, 1, str(run)) == pytest.approx(0.5)
    assert edge_accuracy._timed_steps("edge_s", 20, 1, str(run)) == pytest.approx(99.0 / 20)


def _row(abs_rel):
    return {"steps": 500, "seconds_per_step": 1.0, "abs_rel": (abs_rel, 0.01), "per_seed": {"0": abs_rel, "1": abs_rel * 1.01}, "gap_closed": (0.9, 0.01),
            "bins": {"0-10": (0.1, 0.0)}, "boundary_abs_rel": (0.2, 0.0), "source_only": (0.4, 0.0), "oracle": (0.15, 0.0)}


def test_goals_and_report(edge_accuracy):
    r = {"seeds": [0, 1, 2], "budget": {"warm_start": 300, "steps": 200},
         "step_times": {"resnet18": {"seconds_per_step": 1.4}, "edge_l": {"seconds_per_step": 0.7}},
         "equal_steps": {"resnet18": _row(0.200), "edge_l": _row(0.206)},
         "equal_time": {"resnet18": _row(0.200), "edge_l": _row(0.190)},
         "int8": {"edge_l at equal steps": [{"seed": 0, "fp32_abs_rel": 0.2, "int8_abs_rel": 0.2024, "int8_vs_fp32": 0.012},
                                            {"seed": 1, "fp32_abs_rel": 0.2, "int8_abs_rel": 0.2010, "int8_vs_fp32": 0.005}]},
         "machine": "test CPU", "command": "python benchmarks/edge_accuracy.py"}
    goals = edge_accuracy.goals(r)
    steps = goals["edge_l within 5% of resnet18 at equal steps"]
    assert (steps["value"], steps["met"]) == (pytest.approx(0.03), True)
    assert steps["per_seed"] == {"0": pytest.approx(0.03), "1": pytest.approx(0.03)}
    assert goals["edge_l better than resnet18 at equal time"]["met"] is True
    assert goals["edge_l at equal steps: INT8 within 1% of FP32 (worst seed)"] == {"value": pytest.approx(0.012), "met": False}
    r["goals"] = goals
    md = edge_accuracy.markdown(r, "x.png")
    assert "INT8 within 1% of FP32 (worst seed): +1.2% — NOT met" in md and "| edge_l | 500 |" in md
    assert "(per seed, paired: seed 0 -5.0%, seed 1 -5.0%)" in md
