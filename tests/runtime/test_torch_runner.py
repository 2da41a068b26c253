import numpy as np
import pytest
import torch

from edgedepth.errors import CheckpointError, EngineError
from edgedepth.runtime import open_runner


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    pytest.importorskip("edgedepth.models", reason="edgedepth.models is needed to rebuild the network")
    from edgedepth.checkpoint import save_checkpoint
    from edgedepth.config import Config, to_dict
    from edgedepth.models import build_depth_net_from_config

    cfg = Config()
    cfg.data.size = (64, 64)  # ResNet reflection padding needs >= 2x2 deepest features
    torch.manual_seed(0)
    net = build_depth_net_from_config(cfg.model).eval()
    path = tmp_path_factory.mktemp("ckpt") / "model.pt"
    save_checkpoint(path, {"config": to_dict(cfg), "models": {"depth": net.state_dict()}, "step": 0})
    return path, net


def test_runs_the_checkpoint_depth_net(checkpoint):
    path, net = checkpoint
    images = np.random.default_rng(0).random((2, 3, 64, 64), dtype=np.float32)
    with open_runner(path, device="cpu", threads=2) as runner:
        assert (runner.backend, runner.precision) == ("torch", "fp32")
        spec = runner.input_spec
        assert (spec.shape, spec.height, spec.width, spec.min_depth, spec.max_depth) == ((-1, 3, -1, -1), 64, 64, 0.5, 80.0)
        depth = runner.infer(images)
    with torch.no_grad():
        expected = net.predict_depth(torch.from_numpy(images)).numpy()
    assert depth.shape == (2, 1, 64, 64) and depth.dtype == np.float32
    np.testing.assert_allclose(depth, expected, rtol=1e-5, atol=1e-5)
    assert ((depth >= 0.5) & (depth <= 80.0)).all()


def test_bad_size_and_bad_checkpoint(checkpoint, tmp_path):
    with open_runner(checkpoint[0], device="cpu") as runner:
        with pytest.raises(EngineError, match="divisible by 32"):
            runner.infer(np.zeros((1, 3, 40, 64), np.float32))
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="bad.pt"):
        open_runner(bad)
