"""The TensorRT runner's refusals and plumbing, checked without a GPU with a fake tensorrt module."""
import contextlib
import sys

import numpy as np
import pytest
import torch

from helpers.fake_tensorrt import FakeTensorRT, fake_cudart

from edgedepth import device as device_probe
from edgedepth.backends import build_engine, open_runner
from edgedepth.backends.container import read_engine, rebuild_command, rebuild_hint, write_engine
from edgedepth.backends.tensorrt import runner as runner_module
from edgedepth.backends.tensorrt import usable
from edgedepth.backends.tensorrt.runner import TensorRTRunner
from edgedepth.errors import EngineError

ORIN = {"name": "Orin", "compute_capability": "8.7"}
REBUILD = rebuild_command(onnx="model.onnx", out="m.engine", precision="fp16", backend="tensorrt")


@pytest.fixture
def trt_engine(tmp_path):
    header = {
        "edgedepth_version": "0.1.0", "backend": "tensorrt", "backend_version": "10.3.0", "device": ORIN,
        "precision": "fp16", "input_name": "image", "input_shape": [-1, 3, 32, 64], "batch_range": [1, 8],
        "output_name": "depth", "height": 32, "width": 64, "preprocessing": "rgb01", "min_depth": 0.5, "max_depth": 80.0,
        "onnx_sha256": "0" * 64, "build_time": "2026-01-01T00:00:00+00:00", "rebuild_command": REBUILD,
    }
    path = tmp_path / "m.engine"
    write_engine(path, header, b"FAKE-PLAN")
    return path


@pytest.fixture
def machine(monkeypatch):
    def set_up(version="10.3.0", device=ORIN, **kwargs):
        trt = FakeTensorRT(version, **kwargs)
        monkeypatch.setitem(sys.modules, "tensorrt", trt)
        monkeypatch.setattr(device_probe, "cuda_device", lambda: device)
        return trt
    return set_up


@pytest.mark.parametrize("version, device, message", [
    ("10.4.0", ORIN, "built with tensorrt 10.3.0, but this machine has 10.4.0"),
    ("11.4.1", ORIN, "built with tensorrt 10.3.0, but this machine has 11.4.1"),
    ("10.3.0", {"name": "NVIDIA H100", "compute_capability": "9.0"}, r"built for Orin \(compute capability 8.7\), but this machine has NVIDIA H100"),
    ("10.3.0", None, "this machine has no CUDA GPU"),
])
def test_mismatch_is_refused_with_the_rebuild_command(trt_engine, machine, version, device, message):
    trt = machine(version, device)
    with pytest.raises(EngineError, match=message) as e:
        open_runner(trt_engine)
    assert e.value.fix == f"rebuild it on this machine: {rebuild_hint({'rebuild_command': REBUILD}, trt_engine)}"
    assert not trt.called("deserialize_cuda_engine")  # refused before TensorRT sees the plan


def test_plan_tensorrt_rejects_is_an_engine_error(trt_engine, machine):
    trt = machine(engine_ok=False)
    with pytest.raises(EngineError, match="could not deserialise") as e:
        TensorRTRunner(read_engine(trt_engine))
    assert rebuild_hint({'rebuild_command': REBUILD}, trt_engine) in e.value.fix
    assert trt.called("deserialize_cuda_engine") == [("deserialize_cuda_engine", b"FAKE-PLAN")]


def test_wrong_backend_and_cpu_device(trt_engine, onnx_files, tmp_path, machine):
    machine()
    with pytest.raises(EngineError, match="runs on a CUDA GPU only"):
        open_runner(trt_engine, device="cpu")
    build_engine(onnx_files["fp32"], tmp_path / "ort.engine", precision="fp32", backend="onnxruntime")
    with pytest.raises(EngineError, match="is a onnxruntime engine, not a TensorRT one"):
        TensorRTRunner(read_engine(tmp_path / "ort.engine"))


