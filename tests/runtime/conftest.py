import importlib.util
import sys
from pathlib import Path

import pytest

_ENGINE_TESTS = Path(__file__).resolve().parents[1] / "engine"


def _load(name: str):
    """The shared test helpers of tests/engine (ONNX factory, fake tensorrt), loaded by path."""
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, _ENGINE_TESTS / f"{name}.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        sys.modules[name] = module
    return sys.modules[name]


depth_onnx = _load("depth_onnx")
fake_tensorrt = _load("fake_tensorrt")


@pytest.fixture(scope="session")
def onnx_files(tmp_path_factory):
    root = tmp_path_factory.mktemp("onnx")
    return {
        "fp32": depth_onnx.export_tiny(root / "fp32.onnx"),
        "fp32_static": depth_onnx.export_tiny(root / "fp32_static.onnx", dynamic=False, batch=2),
        "int8": depth_onnx.export_tiny(root / "int8.onnx", precision="int8"),
    }


@pytest.fixture
def images():
    import numpy as np

    return np.random.default_rng(0).random((3, 3, 32, 64), dtype=np.float32)
