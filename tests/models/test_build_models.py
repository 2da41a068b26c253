import pytest
import torch

from edgedepth.config import ModelConfig
from edgedepth.errors import ConfigError
from edgedepth.models import build_depth_net_from_config, build_models, discriminator_input


def test_models_fit_together():
    cfg = ModelConfig(encoder="resnet18", semantic_backbone="resnet18", shared_backbone=False, num_classes=7, disc_channels=8,
                      min_depth=1.0, max_depth=50.0)
    depth, sem, disc = build_models(cfg)
    image = torch.rand(2, 3, 64, 64)
    d_out, s_out = depth(image), sem(image)
    logits = disc(discriminator_input(d_out["features"], s_out["features"], image))
    assert logits.shape == (2, 1, 2, 2)
    assert s_out["logits"].shape == (2, 7, 64, 64)
    assert ((d_out["depth"] >= 1.0) & (d_out["depth"] <= 50.0)).all()
    assert disc.in_channels == 512 + 256 + 3 and sem.owns_encoder


def test_shared_backbone_and_semantic_discriminator():
    cfg = ModelConfig(shared_backbone=True, discriminator="semantic", num_classes=19, disc_channels=8)
    depth, sem, disc = build_models(cfg)
    assert sem.backbone is depth.encoder
    image = torch.rand(1, 3, 64, 64)
    s_out = sem(image)
    x = discriminator_input(depth(image)["features"], s_out["features"], image, semantic_logits=s_out["logits"])
    assert x.shape[1] == disc.in_channels == 512 + 256 + 3 + 19
    assert disc(x).shape == (1, 1, 2, 2)


def test_depth_net_from_config_round_trips_a_state_dict():
    cfg = ModelConfig(encoder="resnet18", min_depth=0.1, max_depth=20.0)
    a, b = build_depth_net_from_config(cfg), build_depth_net_from_config(cfg)
    b.load_state_dict(a.state_dict())
    assert (b.min_depth, b.max_depth, b.encoder_name) == (0.1, 20.0, "resnet18")
    x = torch.rand(1, 3, 32, 32)
    with torch.no_grad():
        assert torch.equal(a.eval().predict_depth(x), b.eval().predict_depth(x))


def test_without_semantics_f_sees_depth_features_and_image():
    depth, sem, disc = build_models(ModelConfig(semantics=False, disc_channels=8))
    assert sem is None and disc.in_channels == 512 + 3
    image = torch.rand(1, 3, 64, 64)
    assert disc(discriminator_input(depth(image)["features"], None, image)).shape == (1, 1, 2, 2)


def test_semantic_discriminator_needs_semantics():
    with pytest.raises(ConfigError, match="model.semantics"):
        build_models(ModelConfig(semantics=False, discriminator="semantic"))