def test_real_tensorrt_matches_onnxruntime(onnx_files, tmp_path, images):
    if not usable() or device_probe.cuda_device() is None:
        pytest.skip("needs TensorRT and a CUDA GPU (an NVIDIA GPU machine)")
    build_engine(onnx_files["fp32"], tmp_path / "m.engine", precision="fp32", backend="tensorrt", timing_cache=tmp_path / "t.cache")
    with open_runner(onnx_files["fp32"]) as ort_runner:
        reference = ort_runner.infer(images)
    for cuda_graph in (False, True):
        with TensorRTRunner(read_engine(tmp_path / "m.engine"), cuda_graph=cuda_graph) as runner:
            np.testing.assert_allclose(runner.infer(images), reference, rtol=1e-3, atol=1e-3)
            np.testing.assert_allclose(runner.infer(images[:1]), reference[:1], rtol=1e-3, atol=1e-3)


@pytest.fixture
def cuda_python(monkeypatch):
    """A fake cuda-python runtime, and torch without CUDA, so the runner takes the cuda-python path."""
    cudart = fake_cudart()
    bindings = type(sys)("cuda.bindings")
    bindings.runtime = cudart
    monkeypatch.setitem(sys.modules, "cuda", type(sys)("cuda"))
    monkeypatch.setitem(sys.modules, "cuda.bindings", bindings)
    monkeypatch.setitem(sys.modules, "cuda.bindings.runtime", cudart)
    monkeypatch.setattr("torch.cuda.is_available", lambda: False)
    return cudart


def test_runner_plumbing_with_cuda_python_buffers(trt_engine, machine, cuda_python):
    trt = machine()
    images = np.random.default_rng(0).random((11, 3, 32, 64), dtype=np.float32)
    with open_runner(trt_engine) as runner:
        assert runner.input_spec.shape == (-1, 3, 32, 64) and runner.precision == "fp16" and runner.max_batch == 8
        depth = runner.infer(images)
    np.testing.assert_allclose(depth, 10 * images.mean(axis=1, keepdims=True), rtol=1e-6)
    # buffers are sized at the profile maximum (8); 11 images run as 8 + 3, each with its own input shape, on one stream
    assert [c[2][0] for c in trt.called("set_input_shape")] == [8, 8, 3]
    assert trt.called("execute_async_v3") == [("execute_async_v3", 7)] * 2
    assert [k for k, _ in cuda_python.copies] == ["H2D", "D2H", "H2D", "D2H"]
    assert len(cuda_python.allocations) == 2 and sorted(cuda_python.freed) == sorted(cuda_python.allocations)  # freed on close


def test_static_engine_pads_to_its_batch(trt_engine, machine, cuda_python, tmp_path):
    engine = read_engine(trt_engine)
    header, plan = engine.header, engine.payload
    write_engine(trt_engine, {**header, "input_shape": [2, 3, 32, 64], "batch_range": [2, 2]}, plan)
    trt = machine(static_shape=(2, 3, 32, 64))
    images = np.random.default_rng(1).random((3, 3, 32, 64), dtype=np.float32)
    with open_runner(trt_engine) as runner:
        assert runner.input_spec.shape == (2, 3, 32, 64)
        depth = runner.infer(images)
    np.testing.assert_allclose(depth, 10 * images.mean(axis=1, keepdims=True), rtol=1e-6)
    assert not trt.called("set_input_shape") and len(trt.called("execute_async_v3")) == 2


def test_cuda_graph_needs_torch_cuda(trt_engine, machine, cuda_python):
    machine()
    with pytest.raises(EngineError, match="CUDA graph capture needs torch with CUDA"):
        TensorRTRunner(read_engine(trt_engine), cuda_graph=True)


