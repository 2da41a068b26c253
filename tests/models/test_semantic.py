import torch
from torch import nn

from edgedepth.models import build_depth_net, build_semantic_net


def _dilations(module):
    return sorted({m.dilation[0] for m in module.modules() if isinstance(m, nn.Conv2d)})


def test_separate_backbone_output_stride_16_and_aspp_rates():
    net = build_semantic_net(backbone="resnet18", num_classes=19)
    out = net(torch.rand(2, 3, 64, 128))
    assert out["logits"].shape == (2, 19, 64, 128)
    assert out["features"].shape == (2, 256, 4, 8)  # output stride 16
    assert net.feature_channels == 256
    assert net.aspp.rates == (6, 12, 18)
    assert _dilations(net.aspp) == [1, 6, 12, 18]
    assert 2 in _dilations(net.backbone.layer4)  # dilation replaces the last stride
    assert net.low_level[0].out_channels == 48


def test_gradients_reach_every_parameter():
    net = build_semantic_net()
    out = net(torch.rand(2, 3, 64, 64))
    (out["logits"].mean() + out["features"].mean()).backward()
    missing = [n for n, p in net.named_parameters() if p.grad is None]
    assert missing == []


def test_shared_encoder_is_owned_by_the_depth_net():
    depth = build_depth_net(encoder="resnet18")
    sem = build_semantic_net(num_classes=5, shared_encoder=depth.encoder)
    assert sem.backbone is depth.encoder and not sem.owns_encoder
    encoder_params = {id(p) for p in depth.encoder.parameters()}
    assert not encoder_params & {id(p) for p in sem.parameters()}
    assert not any(k.startswith("encoder.") for k in sem.state_dict())
    assert sem.aspp.rates == (3, 6, 9)  # stride-32 features: same receptive field in pixels
    out = sem(torch.rand(2, 3, 64, 64))
    assert out["logits"].shape == (2, 5, 64, 64) and out["features"].shape == (2, 256, 2, 2)
    out["logits"].mean().backward()
    assert depth.encoder.layer1[0].conv1.weight.grad is not None  # the segmentation loss trains D's encoder


def test_batch_of_one_trains():
    net = build_semantic_net().train()
    assert net(torch.rand(1, 3, 32, 32))["logits"].shape == (1, 19, 32, 32)


def test_resnet50_backbone_forward():
    net = build_semantic_net(backbone="resnet50").eval()
    with torch.no_grad():
        out = net(torch.rand(1, 3, 32, 32))
    assert out["logits"].shape == (1, 19, 32, 32) and out["features"].shape == (1, 256, 2, 2)


def test_width_is_configurable_and_reaches_the_features():
    from edgedepth.config import ModelConfig
    from edgedepth.models import build_models

    _, s, f = build_models(ModelConfig(semantic_channels=32))
    assert s.feature_channels == 32 and s.aspp.project[0][0].out_channels == 32
    out = s(torch.rand(1, 3, 64, 64))
    assert out["features"].shape[1] == 32 and out["logits"].shape == (1, 19, 64, 64)
