import onnx
import pytest

from edgedepth.engine.onnxruntime_builder import available_provider, build_onnxruntime
from edgedepth.errors import EngineError


def test_optimised_graph_fuses_qdq(onnx_files):
    original = onnx.load(str(onnx_files["int8"]))
    optimised = onnx.load_from_string(build_onnxruntime(onnx_files["int8"], provider="CPUExecutionProvider"))
    assert len(optimised.graph.node) < len(original.graph.node)  # Q/DQ pairs fused into QLinear kernels
    assert [i.name for i in optimised.graph.input] == ["image"]


def test_provider_falls_back_to_cpu_without_cuda():
    import onnxruntime as ort

    expected = "CUDAExecutionProvider" if "CUDAExecutionProvider" in ort.get_available_providers() else "CPUExecutionProvider"
    assert available_provider() == expected
    assert available_provider(prefer_cuda=False) == "CPUExecutionProvider"


def test_unloadable_model_is_an_engine_error(onnx_files, tmp_path):
    model = onnx.load(str(onnx_files["fp32"]))
    model.graph.node[0].op_type = "NoSuchOp"
    path = tmp_path / "bad.onnx"
    onnx.save(model, str(path))
    with pytest.raises(EngineError, match="ONNX Runtime cannot load") as e:
        build_onnxruntime(path, provider="CPUExecutionProvider")
    assert "NoSuchOp" in e.value.why
