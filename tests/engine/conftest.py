import pytest

from depth_onnx import export_tiny  # tests/engine is on sys.path (rootdir-relative conftest import)


@pytest.fixture(scope="session")
def onnx_files(tmp_path_factory):
    """Real ONNX files: fp32 (dynamic batch), fp32 with static batch 2, fp16 and Q/DQ int8."""
    root = tmp_path_factory.mktemp("onnx")
    return {
        "fp32": export_tiny(root / "fp32.onnx"),
        "fp32_static": export_tiny(root / "fp32_static.onnx", dynamic=False, batch=2),
        "fp16": export_tiny(root / "fp16.onnx", precision="fp16"),
        "int8": export_tiny(root / "int8.onnx", precision="int8"),
    }
