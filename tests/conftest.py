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
