"""Semantic network S: DeepLabv3+ (ASPP at output stride 16 + low-level-feature decoder).

With its own ResNet backbone (the paper's setting) the last stage is dilated so that ASPP runs at
output stride 16 with atrous rates 6/12/18. With ``shared_encoder`` (the depth net's encoder,
stride 32, undilated because D's decoder needs it that way) the rates are halved to keep the
same receptive field in image pixels.
"""
from __future__ import annotations

from pathlib import Path
from typing import Literal, Optional

import torch
import torch.nn.functional as F
from torch import nn

from edgedepth.errors import ConfigError
from edgedepth.models.encoders import Encoder, build_encoder, encoder_names

ASPP_RATES = (6, 12, 18)  # at output stride 16
ASPP_CHANNELS = 256
LOW_LEVEL_CHANNELS = 48


def conv_bn_relu(in_channels: int, out_channels: int, kernel_size: int = 1, dilation: int = 1) -> nn.Sequential:
    padding = dilation * (kernel_size // 2)
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, kernel_size, padding=padding, dilation=dilation, bias=False),
        nn.BatchNorm2d(out_channels),
        nn.ReLU(inplace=True),
    )


class ImagePooling(nn.Module):
    """Global context branch of ASPP: average pool -> 1x1 conv -> broadcast back.

    No BatchNorm here (unlike torchvision's): a 1x1 map with batch size 1 (one image per GPU)
    has a single value per channel, which BatchNorm refuses in training.
    """

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pooled = F.relu(self.conv(x.mean(dim=(2, 3), keepdim=True)))
        return pooled.expand(-1, -1, x.shape[2], x.shape[3])


class ASPP(nn.Module):
    """Atrous spatial pyramid pooling: 1x1, three atrous 3x3 convs, image pooling; fused by a 1x1 conv."""

    def __init__(self, in_channels: int, *, rates: tuple[int, ...] = ASPP_RATES, out_channels: int = ASPP_CHANNELS) -> None:
        super().__init__()
        self.rates = tuple(rates)
        self.branches = nn.ModuleList(
            [conv_bn_relu(in_channels, out_channels)]
            + [conv_bn_relu(in_channels, out_channels, 3, dilation=r) for r in self.rates]
        )
        self.pooling = ImagePooling(in_channels, out_channels)
        self.project = nn.Sequential(conv_bn_relu(out_channels * (len(self.rates) + 2), out_channels), nn.Dropout(0.1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x [B,C,h,w] -> [B,out_channels,h,w]."""
        outs = [branch(x) for branch in self.branches] + [self.pooling(x)]
        return self.project(torch.cat(outs, dim=1))


class SemanticNet(nn.Module):
    """DeepLabv3+. ``forward(image [B,3,H,W] in [0,1])`` -> dict with "logits" [B,K,H,W] and
    "features" (ASPP output [B,channels,H/s,W/s], s = the encoder's output stride; channels = 256
    as in DeepLabv3+, narrower for CPU budgets).

    A shared encoder is *not* registered as a submodule: the depth net owns it, so its weights
    appear once in state_dicts and optimisers (``owns_encoder`` is False). Its train/eval mode
    and device follow the depth net.
    """

    def __init__(self, encoder: Encoder, *, num_classes: int, owns_encoder: bool, channels: int = ASPP_CHANNELS) -> None:
        super().__init__()
        self.owns_encoder = owns_encoder
        if owns_encoder:
            self.encoder = encoder
        else:
            self._shared = (encoder,)  # a tuple hides it from nn.Module registration
        rates = tuple(r * 16 // encoder.output_stride for r in ASPP_RATES)
        self.aspp = ASPP(encoder.channels[-1], rates=rates, out_channels=channels)
        self.low_level = conv_bn_relu(encoder.channels[1], LOW_LEVEL_CHANNELS)  # stride-4 features
        self.decoder = nn.Sequential(
            conv_bn_relu(channels + LOW_LEVEL_CHANNELS, channels, 3),
            conv_bn_relu(channels, channels, 3),
        )
        self.classifier = nn.Conv2d(channels, num_classes, 1)
        self.num_classes = num_classes
        self.feature_channels = channels
        self.backbone_name = encoder.name

    @property
    def backbone(self) -> Encoder:
        return self.encoder if self.owns_encoder else self._shared[0]

    def forward(self, image: torch.Tensor) -> dict[str, torch.Tensor]:
        features = self.backbone(image)
        context = self.aspp(features[-1])
        low = self.low_level(features[1])
        up = F.interpolate(context, size=low.shape[-2:], mode="bilinear", align_corners=False)
        logits = self.classifier(self.decoder(torch.cat([up, low], dim=1)))
        logits = F.interpolate(logits, size=image.shape[-2:], mode="bilinear", align_corners=False)
        return {"logits": logits, "features": context}


def build_semantic_net(
    *,
    backbone: Literal["resnet18", "resnet34", "resnet50"] = "resnet18",
    num_classes: int = 19,
    weights: Optional[str | Path] = None,
    shared_encoder: Optional[Encoder] = None,
    channels: int = ASPP_CHANNELS,
) -> SemanticNet:
    """DeepLabv3+ with its own dilated ResNet (``backbone``, ``weights``) or the given shared encoder."""
    if num_classes < 1:
        raise ConfigError(f"model.num_classes is {num_classes}", fix="use the number of semantic classes, e.g. 19")
    if shared_encoder is not None:
        return SemanticNet(shared_encoder, num_classes=num_classes, owns_encoder=False, channels=channels)
    if backbone not in encoder_names(dilatable=True):
        raise ConfigError(f"semantic backbone '{backbone}' is not supported", fix=f"use one of: {', '.join(encoder_names(dilatable=True))}")
    encoder = build_encoder(name=backbone, weights=weights, dilate_last=True)
    return SemanticNet(encoder, num_classes=num_classes, owns_encoder=True, channels=channels)
