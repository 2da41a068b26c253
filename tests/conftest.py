import os

import pytest

os.environ.setdefault("EDGEDEPTH_NO_PROGRESS", "1")
# Two threads on the 2-core CI machine; set EDGEDEPTH_TEST_THREADS=1 when other jobs share the cores.
THREADS = int(os.environ.get("EDGEDEPTH_TEST_THREADS", "2"))


@pytest.fixture(autouse=True)
def _pin_threads():
    import torch

    torch.set_num_threads(THREADS)
    torch.manual_seed(0)
    yield
