import numpy as np
import onnx
import pytest
from onnx import TensorProto

from edgedepth.contract import inspect_onnx
from edgedepth.errors import ExportError
from edgedepth.export import convert_fp16, convert_qdq_fp16, export_onnx, quantize_int8
from edgedepth.export.verify import ort_session, run_onnx

SIZE = (64, 128)  # as in conftest.py


@pytest.fixture(scope="module")
def fp16_onnx(fp32_onnx, tmp_path_factory):
    out = tmp_path_factory.mktemp("fp16") / "model.fp16.onnx"
    return out, convert_fp16(fp32_onnx[0], out)


def test_fp16_weights_fp32_io(fp16_onnx):
    path, info = fp16_onnx
    model = onnx.load(str(path))
    assert model.graph.input[0].type.tensor_type.elem_type == TensorProto.FLOAT
    assert model.graph.output[0].type.tensor_type.elem_type == TensorProto.FLOAT
    conv_weights = {n.input[1] for n in model.graph.node if n.op_type == "Conv"}
    types = {i.name: i.data_type for i in model.graph.initializer}
    fp16_convs = [w for w in conv_weights if types.get(w) == TensorProto.FLOAT16]
    assert len(fp16_convs) == len(conv_weights)  # every conv computes in FP16
    assert {p.key: p.value for p in model.metadata_props}["precision"] == "fp16"
    assert info["fp16_nodes"] > 50


def test_head_stays_fp32(fp16_onnx):
    """The Sigmoid and the disparity -> depth arithmetic run in FP32, fed by a Cast to FLOAT."""
    model = onnx.load(str(fp16_onnx[0]))
    producers = {o: n for n in model.graph.node for o in n.output}
    sigmoid = next(n for n in model.graph.node if n.op_type == "Sigmoid")
    cast = producers[sigmoid.input[0]]
    assert cast.op_type == "Cast" and cast.attribute[0].i == TensorProto.FLOAT
    assert sigmoid.name in fp16_onnx[1]["fp32_nodes"]
    head_inits = {i for n in model.graph.node if n.name in fp16_onnx[1]["fp32_nodes"] for i in n.input}
    assert all(i.data_type == TensorProto.FLOAT for i in model.graph.initializer if i.name in head_inits)


def test_fp16_runs_on_ort_cpu_close_to_fp32(fp32_onnx, fp16_onnx, random_images):
    ref = run_onnx(ort_session(fp32_onnx[0]), random_images)
    out = run_onnx(ort_session(fp16_onnx[0]), random_images)
    assert out.dtype == np.float32 and out.shape == ref.shape
    rel = np.abs(out - ref) / ref
    assert rel.max() < 1e-2 and rel.mean() < 2e-3
    assert rel.max() > 0  # it really computes in FP16


def test_dynamic_batch_fp16(depth_net, tmp_path):
    src = tmp_path / "dyn.onnx"
    export_onnx(depth_net, src, size=SIZE, batch="dynamic", verify=False)
    convert_fp16(src, tmp_path / "dyn16.onnx")
    images = np.random.default_rng(1).random((3, 3, *SIZE), dtype=np.float32)
    assert run_onnx(ort_session(tmp_path / "dyn16.onnx"), images).shape == (3, 1, *SIZE)


def test_refuses_fp16_input(fp16_onnx, tmp_path):
    with pytest.raises(ExportError, match="already holds FP16"):
        convert_fp16(fp16_onnx[0], tmp_path / "again.onnx")


@pytest.fixture(scope="module")
def qdq_onnx(fp32_onnx, synthetic_set, tmp_path_factory):
    """The Q/DQ DepthNet with its first conv kept in float (as the sensitivity pass would), and its FP16 variant."""
    root = tmp_path_factory.mktemp("qdq")
    first_conv = next(n.name for n in onnx.load(str(fp32_onnx[0])).graph.node if n.op_type == "Conv")
    quantize_int8(fp32_onnx[0], root / "int8.onnx", calibration_images=synthetic_set[0][:2], exclude=(first_conv,))
    return root / "int8.onnx", convert_qdq_fp16(root / "int8.onnx", root / "int8-fp16.onnx"), first_conv


def test_qdq_fp16_keeps_int8_qdq_and_fp32_io_head_and_sensitive_layers(qdq_onnx):
    _, report, first_conv = qdq_onnx
    model = onnx.load(str(report["path"]))
    assert next(o.version for o in model.opset_import if o.domain in ("", "ai.onnx")) == 19  # FP16 Q/DQ needs opset 19
    assert model.graph.input[0].type.tensor_type.elem_type == model.graph.output[0].type.tensor_type.elem_type == TensorProto.FLOAT
    types = {i.name: i.data_type for i in model.graph.initializer}
    dq = [n for n in model.graph.node if n.op_type == "DequantizeLinear"]
    assert dq and all(n.input[0] not in types or types[n.input[0]] == TensorProto.INT8 for n in dq)  # int8 weights
    assert {types[n.input[1]] for n in dq} == {TensorProto.FLOAT16}  # scales, hence the dequantised values, are FP16
    assert first_conv in report["fp32_nodes"] and "/Sigmoid" in " ".join(report["fp32_nodes"])
    kept = {n.name: n for n in model.graph.node}
    assert types[kept[first_conv].input[1]] == TensorProto.FLOAT  # the layer the INT8 pass kept in float stays FP32
    info = inspect_onnx(report["path"])
    assert (info.precision, info.metadata["float_precision"]) == ("int8", "fp16")


def test_qdq_fp16_matches_the_qdq_model_on_ort_cpu(qdq_onnx, random_images):
    # Without graph optimisations ORT runs both as dequantise -> float op -> quantise, so the difference
    # is the FP16 arithmetic of the unquantised layers alone.
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    int8_path, report, _ = qdq_onnx
    ref, out = (ort.InferenceSession(str(p), options).run(None, {"image": random_images[:1]})[0] for p in (int8_path, report["path"]))
    rel = np.abs(out - ref) / ref
    assert out.dtype == np.float32 and rel.mean() < 1e-3 and rel.max() < 5e-3  # measured: 1.8e-4, 8e-4
    assert rel.max() > 0  # it really computes in FP16


def test_qdq_fp16_refuses_an_onnx_without_qdq(fp32_onnx, tmp_path):
    with pytest.raises(ExportError, match="has no Q/DQ nodes"):
        convert_qdq_fp16(fp32_onnx[0], tmp_path / "x.onnx")
