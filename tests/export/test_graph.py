import onnx
from onnx import TensorProto, helper

from edgedepth.export.graph import head_nodes, topological_sort


def _graph(nodes):
    return helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])],
                             [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])])


def test_topological_sort_is_stable_and_valid():
    a = helper.make_node("Relu", ["x"], ["a"], name="a")
    b = helper.make_node("Neg", ["a"], ["b"], name="b")
    c = helper.make_node("Add", ["a", "b"], ["y"], name="c")
    g = _graph([c, b, a])
    topological_sort(g)
    assert [n.name for n in g.node] == ["a", "b", "c"]
    onnx.checker.check_model(helper.make_model(g))


def test_head_is_the_last_sigmoid_and_after():
    nodes = [
        helper.make_node("Sigmoid", ["x"], ["s0"], name="early_sigmoid"),
        helper.make_node("Conv", ["s0", "w"], ["c"], name="head_conv"),
        helper.make_node("Sigmoid", ["c"], ["s"], name="sig"),
        helper.make_node("Mul", ["s", "k"], ["m"], name="mul"),
        helper.make_node("Reciprocal", ["m"], ["y"], name="rec"),
    ]
    g = _graph(nodes)
    assert head_nodes(g) == {"sig", "mul", "rec"}
    assert head_nodes(g, with_conv=True) == {"head_conv", "sig", "mul", "rec"}


def test_head_with_conv_includes_the_pad_feeding_it():
    nodes = [
        helper.make_node("Pad", ["x", "pads"], ["p"], name="head_pad", mode="edge"),
        helper.make_node("Conv", ["p", "w"], ["c"], name="head_conv"),
        helper.make_node("Sigmoid", ["c"], ["y"], name="sig"),
    ]
    assert head_nodes(_graph(nodes), with_conv=True) == {"head_pad", "head_conv", "sig"}
