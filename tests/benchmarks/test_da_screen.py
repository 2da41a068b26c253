"""benchmarks/da_screen.py compares candidate recipes with the committed ablation seed by seed."""
from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "da_screen.py"
pytestmark = pytest.mark.skipif(not SCRIPT.is_file(), reason="benchmarks/ is not part of this checkout")


def _module():
    spec = importlib.util.spec_from_file_location("da_screen", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _row(variant, seed, abs_rel, near, far=0.3):
    return {"variant": variant, "seed": seed, "abs_rel": abs_rel, "bins": {"0-10": near, "10-20": 0.2, "20-40": 0.25, "40-80": far}}


def _ablation(rows, overrides=()):
    return {"runs": rows, "meta": {"overrides": list(overrides), "command": "python benchmarks/da_ablation.py x", "machine": "test CPU",
                                   "torch": "t", "edgedepth": "e", "threads": 1, "jobs": 2}}


def test_screen_reports_per_seed_changes_and_whether_source_only_is_reached(tmp_path):
    screen = _module()
    baseline = _ablation([_row("source_only", s, 0.45, 0.14) for s in (0, 1)] + [_row("oracle", s, 0.18, 0.16) for s in (0, 1)]
                         + [_row("full_curriculum", 0, 0.20, 0.16), _row("full_curriculum", 1, 0.20, 0.15),
                            _row("full_curriculum", 11, 0.1, 0.1) | {"unseen": True}], ["model.encoder=edge_l"])
    better = _ablation([_row("full_curriculum", 0, 0.19, 0.128), _row("full_curriculum", 1, 0.22, 0.135)], ["model.encoder=edge_l", "loss.seg=3"])
    worse_far = _ablation([_row("full_curriculum", 0, 0.20, 0.15, far=0.4), _row("full_curriculum", 1, 0.20, 0.15, far=0.4)],
                          ["loss.cycle_scales=4"])
    (tmp_path / "seg3.json").write_text(json.dumps(better))
    (tmp_path / "scales4.partial.json").write_text(json.dumps(worse_far))
    (tmp_path / "base.json").write_text(json.dumps(baseline))
    assert screen.main(["--baseline", str(tmp_path / "base.json"), "--candidate", str(tmp_path / "seg3.json"),
                        "--candidate", str(tmp_path / "scales4.partial.json"), "--out", str(tmp_path), "--name", "s"]) == 0
    saved = json.loads((tmp_path / "s.json").read_text())
    rows = {r["candidate"]: r for r in saved["rows"]}
    assert list(rows) == ["baseline", "seg3", "scales4"]
    assert rows["seg3"]["overrides"] == ["loss.seg=3"]  # only what the baseline did not have
    assert rows["baseline"]["seeds"] == [0, 1]  # the unseen seed is not mixed in
    assert rows["seg3"]["0-10_change"] == pytest.approx([0.128 / 0.16 - 1, 0.135 / 0.15 - 1])
    assert rows["seg3"]["abs_rel_change"] == pytest.approx([-0.05, 0.10])
    md = (tmp_path / "s.md").read_text()
    assert "**seg3** (`loss.seg=3`): target AbsRel 0.2050 (+2.5%, better on 1 of 2 seeds), 0-10 m 0.1315" in md
    assert "source_only's 0-10 m 0.1400: reached" in md
    assert "**scales4** (`loss.cycle_scales=4`)" in md and "+7.1% short; worse by more than 2 % in 40-80 m." in md
    # the report is written again from its own JSON, unchanged
    assert screen.main(["--baseline", "unused", "--from-json", str(tmp_path / "s.json"), "--out", str(tmp_path / "again"), "--name", "s"]) == 0
    assert (tmp_path / "again" / "s.md").read_text() == md


def test_no_shared_rows_is_an_error(tmp_path, capsys):
    screen = _module()
    (tmp_path / "base.json").write_text(json.dumps(_ablation([_row("full_curriculum", 0, 0.2, 0.15)])))  # no source_only
    (tmp_path / "c.json").write_text(json.dumps(_ablation([_row("full_curriculum", 0, 0.2, 0.15)])))
    assert screen.main(["--baseline", str(tmp_path / "base.json"), "--candidate", str(tmp_path / "c.json"), "--out", str(tmp_path)]) == 2
    assert "no full_curriculum rows" in capsys.readouterr().err


def test_every_row_averages_only_the_seeds_all_candidates_have(tmp_path):
    screen = _module()
    baseline = _ablation([_row("source_only", s, 0.45, 0.25) for s in (0, 1, 2)] + [_row("oracle", s, 0.15, 0.14) for s in (0, 1, 2)]
                         + [_row("adversarial_semantic", 0, 0.25, 0.33), _row("adversarial_semantic", 1, 0.18, 0.15),
                            _row("adversarial_semantic", 2, 0.15, 0.12)])
    one_seed = _ablation([_row("adversarial_semantic", 0, 0.19, 0.19)], ["loss.seg=1"])
    rows = screen.compare(baseline, {"seg1": one_seed}, "adversarial_semantic")
    assert [r["seeds"] for r in rows] == [[0], [0]]
    assert rows[0]["abs_rel"] == pytest.approx(0.25) and rows[0]["0-10"] == pytest.approx(0.33)  # not the mean of 3 seeds
    assert rows[1]["abs_rel_change"] == pytest.approx([0.19 / 0.25 - 1])
