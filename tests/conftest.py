import os

import pytest

os.environ.setdefault("EDGEDEPTH_NO_PROGRESS", "1")


@pytest.fixture(autouse=True)
def _pin_threads():
    import torch

    torch.set_num_threads(2)
    torch.manual_seed(0)
    yield
