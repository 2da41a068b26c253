import importlib.util
import sys
from pathlib import Path

import pytest


def _load(name: str):
    """Register a helper module of this folder by path, so tests can `import` it under any --import-mode."""
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, Path(__file__).with_name(f"{name}.py"))
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        sys.modules[name] = module
    return sys.modules[name]


depth_onnx = _load("depth_onnx")
_load("fake_tensorrt")


@pytest.fixture(scope="session")
def onnx_files(tmp_path_factory):
    """Real ONNX files: fp32 (dynamic batch), fp32 with static batch 2, fp16 and Q/DQ int8."""
    root = tmp_path_factory.mktemp("onnx")
    return {
        "fp32": depth_onnx.export_tiny(root / "fp32.onnx"),
        "fp32_static": depth_onnx.export_tiny(root / "fp32_static.onnx", dynamic=False, batch=2),
        "fp16": depth_onnx.export_tiny(root / "fp16.onnx", precision="fp16"),
        "int8": depth_onnx.export_tiny(root / "int8.onnx", precision="int8"),
    }
