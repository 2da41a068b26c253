import numpy as np
import onnx
import pytest
from onnx import TensorProto, numpy_helper

from edgedepth.errors import ExportError
from edgedepth.export import quantize_int8
from edgedepth.export.graph import consumers_of, producers_of
from edgedepth.export.quantize import check_symmetric
from edgedepth.export.verify import ort_session, run_onnx


@pytest.fixture(scope="module")
def int8_onnx(fp32_onnx, synthetic_set, tmp_path_factory):
    out = tmp_path_factory.mktemp("int8") / "model.int8.onnx"
    report = quantize_int8(fp32_onnx[0], out, calibration_images=synthetic_set[0], method="minmax", holdout=synthetic_set)
    return out, report


def test_symmetric_qdq_with_per_channel_weights(int8_onnx):
    path, report = int8_onnx
    model = onnx.load(str(path))
    inits = {i.name: i for i in model.graph.initializer}
    onnx.checker.check_model(model)  # includes topological order, which TensorRT's parser needs too
    assert check_symmetric(model) > 50  # every zero point is 0
    dq_inputs = [inits[n.input[0]] for n in model.graph.node if n.op_type == "DequantizeLinear" and n.input[0] in inits]
    assert all(t.data_type == TensorProto.INT8 for t in dq_inputs)  # no int32 bias DQ: TensorRT refuses those
    producers = producers_of(model.graph)
    quantized_convs = 0
    for conv in (n for n in model.graph.node if n.op_type == "Conv"):
        dq = producers.get(conv.input[1])
        if dq is None or dq.op_type != "DequantizeLinear":
            continue
        quantized_convs += 1
        weight, scale = inits[dq.input[0]], numpy_helper.to_array(inits[dq.input[1]])
        assert weight.data_type == TensorProto.INT8
        assert scale.shape == (weight.dims[0],)  # one scale per output channel (axis 0)
        assert np.abs(numpy_helper.to_array(weight)).max() <= 127  # symmetric range, -128 unused
    assert quantized_convs >= 25
    meta = {p.key: p.value for p in model.metadata_props}
    assert meta["precision"] == "int8" and meta["calibration"] == "minmax"
    assert report.calibration_images == 4


def test_depth_head_stays_float(int8_onnx):
    path, report = int8_onnx
    model = onnx.load(str(path))
    producers = producers_of(model.graph)
    inits = {i.name for i in model.graph.initializer}
    sigmoid = next(n for n in model.graph.node if n.op_type == "Sigmoid")
    head_conv = producers[sigmoid.input[0]]
    assert head_conv.op_type == "Conv" and head_conv.input[1] in inits  # float weight, no DequantizeLinear
    pad = producers[head_conv.input[0]]
    assert pad.op_type == "Pad" and producers[pad.input[0]].op_type != "DequantizeLinear"  # float input too
    assert head_conv.name in report.head and sigmoid.name in report.head


def test_decoder_layout_ops_stay_float(int8_onnx):
    """Resize, Concat and ELU have no integer kernels in ONNX Runtime CPU: their outputs are not quantized."""
    model = onnx.load(str(int8_onnx[0]))
    readers = consumers_of(model.graph)
    layout = [n for n in model.graph.node if n.op_type in ("Resize", "Concat", "Elu")]
    assert len(layout) > 10
    for node in layout:
        assert readers[node.output[0]], node.name
        assert all(r.op_type != "QuantizeLinear" for r in readers[node.output[0]]), node.name


