import pytest

from edgedepth.export.sensitivity import greedy_exclude, layer_sensitivity


def test_layer_sensitivity_sorts_most_sensitive_first():
    errors = {"a": 0.1, "b": 0.5, "c": 0.2}
    result = layer_sensitivity(lambda node: node, list(errors), lambda model: errors[model])
    assert [r["node"] for r in result] == ["b", "c", "a"]
    assert result[0]["error"] == 0.5


def _fake(drops_by_k):
    """build(excluded) -> a model that remembers how many layers stayed in float."""
    built = []

    def build(excluded=()):
        built.append(len(excluded))
        return tuple(excluded)

    def drop_of(model):
        return 0.1, drops_by_k[len(model)]

    return build, drop_of, built


def test_greedy_finds_the_smallest_prefix():
    sens = [{"node": f"n{i}", "error": 1.0 / (i + 1)} for i in range(16)]
    drops = {k: (10 - k) * 0.01 for k in range(17)}  # meets 0.015 from k = 9 on
    build, drop_of, built = _fake(drops)
    model, excluded, err, drop = greedy_exclude(build, sens, drop_of, 0.015)
    assert excluded == [f"n{i}" for i in range(9)] and drop <= 0.015 and model == tuple(excluded)
    assert len(built) < 10  # doubling + bisection, not 16 builds


def test_greedy_returns_the_best_when_the_budget_is_unreachable():
    sens = [{"node": f"n{i}", "error": 1.0} for i in range(4)]
    drops = {0: 0.5, 1: 0.3, 2: 0.1, 3: 0.2, 4: 0.25}
    build, drop_of, _ = _fake(drops)
    _, excluded, _, drop = greedy_exclude(build, sens, drop_of, 0.01)
    assert drop == pytest.approx(0.1) and excluded == ["n0", "n1"]


def test_greedy_first_layer_is_enough():
    build, drop_of, built = _fake({0: 0.5, 1: 0.0})
    _, excluded, _, _ = greedy_exclude(build, [{"node": "x", "error": 1.0}], drop_of, 0.01)
    assert excluded == ["x"] and built == [1]


@pytest.mark.slow
def test_sensitivity_pass_on_the_depth_net(fp32_onnx, synthetic_set, tmp_path):
    """An impossible budget (drop <= -100 %) runs the whole pass: every conv gets a sensitivity."""
    from edgedepth.export import quantize_int8

    report = quantize_int8(fp32_onnx[0], tmp_path / "s.onnx", calibration_images=synthetic_set[0][:2],
                           holdout=(synthetic_set[0][:1], synthetic_set[1][:1]), max_accuracy_drop=-1.0)
    assert len(report.sensitivity) >= 25
    import onnx

    op_type = {n.name: n.op_type for n in onnx.load(str(fp32_onnx[0])).graph.node}
    assert {"Conv", "Add", "MaxPool"} <= {op_type[r["node"]] for r in report.sensitivity}  # not only convs
    errors = [r["error"] for r in report.sensitivity]
    assert errors == sorted(errors, reverse=True) and errors[0] > errors[-1] >= 0
    assert report.accuracy["within_max_drop"] is False
    # the best candidate tried (fewest float layers may be best: the budget is unreachable anyway)
    assert set(report.excluded) <= {r["node"] for r in report.sensitivity}
