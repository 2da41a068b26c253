import pytest
import torch
from torch import nn
from torch.nn.utils import parametrize

from edgedepth.config import ModelConfig
from edgedepth.errors import ConfigError
from edgedepth.models import build_discriminator, build_models, discriminator_input


def test_input_concatenates_at_depth_feature_size():
    x = discriminator_input(torch.rand(2, 512, 2, 4), torch.rand(2, 256, 4, 8), torch.rand(2, 3, 64, 128))
    assert x.shape == (2, 512 + 256 + 3, 2, 4)


def test_input_image_is_area_averaged():
    image = torch.zeros(1, 3, 64, 128)
    image[..., :, :64] = 1.0  # left half white
    x = discriminator_input(torch.rand(1, 4, 2, 4), torch.rand(1, 2, 4, 8), image)
    assert torch.equal(x[0, 6:9, :, :2], torch.ones(3, 2, 2)) and torch.equal(x[0, 6:9, :, 2:], torch.zeros(3, 2, 2))


def test_semantic_variant_appends_class_probabilities():
    x = discriminator_input(
        torch.rand(2, 8, 2, 4), torch.rand(2, 4, 4, 8), torch.rand(2, 3, 64, 128), semantic_logits=torch.randn(2, 19, 64, 128)
    )
    assert x.shape == (2, 8 + 4 + 3 + 19, 2, 4)
    assert torch.allclose(x[:, -19:].sum(1), torch.ones(2, 2, 4), atol=1e-5)


def test_patch_output_spectral_norm_and_leaky_relu():
    disc = build_discriminator(in_channels=771, base_channels=16)
    out = disc(torch.rand(2, 771, 2, 4))
    assert out.shape == (2, 1, 2, 4)
    convs = [m for m in disc.modules() if isinstance(m, nn.Conv2d)]
    assert convs and all(parametrize.is_parametrized(c, "weight") for c in convs)
    assert all(m.negative_slope == 0.2 for m in disc.modules() if isinstance(m, nn.LeakyReLU))
    out.mean().backward()
    assert all(p.grad is not None for p in disc.parameters())


def test_paper_resnet50_has_2307_input_channels():
    _, _, disc = build_models(ModelConfig(encoder="resnet50", semantic_backbone="resnet50"))
    assert disc.in_channels == 2307
    first = next(m for m in disc.modules() if isinstance(m, nn.Conv2d))
    assert first.in_channels == 2307


def test_unknown_conditioning_is_refused():
    with pytest.raises(ConfigError, match="model.discriminator"):
        build_discriminator(in_channels=8, conditioning="pixel")
