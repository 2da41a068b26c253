import pytest

from edgedepth.backends import open_runner


@pytest.fixture(scope="session")
def tiny_onnx(onnx_files):
    return onnx_files["fp32"]


@pytest.fixture
def tiny_runner(tiny_onnx):
    with open_runner(tiny_onnx, backend="onnxruntime", device="cpu", threads=1) as runner:
        yield runner
