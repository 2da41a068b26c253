import subprocess
import sys

import numpy as np
import pytest

from edgedepth.errors import EngineError
from edgedepth.runtime import InputSpec, Runner, open_runner
from edgedepth.runtime.onnxruntime_runner import OnnxRuntimeRunner


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
    from edgedepth.engine import build_engine

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
        "import sys, edgedepth.engine, edgedepth.engine.build, edgedepth.engine.tensorrt_builder, edgedepth.runtime, "
        "edgedepth.runtime.onnxruntime_runner, edgedepth.runtime.tensorrt_runner, edgedepth.runtime.torch_runner, edgedepth.cli.engine\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'torchvision', 'tensorboard') "
        "or m.startswith(('edgedepth.losses', 'edgedepth.train')))\n"
        "assert not bad, bad"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
