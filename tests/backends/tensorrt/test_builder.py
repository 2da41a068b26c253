"""Every decision the TensorRT path makes, checked with real ONNX files and a recording fake module."""
import sys
from types import SimpleNamespace

import pytest

from helpers.fake_tensorrt import FakeTensorRT

from edgedepth import device as device_probe
from edgedepth.backends import build_engine
from edgedepth.backends.tensorrt import usable
from edgedepth.backends.tensorrt.builder import _onnx_for, build_tensorrt, plan_build, tensorrt_major
from edgedepth.contract import inspect_onnx
from edgedepth.device import cuda_device
from edgedepth.errors import EngineError
from edgedepth.export.fp16 import convert_qdq_fp16

C, H, W = 3, 32, 64
STRONGLY_TYPED = 1 << 1  # 1 << NetworkDefinitionCreationFlag.STRONGLY_TYPED (value 1 in the stubs)


@pytest.fixture(scope="module")
def infos(onnx_files, tmp_path_factory):
    qdq_fp16 = convert_qdq_fp16(onnx_files["int8"], tmp_path_factory.mktemp("qdq") / "int8-fp16.onnx")["path"]
    return {**{kind: inspect_onnx(path) for kind, path in onnx_files.items()}, "int8-fp16": inspect_onnx(qdq_fp16)}


@pytest.fixture
def installed(monkeypatch):
    """Install a FakeTensorRT as the `tensorrt` module."""
    def install(version="10.3.0", **kwargs):
        trt = FakeTensorRT(version, **kwargs)
        monkeypatch.setitem(sys.modules, "tensorrt", trt)
        return trt
    return install


def test_version_detection():
    assert tensorrt_major("10.3.0") == 10 and tensorrt_major("11.4.1.post1") == 11
    with pytest.raises(EngineError, match="TensorRT 8.6.1 is not supported"):
        tensorrt_major("8.6.1")


@pytest.mark.parametrize("major, precision, onnx, flags, strongly_typed", [
    (10, "fp32", "fp32", (), False),
    (10, "fp16", "fp32", ("FP16",), False),  # weak typing: the flag lets TensorRT pick FP16 kernels
    (10, "fp16", "fp16", ("FP16",), False),
    # explicit quantisation, strongly typed as NVIDIA recommends: no precision flags, the ONNX types decide
    (10, "int8", "int8-fp16", (), True),
    (10, "int8", "int8", (), True),
    (11, "fp32", "fp32", (), True),
    (11, "fp16", "fp16", (), True),  # strongly typed: the ONNX tensor types are the precision
    (11, "int8", "int8-fp16", (), True),
])
def test_flags_per_version_and_precision(infos, major, precision, onnx, flags, strongly_typed):
    plan = plan_build(infos[onnx], precision=precision, trt_major=major)
    assert plan.builder_flags == flags
    assert plan.strongly_typed == strongly_typed


def test_tensorrt11_refuses_fp16_from_an_fp32_onnx(infos):
    with pytest.raises(EngineError, match="TensorRT 11 cannot build a fp16 engine from the fp32 ONNX") as e:
        plan_build(infos["fp32"], precision="fp16", trt_major=11)
    assert "FP16 ONNX" in e.value.fix
    with pytest.raises(EngineError, match="cannot build a fp32 engine from the fp16 ONNX"):
        plan_build(infos["fp16"], precision="fp32", trt_major=11)


@pytest.mark.parametrize("major", [10, 11])
def test_int8_needs_qdq(infos, major):
    with pytest.raises(EngineError, match="needs a Q/DQ ONNX") as e:
        plan_build(infos["fp32"], precision="int8", trt_major=major)
    assert "--calib" in e.value.fix
    with pytest.raises(EngineError, match="Q/DQ \\(INT8\\) ONNX but --precision fp16"):
        plan_build(infos["int8"], precision="fp16", trt_major=major)


def test_tensorrt10_refuses_fp32_from_fp16_onnx(infos):
    with pytest.raises(EngineError, match="FP16 ONNX but --precision fp32"):
        plan_build(infos["fp16"], precision="fp32", trt_major=10)


