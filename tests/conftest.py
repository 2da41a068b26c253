import os
import tempfile

import pytest

os.environ.setdefault("EDGEDEPTH_NO_PROGRESS", "1")
# The render cache of this test session: a fresh folder (inherited by subprocesses such as the DDP
# test), so no test reads or fills the user's cache. Tests of the cache itself use their own tmp_path.
_SESSION_CACHE = tempfile.TemporaryDirectory(prefix="edgedepth-test-cache-")
os.environ["EDGEDEPTH_CACHE_DIR"] = _SESSION_CACHE.name
# Two threads on the 2-core CI machine; set EDGEDEPTH_TEST_THREADS=1 when other jobs share the cores.
THREADS = int(os.environ.get("EDGEDEPTH_TEST_THREADS", "2"))


@pytest.fixture(autouse=True)
def _pin_threads():
    import torch

    torch.set_num_threads(THREADS)
    torch.manual_seed(0)
    yield


@pytest.fixture(scope="session")
def onnx_files(tmp_path_factory):
    """Real tiny ONNX files (32x64): fp32 (dynamic batch), fp32 with static batch 2, fp16 and Q/DQ int8."""
    from helpers.tiny_onnx import export_tiny

    root = tmp_path_factory.mktemp("onnx")
    return {
        "fp32": export_tiny(root / "fp32.onnx"),
        "fp32_static": export_tiny(root / "fp32_static.onnx", dynamic=False, batch=2),
        "fp16": export_tiny(root / "fp16.onnx", precision="fp16"),
        "int8": export_tiny(root / "int8.onnx", precision="int8"),
    }


@pytest.fixture
def images():
    import numpy as np

    return np.random.default_rng(0).random((3, 3, 32, 64), dtype=np.float32)