def test_every_io_tensor_the_engine_declares_is_bound(trt_engine, machine, cuda_python):
    # an engine with two more outputs: unbound, execute_async_v3 would fail
    io = [("image", "INPUT", "FLOAT", (-1, 3, 32, 64)), ("disparity", "OUTPUT", "FLOAT", (-1, 1, 32, 64)),
          ("depth", "OUTPUT", "FLOAT", (-1, 1, 32, 64)), ("logits", "OUTPUT", "HALF", (-1, 4))]
    machine(io=io)
    images = np.random.default_rng(2).random((2, 3, 32, 64), dtype=np.float32)
    with open_runner(trt_engine) as runner:
        np.testing.assert_allclose(runner.infer(images), 10 * images.mean(axis=1, keepdims=True), rtol=1e-6)
    # each buffer holds the largest batch (8) of its tensor, in its own data type
    assert sorted(b.nbytes for b in cuda_python.allocations.values()) == sorted([8 * 3 * 32 * 64 * 4, 8 * 32 * 64 * 4, 8 * 32 * 64 * 4, 8 * 4 * 2])


@pytest.mark.parametrize("io, message", [
    ([("image", "INPUT", "FLOAT", (-1, 3, 32, 64)), ("mask", "INPUT", "FLOAT", (-1, 1, 32, 64)), ("depth", "OUTPUT", "FLOAT", (-1, 1, 32, 64))],
     r"has inputs \['image', 'mask'\]"),
    ([("input", "INPUT", "FLOAT", (-1, 3, 32, 64)), ("depth", "OUTPUT", "FLOAT", (-1, 1, 32, 64))], r"has inputs \['input'\]"),
    ([("image", "INPUT", "FLOAT", (-1, 3, 32, 64)), ("depth", "OUTPUT", "HALF", (-1, 1, 32, 64))], "tensor 'depth' is not float32"),
])
def test_engine_io_other_than_image_and_depth_is_refused(trt_engine, machine, cuda_python, io, message):
    machine(io=io)
    with pytest.raises(EngineError, match=message):
        open_runner(trt_engine)
    assert not cuda_python.allocations  # refused before any device memory


def test_failed_execution_is_an_engine_error(trt_engine, machine, cuda_python):
    machine(execute_ok=False)
    with open_runner(trt_engine) as runner, pytest.raises(EngineError, match="TensorRT execution failed"):
        runner.infer(np.zeros((1, 3, 32, 64), np.float32))


class _HostTorchMemory(runner_module._TorchMemory):
    """The torch buffers on the CPU, so the CUDA-graph path runs without a GPU."""

    def allocate(self, name, nbytes):
        self.tensors[name] = torch.zeros(nbytes, dtype=torch.uint8)
        return self.tensors[name].data_ptr()


@pytest.fixture
def host_torch(monkeypatch):
    """torch "with CUDA" whose streams and graphs only record: a graph replay is counted, not run."""
    events = []

    class Stream:
        cuda_stream = 5

        def synchronize(self):
            events.append("synchronize")

        def wait_stream(self, other):
            pass

    class Graph:
        def replay(self):
            events.append("replay")

    @contextlib.contextmanager
    def capture(graph, stream):
        events.append("capture")
        yield

    for name, value in (("Stream", Stream), ("CUDAGraph", Graph), ("graph", capture), ("stream", lambda s: contextlib.nullcontext())):
        monkeypatch.setattr(torch.cuda, name, value)
    monkeypatch.setattr(runner_module, "_torch_cuda", lambda: True)
    monkeypatch.setattr(runner_module, "_memory", _HostTorchMemory)
    return events


def test_cuda_graph_captures_once_per_batch_and_checks_every_enqueue(trt_engine, machine, host_torch):
    trt = machine()
    images = np.random.default_rng(3).random((2, 3, 32, 64), dtype=np.float32)
    with TensorRTRunner(read_engine(trt_engine), cuda_graph=True) as runner:
        np.testing.assert_allclose(runner.infer(images), 10 * images.mean(axis=1, keepdims=True), rtol=1e-6)
        runner.infer(images)
    # warm-up and capture enqueue once each for batch 2; later calls replay the graph
    assert len(trt.called("execute_async_v3")) == 2
    assert [e for e in host_torch if e != "synchronize"] == ["capture", "replay", "replay"]
    machine(execute_ok=False)
    with TensorRTRunner(read_engine(trt_engine), cuda_graph=True) as runner, pytest.raises(EngineError, match="TensorRT execution failed"):
        runner.infer(images)