def test_dynamic_batch_profile(infos):
    plan = plan_build(infos["fp32"], precision="fp32", trt_major=10, batch=4, max_batch=16)
    assert plan.profile == ((1, C, H, W), (4, C, H, W), (16, C, H, W))
    assert plan_build(infos["fp32"], precision="fp32", trt_major=11).profile == ((1, C, H, W), (1, C, H, W), (8, C, H, W))
    # max_batch below batch still admits the batch optimised for
    assert plan_build(infos["fp32"], precision="fp32", trt_major=10, batch=12, max_batch=8).profile[2][0] == 12


def test_static_batch_has_no_profile(infos):
    assert plan_build(infos["fp32_static"], precision="fp32", trt_major=10).profile is None
    assert plan_build(infos["fp32_static"], precision="fp32", trt_major=10, batch=2).profile is None
    with pytest.raises(EngineError, match="fixed batch of 2; cannot optimise for batch 4"):
        plan_build(infos["fp32_static"], precision="fp32", trt_major=10, batch=4)


@pytest.mark.parametrize("major, precision, onnx, flags", [
    (10, "fp16", "fp32", ("FP16", "GPU_FALLBACK")),
    (10, "int8", "int8", ("INT8", "FP16", "GPU_FALLBACK")),  # DLA has no FP32: weakly typed, unquantised layers FP16
    (11, "fp16", "fp16", ("GPU_FALLBACK",)),
    (11, "int8", "int8-fp16", ("GPU_FALLBACK",)),
])
def test_dla_core_with_gpu_fallback_and_static_profile(infos, major, precision, onnx, flags):
    plan = plan_build(infos[onnx], precision=precision, trt_major=major, dla_core=1, batch=2)
    assert plan.builder_flags == flags and plan.dla_core == 1
    assert plan.profile == ((2, C, H, W),) * 3  # DLA has no dynamic shapes: min = opt = max


@pytest.mark.parametrize("major", [10, 11])
def test_dla_refuses_fp32(infos, major):
    with pytest.raises(EngineError, match="DLA runs FP16 or INT8 only"):
        plan_build(infos["fp32"], precision="fp32", trt_major=major, dla_core=0)


@pytest.mark.parametrize("kwargs, message", [
    ({"opt_level": 6}, "--opt-level 6 is out of range"),
    ({"dla_core": -1}, "--dla-core -1 is negative"),
    ({"workspace": 0}, "workspace 0 bytes"),
    ({"batch": 0}, "at least 1"),
    ({"trt_major": 9}, "TensorRT 9 is not supported"),
])
def test_bad_options(infos, kwargs, message):
    args = {"precision": "fp32", "trt_major": 10, **kwargs}
    with pytest.raises(EngineError, match=message):
        plan_build(infos["fp32"], **args)


def test_build_tensorrt10_executes_the_plan(infos, tmp_path, installed):
    cache = tmp_path / "cache" / "timing.cache"
    plan = plan_build(infos["fp32"], precision="fp16", trt_major=10, dla_core=0, workspace=256 << 20, opt_level=5, batch=2, timing_cache=cache)
    trt = installed("10.3.0")
    assert build_tensorrt(plan) == b"FAKE-PLAN"
    assert trt.called("create_network") == [("create_network", 0)]  # weakly typed
    assert trt.called("parse_from_file") == [("parse_from_file", str(infos["fp32"].path))]
    assert trt.flags() == ["FP16", "GPU_FALLBACK"]
    assert trt.called("set_memory_pool_limit") == [("set_memory_pool_limit", "WORKSPACE", 256 << 20)]
    assert ("IBuilderConfig.builder_optimization_level=", 5) in trt.calls
    assert ("IBuilderConfig.default_device_type=", "DLA") in trt.calls and ("IBuilderConfig.DLA_core=", 0) in trt.calls
    assert trt.called("add_optimization_profile") == [("add_optimization_profile", {"image": ((2, C, H, W),) * 3})]
    # a new cache starts empty, mismatches are ignored, and the timed cache is written back
    assert trt.called("create_timing_cache") == [("create_timing_cache", b"")]
    assert trt.called("set_timing_cache") == [("set_timing_cache", b"", True)]
    assert cache.read_bytes() == b"|timed"
    # the next build starts from the stored cache
    trt2 = installed("10.3.0")
    build_tensorrt(plan)
    assert trt2.called("create_timing_cache") == [("create_timing_cache", b"|timed")]
    assert cache.read_bytes() == b"|timed|timed"


