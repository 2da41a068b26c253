import shutil
import sys
from types import ModuleType

import numpy as np
import onnxruntime as ort
import pytest

from helpers.fake_tensorrt import FakeTensorRT

from edgedepth import device as device_probe
from edgedepth.backends import build_engine
from edgedepth.backends.container import read_engine
from edgedepth.contract import file_sha256
from edgedepth.errors import EdgedepthError, EngineError

ORIN = {"name": "Orin", "compute_capability": "8.7"}


def run_onnx(model, images):
    session = ort.InferenceSession(model, providers=["CPUExecutionProvider"])
    return session.run(None, {"image": images})[0]


@pytest.fixture
def images():
    return np.random.default_rng(0).random((2, 3, 32, 64), dtype=np.float32)


@pytest.fixture
def fake_export(monkeypatch, onnx_files):
    """edgedepth.export replaced by stand-ins that copy the prepared FP16 / Q/DQ files and record calls."""
    calls = []
    fp16, quantize = ModuleType("edgedepth.export.fp16"), ModuleType("edgedepth.export.quantize")
    calibration = ModuleType("edgedepth.export.calibration")

    def convert_fp16(onnx_in, onnx_out):
        calls.append(("convert_fp16", str(onnx_in)))
        shutil.copy(onnx_files["fp16"], onnx_out)

    def convert_qdq_fp16(onnx_in, onnx_out):
        calls.append(("convert_qdq_fp16", str(onnx_in)))
        shutil.copy(onnx_in, onnx_out)

    def quantize_int8(onnx_in, onnx_out, *, calibration_images):
        calls.append(("quantize_int8", str(onnx_in), calibration_images.shape))
        shutil.copy(onnx_files["int8"], onnx_out)

    def load_calibration_set(source, *, size, n):
        calls.append(("load_calibration_set", source, size, n))
        return np.zeros((n, 3, *size), np.float32), None

    fp16.convert_fp16, fp16.convert_qdq_fp16, quantize.quantize_int8, calibration.load_calibration_set = convert_fp16, convert_qdq_fp16, quantize_int8, load_calibration_set
    for module in (fp16, quantize, calibration):
        monkeypatch.setitem(sys.modules, module.__name__, module)
    return calls


@pytest.fixture
def fake_trt(monkeypatch, tmp_path):
    def install(version="10.3.0", device=ORIN, **kwargs):
        trt = FakeTensorRT(version, **kwargs)
        monkeypatch.setitem(sys.modules, "tensorrt", trt)
        monkeypatch.setattr(device_probe, "cuda_device", lambda: device)
        monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
        return trt
    return install


@pytest.mark.parametrize("precision", ["fp32", "int8"])
def test_onnxruntime_engine_matches_the_onnx(onnx_files, tmp_path, images, precision):
    src = onnx_files["fp32" if precision == "fp32" else "int8"]
    out = tmp_path / "model.engine"
    header = build_engine(src, out, precision=precision, backend="onnxruntime")
    engine = read_engine(out)
    stored, payload = engine.header, engine.payload
    assert stored == header
    assert (header["backend"], header["backend_version"], header["precision"]) == ("onnxruntime", ort.__version__, precision)
    assert header["onnx_sha256"] == file_sha256(src) and header["input_shape"] == [-1, 3, 32, 64]
    assert (header["height"], header["width"], header["min_depth"], header["max_depth"]) == (32, 64, 0.5, 80.0)
    assert header["device"]["provider"] == "CPUExecutionProvider"
    assert f"--precision {precision} --backend onnxruntime" in header["rebuild_command"]
    np.testing.assert_allclose(run_onnx(payload, images), run_onnx(str(src), images), rtol=1e-5, atol=1e-5)


def test_auto_without_tensorrt_uses_onnxruntime(onnx_files, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "tensorrt", None)  # import tensorrt -> ImportError
    monkeypatch.setitem(sys.modules, "openvino", None)  # ahead of ONNX Runtime on x86 CPUs where installed
    assert build_engine(onnx_files["fp32"], tmp_path / "m.engine", precision="fp32")["backend"] == "onnxruntime"


@pytest.mark.parametrize("kwargs, error", [
    ({"precision": "int4"}, "unknown precision 'int4'"),
    ({"precision": "fp32", "backend": "tvm"}, "unknown backend 'tvm'"),
    ({"precision": "int8"}, "needs calibration data"),
    ({"precision": "fp16", "calib": "synthetic"}, "--calib is only used with --precision int8"),
    ({"precision": "fp16", "backend": "onnxruntime", "dla_core": 0}, "--dla-core is not an option of the onnxruntime backend"),
    ({"precision": "bf16", "backend": "onnxruntime"}, "the onnxruntime backend does not build bf16 engines"),
])
def test_bad_requests(onnx_files, tmp_path, kwargs, error):
    out = tmp_path / "m.engine"
    with pytest.raises(EngineError, match=error):
        build_engine(onnx_files["fp32"], out, **kwargs)
    assert not out.exists()


def test_precision_must_match_a_converted_onnx(onnx_files, tmp_path):
    with pytest.raises(EngineError, match="cannot convert the int8 ONNX .* to fp32"):
        build_engine(onnx_files["int8"], tmp_path / "m.engine", precision="fp32", backend="onnxruntime")


