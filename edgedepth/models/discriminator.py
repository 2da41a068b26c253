"""Domain discriminator F: spectral-norm convolutions with LeakyReLU(0.2), one logit per patch.

Its input is D's deepest encoder features, S's ASPP features and the image, resized to the depth
features' size and concatenated (2048 + 256 + 3 = 2307 channels for ResNet-50, as in the paper).
The "semantic" variant also concatenates S's class probabilities, so F can compare the domains
class by class.
"""
from __future__ import annotations

from typing import Literal, Optional

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

from edgedepth.errors import ConfigError

Conditioning = Literal["patch", "semantic"]


def discriminator_input(
    depth_features: torch.Tensor,
    semantic_features: Optional[torch.Tensor],
    image: torch.Tensor,
    *,
    semantic_logits: Optional[torch.Tensor] = None,
) -> torch.Tensor:
    """Concatenate [depth_features, semantic_features, image (, softmax(semantic_logits))] at the
    depth features' size [h,w].

    depth_features [B,Cd,h,w], semantic_features [B,Cs,h',w'] or None (model without S),
    image [B,3,H,W], semantic_logits [B,K,H,W] (semantic variant only) -> [B, Cd + Cs + 3 (+ K), h, w].
    """
    size = depth_features.shape[-2:]
    parts = [depth_features]
    if semantic_features is not None:
        parts.append(F.interpolate(semantic_features, size=size, mode="bilinear", align_corners=False))
    # Area averaging: the image is much larger than h x w and should not alias.
    parts.append(F.adaptive_avg_pool2d(image, size))
    if semantic_logits is not None:
        parts.append(F.adaptive_avg_pool2d(semantic_logits.softmax(dim=1), size))
    return torch.cat(parts, dim=1)


class Discriminator(nn.Module):
    """``forward(x [B,in_channels,h,w])`` -> patch logits [B,1,h,w] (unbounded; see losses.adversarial).

    Stride-1 3x3 convolutions: D's features are already at 1/32 of the image, so downsampling
    further would leave no patches on small inputs.
    """

    def __init__(self, *, in_channels: int, base_channels: int = 64, conditioning: Conditioning = "patch") -> None:
        super().__init__()
        self.in_channels = in_channels
        self.conditioning = conditioning
        widths = (in_channels, base_channels, base_channels * 2, base_channels * 4)
        layers: list[nn.Module] = []
        for c_in, c_out in zip(widths[:-1], widths[1:]):
            layers += [spectral_norm(nn.Conv2d(c_in, c_out, 3, padding=1)), nn.LeakyReLU(0.2, inplace=True)]
        layers.append(spectral_norm(nn.Conv2d(widths[-1], 1, 3, padding=1)))
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


def build_discriminator(*, in_channels: int, base_channels: int = 64, conditioning: Conditioning = "patch") -> Discriminator:
    """Patch discriminator; ``conditioning="semantic"`` marks that its input includes S's class probabilities."""
    if conditioning not in ("patch", "semantic"):
        raise ConfigError(f"discriminator '{conditioning}' is unknown", fix="set model.discriminator to 'patch' or 'semantic'")
    if in_channels < 1 or base_channels < 1:
        raise ConfigError(f"discriminator channels in={in_channels}, base={base_channels} must be positive")
    return Discriminator(in_channels=in_channels, base_channels=base_channels, conditioning=conditioning)