def test_build_tensorrt10_int8_is_strongly_typed(infos, installed):
    trt = installed("10.3.0")
    build_tensorrt(plan_build(infos["int8-fp16"], precision="int8", trt_major=10))
    assert trt.called("create_network") == [("create_network", STRONGLY_TYPED)] and trt.flags() == []


def test_build_tensorrt11_sets_no_precision_flags(infos, installed):
    plan = plan_build(infos["int8-fp16"], precision="int8", trt_major=11)
    trt = installed("11.4.1")
    build_tensorrt(plan)
    assert trt.flags() == [] and not trt.called("set_memory_pool_limit") and not trt.called("create_timing_cache")
    assert trt.called("create_network") == [("create_network", 0)]  # always strongly typed; the flag is deprecated
    assert trt.called("add_optimization_profile") == [("add_optimization_profile", {"image": ((1, C, H, W), (1, C, H, W), (8, C, H, W))})]
    # the fake 11 has no FP16 flag, like the real one: a TensorRT 10 plan cannot run there by accident
    installed("11.0.0")
    with pytest.raises(AttributeError, match="BuilderFlag has no attribute 'FP16'"):
        build_tensorrt(plan_build(infos["fp32"], precision="fp16", trt_major=10))


def test_parse_and_build_failures(infos, installed):
    plan = plan_build(infos["fp32"], precision="fp32", trt_major=10)
    installed(parse_ok=False)
    with pytest.raises(EngineError, match="cannot parse") as e:
        build_tensorrt(plan)
    assert "unsupported" in e.value.why
    installed(plan=None)
    with pytest.raises(EngineError, match="failed to build"):
        build_tensorrt(plan)


@pytest.mark.parametrize("major, dla_core, variant", [(10, None, "int8-fp16"), (11, None, "int8-fp16"), (11, 0, "int8-fp16"), (10, 0, "int8")])
def test_int8_builds_from_the_fp16_qdq_onnx_except_weak_dla(infos, major, dla_core, variant):
    asked = []
    request = SimpleNamespace(onnx=infos["fp32"], precision="int8", options={"dla_core": dla_core}, convert=lambda p: asked.append(p) or infos[p])
    assert _onnx_for(request, major) is infos[variant] and asked == [variant]


def test_build_engine_int8_on_tensorrt10_converts_and_builds_strongly_typed(onnx_files, tmp_path, installed, monkeypatch):
    trt = installed("10.3.0")
    monkeypatch.setattr(device_probe, "cuda_device", lambda: {"name": "Orin", "compute_capability": "8.7"})
    header = build_engine(onnx_files["int8"], tmp_path / "m.engine", precision="int8", backend="tensorrt", timing_cache=tmp_path / "t.cache")
    parsed = trt.called("parse_from_file")[0][1]
    assert parsed.endswith("model.int8-fp16.onnx") and header["options"]["strongly_typed"] is True
    assert trt.called("create_network") == [("create_network", STRONGLY_TYPED)] and trt.flags() == []


def test_real_tensorrt_builds_the_fp32_onnx(infos):
    if not usable() or cuda_device() is None:
        pytest.skip("needs TensorRT and a CUDA GPU (an NVIDIA GPU machine)")
    import tensorrt

    plan = plan_build(infos["fp32"], precision="fp32", trt_major=tensorrt_major(tensorrt.__version__))
    assert len(build_tensorrt(plan)) > 1000
