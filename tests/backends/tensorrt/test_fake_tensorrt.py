"""The fake tensorrt module refuses what the TensorRT 10.13 stubs do not declare, and what 11 removed."""
import os

import pytest

from helpers.fake_tensorrt import RECORDING, FakeTensorRT
from helpers.tensorrt_stubs import STUBS_DIST, STUBS_VERSION, installed_api, load_api


@pytest.fixture
def config():
    trt = FakeTensorRT("10.3.0")
    return trt, trt.Builder(trt.Logger(trt.Logger.WARNING)).create_builder_config()


def test_the_committed_allow_list_is_what_the_installed_stubs_declare():
    api = installed_api()
    if api is None:
        reason = f"{STUBS_DIST} is not installed (pip install --no-deps {STUBS_DIST}=={STUBS_VERSION})"
        pytest.fail(reason) if os.environ.get("CI") else pytest.skip(reason)
    assert api == load_api(), "rewrite it: python tests/helpers/tensorrt_stubs.py > tests/helpers/tensorrt_10_13_api.json"


def test_declared_calls_work_and_are_recorded(config):
    trt, cfg = config
    cfg.set_flag(trt.BuilderFlag.FP16)
    cfg.set_memory_pool_limit(pool=trt.MemoryPoolType.WORKSPACE, pool_size=1 << 20)  # keywords named as in the stubs
    cfg.builder_optimization_level = 4
    assert trt.calls[-3:] == [("set_flag", "FP16"), ("set_memory_pool_limit", "WORKSPACE", 1 << 20), ("IBuilderConfig.builder_optimization_level=", 4)]
    assert int(trt.NetworkDefinitionCreationFlag.STRONGLY_TYPED) == 1 and trt.DataType.HALF.itemsize == 2


@pytest.mark.parametrize("action, error, message", [
    (lambda trt, cfg: cfg.max_workspace_size, AttributeError, "IBuilderConfig has no attribute 'max_workspace_size'"),  # TensorRT 8.x
    (lambda trt, cfg: setattr(cfg, "max_workspace_size", 1), AttributeError, "max_workspace_size does not exist"),
    (lambda trt, cfg: setattr(cfg, "num_optimization_profiles", 2), AttributeError, "num_optimization_profiles is read-only"),
    (lambda trt, cfg: cfg.set_flag(trt.BuilderFlag.FP16, True), TypeError, r"set_flag\(\) takes \(flag\)"),
    (lambda trt, cfg: cfg.set_timing_cache(cache=None, ignore=True), TypeError, "set_timing_cache"),
    (lambda trt, cfg: trt.Builder(trt.Logger()).create_network(explicit_batch=True), TypeError, "create_network"),
    (lambda trt, cfg: trt.Runtime(), TypeError, r"Runtime.__init__\(\) takes \(logger\)"),
    (lambda trt, cfg: trt.BuilderFlag.STRICT_TYPES, AttributeError, "BuilderFlag has no attribute 'STRICT_TYPES'"),  # removed in 10.0
    (lambda trt, cfg: trt.volume_of, AttributeError, "module 'tensorrt' has no attribute 'volume_of'"),
])
def test_what_the_stubs_do_not_declare_is_refused(config, action, error, message):
    trt, cfg = config
    with pytest.raises(error, match=message):
        action(trt, cfg)


@pytest.mark.parametrize("action", [
    lambda trt, cfg: trt.BuilderFlag.FP16,
    lambda trt, cfg: trt.BuilderFlag.INT8,
    lambda trt, cfg: trt.BuilderFlag.OBEY_PRECISION_CONSTRAINTS,
    lambda trt, cfg: trt.NetworkDefinitionCreationFlag.EXPLICIT_BATCH,
    lambda trt, cfg: setattr(cfg, "int8_calibrator", None),
    lambda trt, cfg: cfg.set_calibration_profile(None),
])
def test_tensorrt11_removals_exist_on_10_and_are_gone_on_11(action):
    trt10 = FakeTensorRT("10.3.0")
    cfg10 = trt10.Builder(trt10.Logger()).create_builder_config()
    try:
        action(trt10, cfg10)
    except NotImplementedError:  # declared on 10, not modelled by the fake: it got past the allow-list
        pass
    trt11 = FakeTensorRT("11.4.1")
    with pytest.raises(AttributeError, match="tensorrt 11.x"):
        action(trt11, trt11.Builder(trt11.Logger()).create_builder_config())


def test_the_recording_api_is_not_a_tensorrt_name():
    assert not set(RECORDING) & set(load_api()["module"])