def test_ort_fuses_qlinearconv(int8_onnx, tmp_path):
    """ONNX Runtime CPU must turn the Q/DQ pattern into integer kernels, else INT8 is no faster."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED
    opts.optimized_model_filepath = str(tmp_path / "optimised.onnx")
    ort.InferenceSession(str(int8_onnx[0]), opts, providers=["CPUExecutionProvider"])
    ops = [n.op_type for n in onnx.load(str(tmp_path / "optimised.onnx")).graph.node]
    convs = sum(n.op_type == "Conv" for n in onnx.load(str(int8_onnx[0])).graph.node)
    assert ops.count("QLinearConv") == convs - 1  # all but the float head; 11 block convs stayed float before


def test_each_reader_has_its_own_qdq_pair(int8_onnx):
    """ORT converts (and so fuses) only a Q read by one DQ; shared scale initializers let it merge Qs again."""
    model = onnx.load(str(int8_onnx[0]))
    readers = consumers_of(model.graph)
    quantizers = [n for n in model.graph.node if n.op_type == "QuantizeLinear"]
    assert all(len(readers[q.output[0]]) == 1 and readers[q.output[0]][0].op_type == "DequantizeLinear" for q in quantizers)
    by_input = {}
    for q in quantizers:
        by_input.setdefault(q.input[0], []).append(q)
    shared = [qs for qs in by_input.values() if len(qs) > 1]
    assert shared  # a block input read by conv1 and the residual Add
    assert all(len({q.input[1] for q in qs}) == len(qs) for qs in shared)


def test_int8_close_to_fp32(fp32_onnx, int8_onnx, synthetic_set):
    ref = run_onnx(ort_session(fp32_onnx[0]), synthetic_set[0])
    out = run_onnx(ort_session(int8_onnx[0]), synthetic_set[0])
    rel = np.abs(out - ref) / ref
    assert 0 < rel.mean() < 0.05
    acc = int8_onnx[1].accuracy
    assert acc["reference"] == "ground truth" and acc["holdout_images"] == 4
    assert acc["fp32_abs_rel"] > 0 and abs(acc["relative_drop"]) < 0.2
    assert "held-out AbsRel" in int8_onnx[1].summary()


def test_entropy_calibration_is_as_close_to_fp32_as_minmax(fp32_onnx, synthetic_set, tmp_path):
    """Entropy may clip outliers, but must not clip the bulk of a tensor (it did after every ReLU)."""
    images = synthetic_set[0]
    ref = run_onnx(ort_session(fp32_onnx[0]), images)
    error = {}
    for method in ("minmax", "entropy"):
        out = tmp_path / f"{method}.onnx"
        quantize_int8(fp32_onnx[0], out, calibration_images=images, method=method)
        error[method] = float(np.mean(np.abs(run_onnx(ort_session(out), images) - ref) / ref))
    assert error["entropy"] < 3 * error["minmax"]  # was 11x


def test_methods_give_different_ranges(fp32_onnx, synthetic_set, tmp_path):
    images = synthetic_set[0][:2]
    scales = {}
    for method in ("minmax", "percentile"):
        out = tmp_path / f"{method}.onnx"
        quantize_int8(fp32_onnx[0], out, calibration_images=images, method=method, percentile=99.0)
        model = onnx.load(str(out))
        scales[method] = {i.name: float(numpy_helper.to_array(i)) for i in model.graph.initializer if i.name.endswith("_scale") and not i.dims}
    common = scales["minmax"].keys() & scales["percentile"].keys()
    assert len(common) > 20
    assert all(scales["percentile"][k] <= scales["minmax"][k] * 1.001 for k in common)
    assert sum(scales["percentile"][k] < 0.99 * scales["minmax"][k] for k in common) > 5


def test_exclude_keeps_a_conv_in_float(fp32_onnx, synthetic_set, tmp_path):
    first_conv = next(n.name for n in onnx.load(str(fp32_onnx[0])).graph.node if n.op_type == "Conv")
    out = tmp_path / "ex.onnx"
    quantize_int8(fp32_onnx[0], out, calibration_images=synthetic_set[0][:1], exclude=(first_conv,))
    model = onnx.load(str(out))
    conv = next(n for n in model.graph.node if n.name == first_conv)
    assert conv.input[1] in {i.name for i in model.graph.initializer}


@pytest.mark.parametrize("kwargs, words", [
    (dict(calibration_images=np.zeros((0, 3, 64, 128), np.float32)), "at least one"),
    (dict(method="kl"), "unknown calibration method"),
    (dict(max_accuracy_drop=0.02), "held-out"),
])
def test_bad_input(fp32_onnx, synthetic_set, tmp_path, kwargs, words):
    kwargs = {"calibration_images": synthetic_set[0][:1], **kwargs}
    with pytest.raises(ExportError, match=words):
        quantize_int8(fp32_onnx[0], tmp_path / "q.onnx", **kwargs)
    assert not (tmp_path / "q.onnx").exists()


def test_refuses_quantized_input(int8_onnx, synthetic_set, tmp_path):
    with pytest.raises(ExportError, match="already quantized"):
        quantize_int8(int8_onnx[0], tmp_path / "q.onnx", calibration_images=synthetic_set[0][:1])
