import pytest
import torch
import torchvision

from edgedepth.errors import CheckpointError, ConfigError
from edgedepth.models.encoders import build_encoder


@pytest.mark.parametrize(
    "name, channels",
    [
        ("resnet18", (64, 64, 128, 256, 512)),
        ("resnet34", (64, 64, 128, 256, 512)),
        ("resnet50", (64, 256, 512, 1024, 2048)),
        ("mobilenet_v3_large", (16, 24, 40, 112, 960)),
    ],
)
def test_five_levels_at_strides_2_to_32(name, channels):
    enc = build_encoder(name=name).eval()
    with torch.no_grad():
        feats = enc(torch.rand(1, 3, 64, 64))
    assert enc.channels == channels
    assert [tuple(f.shape) for f in feats] == [(1, c, 64 // s, 64 // s) for c, s in zip(channels, (2, 4, 8, 16, 32))]


def test_dilated_resnet18_keeps_stride_16_and_weight_shapes():
    plain, dilated = build_encoder(name="resnet18"), build_encoder(name="resnet18", dilate_last=True)
    assert dilated.output_stride == 16
    assert dilated(torch.rand(1, 3, 64, 64))[-1].shape == (1, 512, 4, 4)
    dilated.load_state_dict(plain.state_dict())  # same shapes: ImageNet weights still fit


def test_mobilenet_cannot_be_dilated():
    with pytest.raises(ConfigError, match="cannot be dilated"):
        build_encoder(name="mobilenet_v3_large", dilate_last=True)


def test_unknown_encoder_is_named():
    with pytest.raises(ConfigError, match="vgg16"):
        build_encoder(name="vgg16")


@pytest.mark.parametrize("name", ["resnet18", "mobilenet_v3_large"])
def test_loads_a_torchvision_state_dict_with_its_classifier(tmp_path, name):
    reference = getattr(torchvision.models, name)(weights=None)
    with torch.no_grad():
        for p in reference.parameters():
            p.normal_()
    path = tmp_path / f"{name}.pth"
    torch.save(reference.state_dict(), path)
    enc = build_encoder(name=name, weights=str(path))
    expected = {k: v for k, v in reference.state_dict().items() if not k.startswith(("fc.", "classifier."))}
    got = enc.state_dict()
    assert got.keys() == expected.keys()
    assert all(torch.equal(got[k], v) for k, v in expected.items())


def test_missing_weights_file_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="nope.pth"):
        build_encoder(name="resnet18", weights=str(tmp_path / "nope.pth"))


def test_weights_of_another_architecture_are_refused(tmp_path):
    path = tmp_path / "resnet34.pth"
    torch.save(torchvision.models.resnet34(weights=None).state_dict(), path)
    with pytest.raises(CheckpointError, match="does not fit the resnet18"):
        build_encoder(name="resnet18", weights=str(path))


def test_garbage_weights_file_is_refused(tmp_path):
    path = tmp_path / "bad.pth"
    path.write_bytes(b"not a state dict")
    with pytest.raises(CheckpointError, match="cannot be read"):
        build_encoder(name="resnet18", weights=str(path))
