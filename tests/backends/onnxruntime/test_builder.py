import onnx
import pytest

from edgedepth.backends.onnxruntime.builder import optimise
from edgedepth.backends.onnxruntime.runner import providers_for
from edgedepth.errors import EngineError

from helpers.tiny_onnx import with_unknown_op


def test_optimised_graph_fuses_qdq(onnx_files):
    original = onnx.load(str(onnx_files["int8"]))
    optimised = onnx.load_from_string(optimise(onnx_files["int8"], provider="CPUExecutionProvider"))
    assert len(optimised.graph.node) < len(original.graph.node)  # Q/DQ pairs fused into QLinear kernels
    assert [i.name for i in optimised.graph.input] == ["image"]


def test_providers_fall_back_to_cpu_without_cuda():
    import onnxruntime as ort

    gpu = [p for p in ("TensorrtExecutionProvider", "CUDAExecutionProvider") if p in ort.get_available_providers()]
    assert providers_for("auto") == [*gpu, "CPUExecutionProvider"]
    assert providers_for("cpu") == ["CPUExecutionProvider"]
    assert providers_for("auto", engine_provider="CPUExecutionProvider") == ["CPUExecutionProvider"]
    if not gpu:
        with pytest.raises(EngineError, match="no CUDA execution provider"):
            providers_for("cuda")


def test_unloadable_model_is_an_engine_error(onnx_files, tmp_path):
    path = with_unknown_op(onnx_files["fp32"], tmp_path / "bad.onnx")
    with pytest.raises(EngineError, match="ONNX Runtime cannot load") as e:
        optimise(path, provider="CPUExecutionProvider")
    assert "NoSuchOp" in e.value.why
