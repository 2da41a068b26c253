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
    runs = [_run(v, s) for s in (0, 1, 2) for v in ABS_REL] + [{**_run(v, 11), "unseen": True} for v in ABS_REL]
    runs[-2]["abs_rel"] = 0.21  # unseen seed 11: full_curriculum closes (0.422 - 0.21) / 0.2 = 106 %
    meta = {"name": "abl", "seeds": [0, 1, 2], "unseen_seeds": [11], "size": [64, 192], "batch_size": 4, "steps": 10, "warm_start": 5,
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
    assert "full_curriculum closes ≥ 80% of the gap: 75.0% ± 0.0% — NOT met, 5.0% short." in report
    assert "## Seeds [11], never used for choosing the recipe" in report and "106.0%" in report
    # bins of full_curriculum (a/2, a, ...) are below source_only's everywhere; the near bin is 25 % above the oracle's
    assert "no distance bin of full_curriculum worse than source_only's (mean of the seeds): met." in report
    assert "within 10% of the oracle's: 0.1260 vs 0.1010 (+24.8%) — NOT met." in report
    assert "+10.0 ± 0.0 points" in report
    assert "2.68×" in report  # the domain gap: mean over seeds of (0.40 + 0.002 s) / 0.15
    assert "rows reused: none" in report and (tmp_path / "abl.png").is_file()


@pytest.mark.skipif(not SCRIPT.is_file(), reason="benchmarks/ is not part of this checkout")
def test_learning_curve_report_says_where_curves_flatten(tmp_path):
    def curve(variant, seed, values):
        return {"variant": variant, "seed": seed, "seconds": 1.0, "curve": [
            {"step": s, "train_seconds": s / 10, "abs_rel": v + 0.001 * seed, "bins": {"0-10": (v + 0.001 * seed) / 2},
             "boundary_abs_rel": v} for s, v in zip((250, 500, 1000, 2000), values)]}
    runs = [curve("source_only", s, (0.40, 0.40, 0.40, 0.40)) for s in (0, 1)] + \
           [curve("full_curriculum", s, (0.30, 0.25, 0.20, 0.199)) for s in (0, 1)] + \
           [curve("oracle", s, (0.20, 0.15, 0.10, 0.08)) for s in (0, 1)] + \
           [curve("adversarial_semantic", 0, (0.30, 0.25, 0.25, 0.25)), curve("adversarial_semantic", 1, (0.299, 0.249, 0.309, 0.449))]
    meta = {"name": "curve", "seeds": [0, 1], "curve": [250, 500, 1000, 2000], "size": [64, 192], "batch_size": 4, "jobs": 1,
            "threads": 1, "hours": 0.0, "machine": "test", "torch": "x", "edgedepth": "x", "command": "python da_ablation.py --curve"}
    saved = tmp_path / "in.json"
    saved.write_text(json.dumps({"runs": runs, "meta": meta}))
    subprocess.run([sys.executable, str(SCRIPT), "--from-json", str(saved), "--out", str(tmp_path)], check=True,
                   capture_output=True, text=True)
    report = (tmp_path / "curve.md").read_text()
    assert "full_curriculum: target AbsRel 0.300 → 0.251 → 0.201 → 0.200" in report and "flattens by 1000 steps" in report
    assert "oracle: target AbsRel" in report and "still improving at 2000 steps" in report
    assert "adversarial_semantic: target AbsRel 0.300 → 0.250 → 0.280 → 0.350" in report
    assert "getting worse: best at 500 steps (0.250)" in report
    assert "adversarial_semantic: the seeds disagree" in report and "seed 1 0.300 → 0.250 → 0.310 → 0.450" in report
    assert "AbsRel in the 0-10 m bin" in report and "| oracle | 0.1003 ± 0.0004 |" in report
    assert "| full_curriculum | 0.3005 ± 0.0007 / 50.0%" in report  # (0.4 - 0.3) / (0.4 - 0.2) at 250 steps
    assert (tmp_path / "curve.png").is_file()


@pytest.mark.skipif(not SCRIPT.is_file(), reason="benchmarks/ is not part of this checkout")
def test_near_range_verdict_says_when_even_the_oracle_is_worse_than_source_only():
    import importlib.util

    spec = importlib.util.spec_from_file_location("da_report", SCRIPT.parent / "da_report.py")
    report = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(report)
    bins = lambda near, far: {"0-10": (near, 0.0), "10-20": (far, 0.0)}  # noqa: E731
    table = {"source_only": {"bins": bins(0.14, 0.45)}, "full_curriculum": {"bins": bins(0.15, 0.16)},
             "oracle": {"bins": bins(0.16, 0.17)}}
    lines = report._near_range(table)
    assert "NOT met: 0-10 m +7.1%" in lines[0]
    assert "oracle" in lines[1] and "0-10 m +14.3%" in lines[1]
    table["oracle"]["bins"] = bins(0.13, 0.17)  # the oracle beats source_only near: no such line
    assert not any("beyond what supervision" in line for line in report._near_range(table))


@pytest.mark.skipif(not SCRIPT.is_file(), reason="benchmarks/ is not part of this checkout")
def test_a_shortfall_below_a_tenth_of_a_point_is_not_printed_as_zero():
    import importlib.util

    spec = importlib.util.spec_from_file_location("da_report", SCRIPT.parent / "da_report.py")
    report = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(report)
    assert report._points(0.0002) == "0.02"
    assert report._points(0.012) == "1.2"


def _ablation_module():
    import importlib.util

    sys.path.insert(0, str(SCRIPT.parent))  # da_ablation imports da_report from its folder
    try:
        spec = importlib.util.spec_from_file_location("da_ablation_under_test", SCRIPT)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(SCRIPT.parent))
    return module


