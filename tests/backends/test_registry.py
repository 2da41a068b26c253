import subprocess
import sys

import numpy as np
import pytest

from edgedepth.backends import BACKENDS, InputSpec, Runner, choose_backend, load_backend, open_runner, rank_backends
from edgedepth.backends.onnxruntime.runner import OnnxRuntimeRunner
from edgedepth.errors import EngineError


class RecordingRunner(Runner):
    backend = "test"

    def __init__(self, batch: int, max_batch=None):
        self.max_batch, self.chunks = max_batch, []
        self._spec = InputSpec("image", (batch, 3, 4, 8), "float32", 4, 8, 0.5, 80.0)

    @property
    def input_spec(self):
        return self._spec

    def _run(self, images):
        self.chunks.append(len(images))
        return images[:, :1] * 2


def test_fixed_batch_pads_the_last_chunk():
    runner = RecordingRunner(batch=2)
    images = np.random.default_rng(0).random((5, 3, 4, 8), dtype=np.float32)
    out = runner.infer(images)
    assert runner.chunks == [2, 2, 2] and out.shape == (5, 1, 4, 8) and out.dtype == np.float32
    np.testing.assert_array_equal(out, images[:, :1] * 2)


def test_dynamic_batch_splits_at_max_batch():
    runner = RecordingRunner(batch=-1, max_batch=4)
    runner.infer(np.zeros((9, 3, 4, 8), np.float64))  # float64 is accepted and cast
    assert runner.chunks == [4, 4, 1]
    unlimited = RecordingRunner(batch=-1)
    unlimited.infer(np.zeros((9, 3, 4, 8), np.float32))
    assert unlimited.chunks == [9]


@pytest.mark.parametrize("images, message", [
    (np.zeros((1, 3, 4, 8), np.uint8), "dtype uint8"),
    (np.zeros((1, 3, 8, 8), np.float32), r"shape \[1, 3, 8, 8\]; this model takes Nx3x4x8"),
    (np.zeros((3, 4, 8), np.float32), "shape"),
    (np.zeros((0, 3, 4, 8), np.float32), "shape"),
])
def test_bad_images(images, message):
    with pytest.raises(EngineError, match=message):
        RecordingRunner(batch=-1).infer(images)


def test_open_runner_dispatches_on_the_file(onnx_files, tmp_path):
    from edgedepth.backends import build_engine

    with open_runner(onnx_files["fp32"]) as runner:
        assert isinstance(runner, OnnxRuntimeRunner) and runner.precision == "fp32"
    build_engine(onnx_files["int8"], tmp_path / "m.engine", precision="int8", backend="onnxruntime")
    with open_runner(tmp_path / "m.engine", backend="onnxruntime") as runner:
        assert runner.backend == "onnxruntime" and runner.precision == "int8"


def test_open_runner_errors(onnx_files, tmp_path):
    with pytest.raises(EngineError, match="does not exist"):
        open_runner(tmp_path / "none.engine")
    other = tmp_path / "model.bin"
    other.write_bytes(b"123")
    with pytest.raises(EngineError, match="cannot tell what"):
        open_runner(other)
    with pytest.raises(EngineError, match="runs on onnxruntime, not tensorrt") as e:
        open_runner(onnx_files["fp32"], backend="tensorrt")
    assert "edgedepth build-engine --onnx" in e.value.fix
    with pytest.raises(EngineError, match="unknown runtime backend"):
        open_runner(onnx_files["fp32"], backend="tvm")


def test_deploy_half_imports_no_training_stack():
    code = (
        "import sys, edgedepth.backends, edgedepth.backends.build, edgedepth.backends.tensorrt.builder, edgedepth.backends.torch, "
        "edgedepth.backends.onnxruntime.runner, edgedepth.backends.tensorrt.runner, edgedepth.backends.openvino.builder, "
        "edgedepth.backends.openvino.runner, edgedepth.cli.engine\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'torchvision', 'tensorboard') "
        "or m.startswith(('edgedepth.losses', 'edgedepth.train')))\n"
        "assert not bad, bad"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_every_backend_implements_the_interface():
    for name in BACKENDS:
        module = load_backend(name)
        for function in ("suitability", "build", "open_engine", "open_file"):
            assert callable(getattr(module, function, None)), f"{name} lacks {function}"


CPU_BOX = {"gpu": None, "cpu": "Some CPU", "cpu_vendor": "amd", "cpu_features": ["avx2"]}
GPU_BOX = {"gpu": {"name": "H100", "compute_capability": "9.0"}, "cpu": "Some CPU", "cpu_vendor": "intel", "cpu_features": []}


def test_auto_on_a_cpu_prefers_onnxruntime_over_torch_and_never_tensorrt():
    scores = rank_backends("fp32", machine=CPU_BOX)
    assert "tensorrt" not in scores and scores["onnxruntime"] > scores.get("torch", -1)
    assert "torch" not in rank_backends("fp16", machine=CPU_BOX)  # PyTorch FP16 on a CPU is ~70x slower
    assert choose_backend("int8", machine=CPU_BOX, candidates=("onnxruntime", "torch")) == "onnxruntime"


def test_auto_on_a_gpu_prefers_tensorrt_then_onnxruntime_cuda_then_torch(monkeypatch):
    import sys

    from helpers.fake_tensorrt import FakeTensorRT

    torch_backend = load_backend("torch")
    monkeypatch.setattr(torch_backend, "_cuda_torch", lambda: True)
    assert choose_backend("fp16", machine=GPU_BOX, candidates=("onnxruntime", "torch")) == "torch"  # ORT here is CPU-only
    monkeypatch.setitem(sys.modules, "tensorrt", FakeTensorRT("10.3.0"))
    assert choose_backend("fp16", machine=GPU_BOX) == "tensorrt"


def test_no_backend_for_the_precision_is_a_clear_error():
    with pytest.raises(EngineError, match="no installed backend can run int8"):
        choose_backend("int8", machine=CPU_BOX, candidates=("torch",))
