"""Shared fixtures: the real resnet18 DepthNet exported once at 64x128 for every export test."""
import numpy as np
import pytest
import torch

SIZE = (64, 128)


@pytest.fixture(scope="session")
def depth_net():
    from edgedepth.models import build_depth_net

    torch.manual_seed(0)
    return build_depth_net(encoder="resnet18").eval()


@pytest.fixture(scope="session")
def fp32_onnx(depth_net, tmp_path_factory):
    from edgedepth.export import export_onnx

    path = tmp_path_factory.mktemp("onnx") / "model.onnx"
    report = export_onnx(depth_net, path, size=SIZE, batch=1)
    return path, report


@pytest.fixture(scope="session")
def synthetic_set():
    """Four synthetic target images [4,3,64,128] in [0,1] and their depth [4,1,64,128]."""
    from edgedepth.export.calibration import load_calibration_set

    return load_calibration_set("synthetic", size=SIZE, n=4, seed=0)


@pytest.fixture
def random_images():
    return np.random.default_rng(0).random((2, 3, *SIZE), dtype=np.float32)
