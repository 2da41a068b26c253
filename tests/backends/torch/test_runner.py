"""The torch backend: checkpoints run as the FP32 reference; engines built from them run FP16 with an
FP32 head, channels_last and (on a real GPU) CUDA graphs. The GPU path is checked on a fake CUDA device."""
import numpy as np
import pytest
import torch
from helpers.fake_cuda import fake_cuda

from edgedepth.backends import build_engine, open_runner
from edgedepth.backends.container import read_engine
from edgedepth.errors import CheckpointError, EngineError

SIZE = (64, 64)  # ResNet reflection padding needs >= 2x2 deepest features


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    from edgedepth.checkpoint import save_checkpoint
    from edgedepth.config import Config, to_dict
    from edgedepth.models import build_depth_net_from_config

    cfg = Config()
    cfg.data.size = SIZE
    torch.manual_seed(0)
    net = build_depth_net_from_config(cfg.model).eval()
    path = tmp_path_factory.mktemp("ckpt") / "model.pt"
    save_checkpoint(path, {"config": to_dict(cfg), "models": {"depth": net.state_dict()}, "step": 0})
    return path, net


@pytest.fixture(scope="module")
def exported(checkpoint):
    """model.onnx next to model.pt, recording its name and sha256 (as `edgedepth export` does)."""
    from edgedepth.export import export_from_checkpoint

    out = checkpoint[0].parent / "model.onnx"
    export_from_checkpoint(checkpoint[0], out, size=SIZE, batch="dynamic")
    return out


@pytest.fixture
def images():
    return np.random.default_rng(0).random((2, 3, *SIZE), dtype=np.float32)


def reference(net, images):
    with torch.no_grad():
        return net.predict_depth(torch.from_numpy(images)).numpy()


def test_runs_the_checkpoint_depth_net(checkpoint, images):
    path, net = checkpoint
    with open_runner(path, device="cpu", threads=2) as runner:
        assert (runner.backend, runner.precision) == ("torch", "fp32")
        spec = runner.input_spec
        assert (spec.shape, spec.height, spec.width, spec.min_depth, spec.max_depth) == ((-1, 3, -1, -1), 64, 64, 0.5, 80.0)
        depth = runner.infer(images)
    assert depth.shape == (2, 1, 64, 64) and depth.dtype == np.float32
    np.testing.assert_allclose(depth, reference(net, images), rtol=1e-5, atol=1e-5)
    assert ((depth >= 0.5) & (depth <= 80.0)).all()


def test_bad_size_and_bad_checkpoint(checkpoint, tmp_path):
    with open_runner(checkpoint[0], device="cpu") as runner:
        with pytest.raises(EngineError, match="divisible by 32"):
            runner.infer(np.zeros((1, 3, 40, 64), np.float32))
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="bad.pt"):
        open_runner(bad)


def test_engine_finds_the_checkpoint_next_to_the_onnx(checkpoint, exported, images, tmp_path):
    out = tmp_path / "torch.engine"
    header = build_engine(exported, out, precision="fp32", backend="torch")
    assert header["backend"] == "torch" and header["checkpoint"] == str(checkpoint[0].resolve())
    assert header["options"]["cuda_graph"] and "--backend torch" in header["rebuild_command"]
    with open_runner(out, device="cpu") as runner:
        assert runner.input_spec.shape == (-1, 3, 64, 64) and not runner.cuda_graph  # graphs are for CUDA
        np.testing.assert_allclose(runner.infer(images), reference(checkpoint[1], images), rtol=1e-5, atol=1e-5)


def test_engine_refusals(checkpoint, exported, tmp_path):
    out = tmp_path / "torch.engine"
    with pytest.raises(EngineError, match="runs fp32 or fp16, not int8"):
        build_engine(exported, out, precision="int8", backend="torch", checkpoint=checkpoint[0])
    assert not out.exists()
    lone = tmp_path / "lone.onnx"
    lone.write_bytes(exported.read_bytes())  # no model.pt next to it
    with pytest.raises(EngineError, match="none was found") as e:
        build_engine(lone, out, precision="fp16", backend="torch")
    assert "--checkpoint" in e.value.fix
    build_engine(exported, out, precision="fp16", backend="torch")
    with pytest.raises(EngineError, match="FP16 in PyTorch needs a CUDA GPU"):
        open_runner(out, device="cpu")


def test_a_checkpoint_that_does_not_match_the_onnx_is_refused(checkpoint, exported, tmp_path):
    from helpers.tiny_onnx import add_metadata

    other = tmp_path / "other.onnx"
    other.write_bytes(exported.read_bytes())
    add_metadata(other, max_depth=50.0)
    with pytest.raises(EngineError, match="does not match"):
        build_engine(other, tmp_path / "m.engine", precision="fp32", backend="torch", checkpoint=checkpoint[0])


def test_fp16_channels_last_on_cuda_stays_within_one_percent(checkpoint, exported, images, tmp_path):
    """The GPU recipe (FP16 body, FP32 head, channels_last, pinned staging buffers) on a fake CUDA device."""
    from edgedepth.backends.torch import open_engine
    from edgedepth.backends.torch.runner import TorchRunner

    out = tmp_path / "fp16.engine"
    build_engine(exported, out, precision="fp16", backend="torch")
    engine = read_engine(out)
    engine.header["options"]["cuda_graph"] = False  # a graph needs a real GPU (benchmarks/gpu_smoke.sh)
    with fake_cuda():
        runner = open_engine(engine, device="cuda")
        assert isinstance(runner, TorchRunner) and runner.precision == "fp16" and runner.channels_last
        head = runner._net.decoder.heads[0]
        assert next(head.parameters()).dtype == torch.float32 and next(runner._net.encoder.parameters()).dtype == torch.float16
        depth = runner.infer(images)
    expected = reference(checkpoint[1], images)
    assert np.abs(depth - expected).max() / expected.max() < 0.01
    assert abs(float(np.mean(np.abs(depth - expected) / expected))) < 0.01


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU (benchmarks/gpu_smoke.sh runs it)")
def test_fp16_cuda_graph_on_a_real_gpu(checkpoint, exported, images, tmp_path):
    out = tmp_path / "fp16.engine"
    build_engine(exported, out, precision="fp16", backend="torch")
    expected = reference(checkpoint[1], images)
    with open_runner(out, device="cuda") as runner:
        assert runner.cuda_graph and runner.channels_last
        first, again = runner.infer(images), runner.infer(images)  # capture, then replay
        one = runner.infer(images[:1])  # another batch size: another graph
        on_device = runner.infer_device(torch.from_numpy(images).cuda()).cpu().numpy()
    np.testing.assert_array_equal(first, again)
    np.testing.assert_allclose(one, first[:1], rtol=1e-3)
    np.testing.assert_allclose(on_device, first, rtol=1e-3)
    assert float(np.mean(np.abs(first - expected) / expected)) < 0.01


def test_build_engine_from_a_checkpoint_alone(checkpoint, images, tmp_path):
    """No ONNX given: the torch backend exports the checkpoint first (at --size, else its training size)."""
    out = tmp_path / "m.engine"
    header = build_engine(None, out, precision="fp32", backend="onnxruntime", checkpoint=checkpoint[0], size=SIZE)
    assert header["onnx"] is None and header["checkpoint"] == str(checkpoint[0].resolve())
    assert "--checkpoint" in header["rebuild_command"] and "--onnx" not in header["rebuild_command"]
    with open_runner(out) as runner:
        np.testing.assert_allclose(runner.infer(images), reference(checkpoint[1], images), rtol=1e-4, atol=1e-4)