def test_onnxruntime_fp16_and_int8_from_fp32_use_the_exporter(onnx_files, tmp_path, fake_export):
    h = build_engine(onnx_files["fp32"], tmp_path / "fp16.engine", precision="fp16", backend="onnxruntime")
    assert (h["precision"], h["onnx_precision"], h["onnx_sha256"]) == ("fp16", "fp32", file_sha256(onnx_files["fp32"]))
    h = build_engine(onnx_files["fp32"], tmp_path / "int8.engine", precision="int8", backend="onnxruntime", calib="synthetic")
    assert h["precision"] == "int8" and "--calib synthetic" in h["rebuild_command"]
    assert fake_export == [
        ("convert_fp16", str(onnx_files["fp32"])),
        ("load_calibration_set", "synthetic", (32, 64), 32),
        ("quantize_int8", str(onnx_files["fp32"]), (32, 3, 32, 64)),
    ]


def test_tensorrt10_engine_header_and_timing_cache(onnx_files, tmp_path, fake_trt, fake_export):
    trt = fake_trt("10.3.0")
    out = tmp_path / "m.engine"
    h = build_engine(onnx_files["fp32"], out, precision="fp16", backend="auto", workspace_mb=64, batch=2, max_batch=4)
    assert read_engine(out).payload == b"FAKE-PLAN"
    assert (h["backend"], h["backend_version"], h["device"], h["precision"]) == ("tensorrt", "10.3.0", ORIN, "fp16")
    assert h["batch_range"] == [1, 4] and h["options"]["builder_flags"] == ["FP16"]
    assert fake_export == []  # TensorRT 10 converts with its FP16 flag, not the exporter
    cache = tmp_path / "cache" / "edgedepth" / "tensorrt" / "timing-10.3.0-sm87.cache"
    assert h["options"]["timing_cache"] == str(cache) and cache.read_bytes() == b"|timed"
    assert trt.called("set_memory_pool_limit") == [("set_memory_pool_limit", "WORKSPACE", 64 << 20)]
    assert "--workspace-mb 64" in h["rebuild_command"] and "--backend tensorrt" in h["rebuild_command"]


def test_tensorrt11_fp16_converts_the_onnx_first(onnx_files, tmp_path, fake_trt, fake_export):
    trt = fake_trt("11.4.1")
    h = build_engine(onnx_files["fp32"], tmp_path / "m.engine", precision="fp16", backend="tensorrt", timing_cache=tmp_path / "t.cache")
    assert fake_export == [("convert_fp16", str(onnx_files["fp32"]))]
    assert trt.flags() == [] and h["options"]["strongly_typed"] is True
    assert trt.called("parse_from_file")[0][1].endswith("model.fp16.onnx")
    assert (tmp_path / "t.cache").is_file()


def test_tensorrt_without_library_or_gpu(onnx_files, tmp_path, fake_trt, monkeypatch):
    fake_trt(device=None)
    with pytest.raises(EngineError, match="needs a CUDA GPU"):
        build_engine(onnx_files["fp32"], tmp_path / "m.engine", precision="fp32", backend="tensorrt")
    monkeypatch.setitem(sys.modules, "openvino", None)  # ahead of ONNX Runtime on x86 CPUs where installed
    assert build_engine(onnx_files["fp32"], tmp_path / "m.engine", precision="fp32")["backend"] == "onnxruntime"
    monkeypatch.setitem(sys.modules, "tensorrt", None)
    with pytest.raises(EngineError, match="TensorRT is not installed"):
        build_engine(onnx_files["fp32"], tmp_path / "m.engine", precision="fp32", backend="tensorrt")


def test_failed_build_keeps_the_old_engine(onnx_files, tmp_path, fake_trt):
    out = tmp_path / "m.engine"
    build_engine(onnx_files["fp32"], out, precision="fp32", backend="onnxruntime")
    before = out.read_bytes()
    fake_trt(plan=None)
    with pytest.raises(EngineError, match="failed to build"):
        build_engine(onnx_files["fp32"], out, precision="fp32", backend="tensorrt")
    assert out.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["m.engine"]  # no temporary file left behind


def test_real_exporter_fp16_and_synthetic_int8(onnx_files, tmp_path, images):
    reference = run_onnx(str(onnx_files["fp32"]), images)
    for precision, kwargs in (("fp16", {}), ("int8", {"calib": "synthetic"})):
        out = tmp_path / f"{precision}.engine"
        try:
            header = build_engine(onnx_files["fp32"], out, precision=precision, backend="onnxruntime", **kwargs)
        except EdgedepthError as e:
            pytest.fail(e.message())
        assert header["precision"] == precision
        depth = run_onnx(read_engine(out).payload, images)
        assert np.median(np.abs(depth - reference) / reference) < (0.01 if precision == "fp16" else 0.1)


def test_no_gpu_is_found_before_calibrating(onnx_files, tmp_path, fake_trt, fake_export):
    fake_trt(device=None)
    with pytest.raises(EngineError, match="needs a CUDA GPU"):
        build_engine(onnx_files["fp32"], tmp_path / "m.engine", precision="int8", backend="tensorrt", calib="synthetic")
    assert fake_export == []


def test_rebuild_command_names_calibration_and_timing_cache_by_absolute_path(onnx_files, tmp_path, monkeypatch,
                                                                               fake_trt, fake_export):
    import shlex
    from pathlib import Path

    fake_trt("10.3.0")
    monkeypatch.chdir(tmp_path)
    (tmp_path / "calib").mkdir()
    h = build_engine(onnx_files["fp32"], "m.engine", precision="int8", backend="tensorrt", calib="calib",
                     timing_cache=Path("t.cache"))
    args = shlex.split(h["rebuild_command"])  # run from another folder, relative paths would name other files
    assert args[args.index("--calib") + 1] == str(tmp_path / "calib")
    assert args[args.index("--timing-cache") + 1] == str(tmp_path / "t.cache")
