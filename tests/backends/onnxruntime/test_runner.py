import numpy as np
import pytest

from helpers import tiny_onnx

from edgedepth.backends import build_engine, open_runner
from edgedepth.backends.container import read_engine, write_engine
from edgedepth.errors import EngineError


@pytest.mark.parametrize("kind", ["fp32", "fp32_static"])
def test_onnx_and_engine_match_pytorch(onnx_files, tmp_path, images, kind):
    engine = tmp_path / "m.engine"
    build_engine(onnx_files[kind], engine, precision="fp32", backend="onnxruntime")
    for path in (onnx_files[kind], engine):
        with open_runner(path, threads=1) as runner:
            tiny_onnx.check_runner(runner, images, batch=-1 if kind == "fp32" else 2)


def test_int8_engine_is_close_to_fp32(onnx_files, tmp_path, images):
    build_engine(onnx_files["int8"], tmp_path / "m.engine", precision="int8", backend="onnxruntime")
    with open_runner(tmp_path / "m.engine") as runner:
        depth = runner.infer(images)
    assert runner.precision == "int8"
    reference = tiny_onnx.reference_depth(images)
    assert np.median(np.abs(depth - reference) / reference) < 0.1


def test_engine_from_another_onnxruntime_version_is_refused(onnx_files, tmp_path):
    path = tmp_path / "m.engine"
    build_engine(onnx_files["fp32"], path, precision="fp32", backend="onnxruntime")
    engine = read_engine(path)
    header, payload = engine.header, engine.payload
    write_engine(path, {**header, "backend_version": "1.0.0"}, payload)
    with pytest.raises(EngineError, match="built with onnxruntime 1.0.0") as e:
        open_runner(path)
    assert e.value.fix.endswith(header["rebuild_command"])
    write_engine(path, {**header, "options": {"provider": "CUDAExecutionProvider"}}, payload)
    import onnxruntime as ort

    if "CUDAExecutionProvider" not in ort.get_available_providers():
        with pytest.raises(EngineError, match="optimised for the CUDAExecutionProvider"):
            open_runner(path)


def test_truncated_engine_is_refused(onnx_files, tmp_path):
    path = tmp_path / "m.engine"
    header = build_engine(onnx_files["fp32"], path, precision="fp32", backend="onnxruntime")
    path.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(EngineError, match="truncated or corrupt") as e:
        open_runner(path)
    assert header["rebuild_command"] in e.value.fix


def test_cuda_device_without_cuda_provider(onnx_files):
    import onnxruntime as ort

    if "CUDAExecutionProvider" in ort.get_available_providers():
        pytest.skip("this onnxruntime has CUDA")
    with pytest.raises(EngineError, match="no CUDA execution provider"):
        open_runner(onnx_files["fp32"], device="cuda")
    with pytest.raises(EngineError, match="unknown device"):
        open_runner(onnx_files["fp32"], device="npu")


def test_a_foreign_onnx_without_the_contract_is_refused(onnx_files, tmp_path):
    from helpers.tiny_onnx import drop_metadata

    foreign = tmp_path / "foreign.onnx"
    foreign.write_bytes(onnx_files["fp32"].read_bytes())
    drop_metadata(foreign, ("min_depth", "max_depth"))
    with pytest.raises(Exception, match="lacks the metadata min_depth, max_depth"):
        open_runner(foreign)
