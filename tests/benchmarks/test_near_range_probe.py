"""benchmarks/near_range_probe.py splits a model's near-range error into standing objects and the rest."""
from __future__ import annotations

import importlib.util
import types
from pathlib import Path

import pytest
import torch

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "near_range_probe.py"
pytestmark = pytest.mark.skipif(not SCRIPT.is_file(), reason="benchmarks/ is not part of this checkout")


def _module():
    spec = importlib.util.spec_from_file_location("near_range_probe", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_errors_by_part_puts_the_error_of_objects_predicted_too_far_on_the_objects(monkeypatch):
    probe = _module()
    b = probe.batch("target", 2)
    objects = torch.isin(b["semantics"], torch.tensor(probe.OBJECTS)) & (b["depth"] > 0) & (b["depth"] < probe.NEAR)
    assert objects.any(), "the probe images must hold near standing objects"

    class Net:  # the truth, with near standing objects pushed 1.5x farther
        def predict_depth(self, images):
            return torch.where(objects, 1.5 * b["depth"], b["depth"]).clamp(min=0.1)

    import edgedepth.checkpoint

    monkeypatch.setattr(edgedepth.checkpoint, "load_depth_net", lambda path: (Net(), {}))
    parts = probe.errors_by_part("unused.pt", b)
    obj, rest = parts["standing objects (building, pole, car)"], parts["ground and the rest"]
    assert obj["abs_rel"] == pytest.approx(0.5, abs=1e-4) and obj["median_pred_over_gt"] == pytest.approx(1.5, abs=1e-4)
    assert rest["abs_rel"] < 1e-4 and obj["error_share"] == pytest.approx(1.0, abs=1e-4)
    assert obj["share"] + rest["share"] == pytest.approx(1.0)
    lines = probe.findings({"truth": {**parts, "all": parts["all"]}})
    assert "100% of its error" in lines[0] and "1.50x their depth" in lines[0]


def test_findings_compare_every_model_with_the_first():
    probe = _module()
    part = lambda a, share, err, med: {"abs_rel": a, "share": share, "error_share": err, "median_pred_over_gt": med}  # noqa: E731
    model = lambda o, g: {"all": part(0.75 * g + 0.25 * o, 1, 1, 1), "standing objects (building, pole, car)": part(o, 0.25, 0.5, 1.4),  # noqa: E731
                          "ground and the rest": part(g, 0.75, 0.5, 1.0)}
    lines = probe.findings({"source_only": model(0.2, 0.1), "adapted": model(0.5, 0.05)})
    assert len(lines) == 2 and "against" not in lines[0]
    assert "objects +150%" in lines[1] and "ground and the rest -50%" in lines[1]
    md = probe.markdown({"images": 2, "landscape": {}, "gradient": {"0.7": {"full resolution": {"toward_truth": 1.0, "images": 2}}},
                         "checkpoints": {"source_only": model(0.2, 0.1), "adapted": model(0.5, 0.05)}}, "cmd")
    assert "| standing objects (building, pole, car) | 25% | 0.200 / 50% / 1.40 | 0.500 / 50% / 1.40 |" in md


def test_visibility_measures_the_outline_step_against_the_step_inside():
    probe = _module()
    h, w = 8, 12
    image = torch.full((1, 3, h, w), 0.5)
    depth = torch.full((1, 1, h, w), 30.0)  # a far wall ...
    sem = torch.full((1, 1, h, w), 2, dtype=torch.int64)
    image[..., 2:6, 4:8] = 0.6  # ... and a car at 5 m, 0.1 brighter
    image[..., 2:6, 4:8:2] += 0.02  # with a texture of step 0.02 inside
    depth[..., 2:6, 4:8] = 5.0
    sem[..., 2:6, 4:8] = 13
    vis = probe.visibility({"image": image, "depth": depth, "semantics": sem})
    car = vis["car"]
    assert car["inside"] == pytest.approx((4 * 3 * 0.02) / (4 * 3 + 4 * 3), abs=1e-5)  # 12 horizontal steps of 0.02, 12 vertical of 0
    assert car["edge_pixels"] == 16  # 4 rows x 2 sides + 4 columns x 2 sides
    # outline: the left column (0.62) and the right one (0.60) against the wall's 0.5, the top and bottom rows alternate
    assert car["edge"] == pytest.approx((4 * 0.12 + 4 * 0.10 + 2 * (2 * 0.12 + 2 * 0.10)) / 16, abs=1e-5)
    assert car["contrast"] == pytest.approx(car["edge"] / car["inside"], rel=1e-3)
    assert "building" not in vis  # the wall is not near
    lines = probe.visibility_findings({"source": {"car": {**car, "edge": 2 * car["edge"], "contrast": 2 * car["contrast"]}},
                                       "target": {"car": car}})
    assert "2.0× fainter" in lines[0]
