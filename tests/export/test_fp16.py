import numpy as np
import onnx
import pytest
from onnx import TensorProto

from edgedepth.errors import ExportError
from edgedepth.export import convert_fp16, export_onnx
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
