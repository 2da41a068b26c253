import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from tiny_model import export_tiny_onnx  # noqa: E402

from edgedepth.runtime import open_runner  # noqa: E402


@pytest.fixture(scope="session")
def tiny_onnx(tmp_path_factory):
    return export_tiny_onnx(tmp_path_factory.mktemp("model") / "tiny.onnx")


@pytest.fixture
def tiny_runner(tiny_onnx):
    with open_runner(tiny_onnx, backend="onnxruntime", device="cpu", threads=1) as runner:
        yield runner