@pytest.mark.skipif(not SCRIPT.is_file(), reason="benchmarks/ is not part of this checkout")
def test_reuse_takes_only_rows_whose_config_is_the_one_this_run_would_train(tmp_path):
    ablation = _ablation_module()
    old = ablation.parse_args(["loss.seg=1", "--warm-start", "5", "--steps", "10", "--seeds", "0", "1"])
    # a row of a variant that sets loss.seg=0 itself does not depend on loss.seg: its digest stays the same
    assert ablation.config_digest(old, "source_only", 0) == ablation.config_digest(
        ablation.parse_args(["--warm-start", "5", "--steps", "10", "loss.seg=5"]), "source_only", 0)
    rows = [{**_run(v, s), "config_digest": ablation.config_digest(old, v, s)} for s in (0, 1)
            for v in ("source_only", "adversarial_semantic")]
    rows.append({**_run("cycle", 0)})  # written before digests were recorded
    saved = tmp_path / "old.json"
    saved.write_text(json.dumps({"runs": rows, "meta": {}}))

    new = ablation.parse_args(["loss.seg=5", "--warm-start", "5", "--steps", "10", "--seeds", "0", "1", "--reuse", str(saved)])
    todo = [(v, s) for s in (0, 1) for v in ("source_only", "cycle", "adversarial_semantic")]
    wanted = lambda args: {key: ablation.config_digest(args, *key) for key in todo}  # noqa: E731
    found, why_not = ablation.reusable(new, wanted(new))
    assert sorted(found) == [("source_only", 0), ("source_only", 1)]
    assert all(r["reused_from"] == "old.json" and r["abs_rel"] == _run("source_only", r["seed"])["abs_rel"] for r in found.values())
    assert sum("adversarial_semantic" in line and "config differs" in line for line in why_not) == 2
    assert any("cycle seed 0" in line and "no config digest" in line for line in why_not)
    # another warm start changes every row's digest, source_only's included
    longer = ablation.parse_args(["loss.seg=1", "--warm-start", "6", "--steps", "10", "--seeds", "0", "1", "--reuse", str(saved)])
    assert ablation.reusable(longer, wanted(longer))[0] == {}
    # the report names what was reused
    runs = [{**_run(v, s), **({"reused_from": "old.json"} if v == "oracle" else {})} for s in (0, 1, 2) for v in ABS_REL]
    meta = {"name": "abl", "seeds": [0, 1, 2], "size": [64, 192], "batch_size": 4, "budget": "5 + 10 steps", "jobs": 1,
            "threads": 1, "hours": 0.0, "machine": "test", "torch": "x", "edgedepth": "x", "command": "python da_ablation.py"}
    (tmp_path / "in.json").write_text(json.dumps({"runs": runs, "meta": meta}))
    assert ablation.main(["--from-json", str(tmp_path / "in.json"), "--out", str(tmp_path)]) == 0
    assert "Not trained again" in (tmp_path / "abl.md").read_text() and "oracle (seeds 0, 1, 2) from old.json" in (tmp_path / "abl.md").read_text()


@pytest.mark.skipif(not SCRIPT.is_file(), reason="benchmarks/ is not part of this checkout")
def test_reuse_of_a_file_that_is_not_a_result_says_so(tmp_path):
    ablation = _ablation_module()
    bad = tmp_path / "notes.json"
    bad.write_text("{")
    args = ablation.parse_args(["--reuse", str(bad)])
    with pytest.raises(SystemExit, match="notes.json: not a result file"):
        ablation.reusable(args, {("source_only", 0): "any"})
