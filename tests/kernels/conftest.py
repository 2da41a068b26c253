import os

import pytest
import torch


@pytest.fixture
def require_ops():
    """The compiled operators: skip without them, except in CI (env CI set), where that fails."""
    from edgedepth.kernels import ops

    if not ops.load():
        if os.environ.get("CI"):
            pytest.fail(f"compiled edgedepth operators missing in CI: {ops.load_error()}")
        pytest.skip(f"compiled edgedepth operators not built: {ops.load_error()}")
    return torch.ops.edgedepth
