import subprocess
import sys

import numpy as np
import pytest

pytest.importorskip("openvino", reason="the openvino backend needs `pip install openvino` (the openvino extra)")

from helpers import tiny_onnx  # noqa: E402

from edgedepth import device as device_probe  # noqa: E402
from edgedepth.backends import build_engine, open_runner  # noqa: E402
from edgedepth.backends.container import read_engine, write_engine  # noqa: E402
from edgedepth.backends.openvino.builder import version  # noqa: E402
from edgedepth.backends.openvino.runner import OpenVinoRunner  # noqa: E402
from edgedepth.errors import EngineError  # noqa: E402


@pytest.fixture(scope="module")
def engines(onnx_files, tmp_path_factory):
    root = tmp_path_factory.mktemp("openvino")
    for kind, precision in (("fp32", "fp32"), ("fp32_static", "fp32"), ("int8", "int8")):
        build_engine(onnx_files[kind], root / f"{kind}.engine", precision=precision, backend="openvino")
    return root


@pytest.mark.parametrize("kind", ["fp32", "fp32_static"])
def test_onnx_and_engine_match_pytorch(onnx_files, engines, images, kind):
    for path in (onnx_files[kind], engines / f"{kind}.engine"):
        with open_runner(path, backend="openvino", threads=1) as runner:
            assert isinstance(runner, OpenVinoRunner) and runner.precision == "fp32" and runner.threads == 1
            tiny_onnx.check_runner(runner, images, batch=-1 if kind == "fp32" else 2)


def test_int8_runs_close_to_fp32_and_to_onnxruntime_int8(onnx_files, engines, images):
    with open_runner(engines / "int8.engine", threads=1) as runner:
        assert runner.backend == "openvino" and runner.precision == "int8"
        depth = runner.infer(images)
    with open_runner(onnx_files["int8"], backend="onnxruntime", threads=1) as ort_runner:
        ort_depth = ort_runner.infer(images)
    reference = tiny_onnx.reference_depth(images)
    assert np.median(np.abs(depth - reference) / reference) < 0.1
    assert np.median(np.abs(depth - ort_depth) / ort_depth) < 0.02  # the same Q/DQ graph, other integer kernels


def test_compiled_models_are_cached(engines, openvino_cache, images, monkeypatch):
    assert len(list(openvino_cache.glob("*.blob"))) >= 3  # one per engine, written when the build compiled it
    monkeypatch.setenv("XDG_CACHE_HOME", "/proc/no-cache-here")  # not creatable: compile without a cache
    with open_runner(engines / "fp32.engine", threads=1) as runner:
        assert runner.infer(images).shape == (3, 1, 32, 64)


def test_outputs_are_not_overwritten_by_the_next_run(engines, images):
    with open_runner(engines / "fp32.engine", threads=1) as runner:
        first = runner.infer(images[:1])
        kept = first.copy()
        runner.infer(images[1:2])
    np.testing.assert_array_equal(first, kept)


def rewrite_header(path, **changes):
    engine = read_engine(path)
    write_engine(path, {**engine.header, **changes}, engine.payload)
    return engine.header


def test_engine_from_a_newer_openvino_is_refused_an_older_one_runs(engines, tmp_path):
    path = tmp_path / "m.engine"
    path.write_bytes((engines / "fp32.engine").read_bytes())
    year, release = (int(v) for v in version().split(".")[:2])
    header = rewrite_header(path, backend_version=f"{year}.{release + 1}.0")
    with pytest.raises(EngineError, match=f"built with openvino {year}.{release + 1}.0") as e:
        open_runner(path)
    assert e.value.fix.startswith("rebuild it on this machine") and header["rebuild_command"].split("--out")[0] in e.value.fix
    rewrite_header(path, backend_version=f"{year - 1}.4.0")
    with open_runner(path) as runner:
        assert runner.backend == "openvino"


def test_bf16_engine_on_a_cpu_without_bf16_is_refused(engines, tmp_path, monkeypatch):
    path = tmp_path / "m.engine"
    path.write_bytes((engines / "fp32.engine").read_bytes())
    rewrite_header(path, precision="bf16", device={"name": "Xeon with AMX", "compute_capability": None, "cpu_features": ["amx_bf16"]})
    monkeypatch.setattr(device_probe, "cpu_features", lambda: ("avx2",))
    with pytest.raises(EngineError, match="is bf16, but this CPU .* has no BF16 instructions") as e:
        open_runner(path)
    assert "Xeon with AMX" in e.value.why and "--precision fp32" in e.value.fix


def test_a_payload_that_is_not_ir_is_refused(engines, tmp_path):
    path = tmp_path / "m.engine"
    write_engine(path, read_engine(engines / "fp32.engine").header, b"not a zip")
    with pytest.raises(EngineError, match="holds no OpenVINO IR") as e:
        open_runner(path)
    assert "--backend openvino" in e.value.fix


def test_cuda_is_refused(onnx_files, engines):
    for path in (onnx_files["fp32"], engines / "fp32.engine"):
        with pytest.raises(EngineError, match="runs .* on the CPU, and device 'cuda' was asked"):
            open_runner(path, backend="openvino", device="cuda")


def main_thread_alternate_stack_is_mapped() -> bool:
    """Whether the alternate signal stack of this (the main) thread, if any, lies in mapped memory (Linux)."""
    import ctypes

    class Stack(ctypes.Structure):
        _fields_ = [("sp", ctypes.c_void_p), ("flags", ctypes.c_int), ("size", ctypes.c_size_t)]

    stack = Stack()
    assert ctypes.CDLL(None).sigaltstack(None, ctypes.byref(stack)) == 0
    if not stack.sp or stack.flags & 2:  # SS_DISABLE
        return True
    ranges = (line.split()[0].split("-") for line in open("/proc/self/maps"))
    return any(int(low, 16) <= stack.sp < int(high, 16) for low, high in ranges)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/maps")
def test_signals_still_have_a_stack_after_runners_come_and_go(onnx_files, engines, images):
    import gc

    # The CPU plugin swaps the thread's alternate signal stack; one plugin per model, freed out of
    # order, left it in unmapped memory, and the next Ctrl+C was a SIGSEGV.
    first = open_runner(engines / "fp32.engine", threads=1)
    second = open_runner(onnx_files["int8"], backend="openvino", threads=1)
    first.infer(images), second.infer(images)
    del first
    gc.collect()
    third = open_runner(engines / "int8.engine", threads=1)
    del second, third
    gc.collect()
    assert main_thread_alternate_stack_is_mapped()


def test_build_and_run_import_no_torch(onnx_files, tmp_path):
    code = (
        "import sys, numpy as np\n"
        "from edgedepth.backends import build_engine, open_runner\n"
        f"build_engine({str(onnx_files['int8'])!r}, {str(tmp_path / 'm.engine')!r}, precision='int8', backend='openvino')\n"
        f"open_runner({str(tmp_path / 'm.engine')!r}, threads=1).infer(np.zeros((1, 3, 32, 64), np.float32))\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'torchvision') or m.startswith(('edgedepth.train', 'edgedepth.models')))\n"
        "assert not bad, bad"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
