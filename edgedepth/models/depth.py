"""Depth network D: encoder + skip-connected up-convolution decoder (monodepth2 style).

The decoder predicts sigmoid disparity at four scales; depth in metres follows from the
disparity between ``min_depth`` and ``max_depth``. :meth:`DepthNet.predict_depth` has no
data-dependent control flow, so it exports to ONNX as one static graph.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Optional

import torch
import torch.nn.functional as F
from torch import nn

from edgedepth.errors import ConfigError
from edgedepth.models.edge import AddFusionDecoder
from edgedepth.models.encoders import Encoder, build_encoder, preferred_decoder

DECODER_CHANNELS = (16, 32, 64, 128, 256)
NUM_SCALES = 4


def disp_to_depth(disp: torch.Tensor, min_depth: float, max_depth: float) -> torch.Tensor:
    """Sigmoid disparity in [0,1] -> depth in metres in [min_depth, max_depth] (monodepth2)."""
    min_disp, max_disp = 1.0 / max_depth, 1.0 / min_depth
    return 1.0 / (min_disp + (max_disp - min_disp) * disp)


class ConvELU(nn.Sequential):
    """3x3 convolution with edge padding, and ELU.

    Edge (replicate) padding avoids the dark borders of zero padding like monodepth2's reflection
    padding does, but also works on the 1x1 maps that a 32-pixel input gives at stride 32.
    """

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__(nn.ReplicationPad2d(1), nn.Conv2d(in_channels, out_channels, 3), nn.ELU(inplace=True))


class DispHead(nn.Sequential):
    """3x3 convolution (edge padded) to one channel, then a sigmoid."""

    def __init__(self, in_channels: int) -> None:
        super().__init__(nn.ReplicationPad2d(1), nn.Conv2d(in_channels, 1, 3), nn.Sigmoid())


class DepthDecoder(nn.Module):
    """Five up-convolution stages from stride 32 to stride 1, each concatenating the encoder skip."""

    def __init__(self, encoder_channels: tuple[int, ...]) -> None:
        super().__init__()
        self.reduce = nn.ModuleList()
        self.fuse = nn.ModuleList()
        in_ch = encoder_channels[-1]
        for level in reversed(range(5)):
            out_ch = DECODER_CHANNELS[level]
            self.reduce.append(ConvELU(in_ch, out_ch))
            skip = encoder_channels[level - 1] if level > 0 else 0
            self.fuse.append(ConvELU(out_ch + skip, out_ch))
            in_ch = out_ch
        self.heads = nn.ModuleList(DispHead(DECODER_CHANNELS[s]) for s in range(NUM_SCALES))

    def forward(self, features: list[torch.Tensor], *, all_scales: bool = True) -> list[torch.Tensor]:
        """features: five encoder maps -> disparities [B,1,H/2^s,W/2^s], s = 0..3 (only s=0 unless all_scales)."""
        x = features[-1]
        disps: dict[int, torch.Tensor] = {}
        for i, level in enumerate(reversed(range(5))):
            x = F.interpolate(self.reduce[i](x), scale_factor=2.0, mode="nearest")
            if level > 0:
                x = torch.cat([x, features[level - 1]], dim=1)
            x = self.fuse[i](x)
            if level < NUM_SCALES and (all_scales or level == 0):
                disps[level] = self.heads[level](x)
        return [disps[s] for s in sorted(disps)]


# Depth decoders by name (model.decoder): "concat" for the ResNet/MobileNet encoders, "add" for the
# edge family (edgedepth/models/edge.py); "auto" takes the one the encoder is registered with.
DECODERS: dict[str, type[nn.Module]] = {"concat": DepthDecoder, "add": AddFusionDecoder}


def decoder_names() -> tuple[str, ...]:
    """The values model.decoder accepts."""
    return ("auto", *DECODERS)


class DepthNet(nn.Module):
    """Monocular depth network.

    ``forward(image [B,3,H,W] in [0,1])`` -> dict with "disp" (4 maps [B,1,H/2^s,W/2^s]),
    "depth" [B,1,H,W] metres (from disp[0]) and "features" (deepest encoder map [B,C,H/32,W/32]).
    H and W must be multiples of 32.
    """

    def __init__(self, encoder: Encoder, *, min_depth: float, max_depth: float, decoder: str = "auto") -> None:
        super().__init__()
        self.encoder = encoder
        self.decoder_name = preferred_decoder(encoder.name) if decoder == "auto" else decoder
        if self.decoder_name not in DECODERS:
            raise ConfigError(f"unknown depth decoder '{decoder}'", fix=f"set model.decoder to one of: {', '.join(decoder_names())}")
        self.decoder = DECODERS[self.decoder_name](encoder.channels)
        _start_heads_at_prior_depth(self.decoder, min_depth, max_depth)
        self.min_depth = float(min_depth)
        self.max_depth = float(max_depth)
        self.encoder_name = encoder.name
        self.feature_channels = encoder.channels[-1]

    def forward(self, image: torch.Tensor) -> dict[str, torch.Tensor | list[torch.Tensor]]:
        features = self.encoder(image)
        disps = self.decoder(features)
        return {
            "disp": disps,
            "depth": disp_to_depth(disps[0], self.min_depth, self.max_depth),
            "features": features[-1],
        }

    def predict_depth(self, image: torch.Tensor) -> torch.Tensor:
        """image [B,3,H,W] in [0,1] -> depth [B,1,H,W] metres; only the full-resolution head runs."""
        disp = self.decoder(self.encoder(image), all_scales=False)[0]
        return disp_to_depth(disp, self.min_depth, self.max_depth)


def _start_heads_at_prior_depth(decoder: nn.Module, min_depth: float, max_depth: float) -> None:
    """Set each disparity head's last bias so that training starts at the geometric-mean depth of the range.

    From a sigmoid at 0.5 (about 2 x min_depth) Adam moves a head's logit by ~lr per weight and step; the
    edge decoder, whose BatchNorm pins its features at unit scale, took ~150 steps to reach street depths
    (its L1 loss fell 4x slower; measured on the synthetic world)."""
    prior = math.sqrt(min_depth * max_depth)
    disp = (1.0 / prior - 1.0 / max_depth) / (1.0 / min_depth - 1.0 / max_depth)
    for head in decoder.heads:
        last_conv = [m for m in head.modules() if isinstance(m, nn.Conv2d)][-1]
        nn.init.constant_(last_conv.bias, math.log(disp / (1.0 - disp)))


def resized_to_stride(fn, stride: int = 32):
    """Wrap a network function so any input size works: images are resized to the nearest multiples of
    ``stride`` (the encoder's), and the output back to the input size (bilinear both ways)."""

    def run(images: torch.Tensor) -> torch.Tensor:
        h, w = images.shape[-2:]
        hs, ws = max(stride, round(h / stride) * stride), max(stride, round(w / stride) * stride)
        if (hs, ws) == (h, w):
            return fn(images)
        out = fn(F.interpolate(images, size=(hs, ws), mode="bilinear", align_corners=False))
        return F.interpolate(out, size=(h, w), mode="bilinear", align_corners=False)

    return run


class DepthPredictor(nn.Module):
    """Wraps :meth:`DepthNet.predict_depth` as ``forward`` (for ONNX export and tracing)."""

    def __init__(self, net: DepthNet) -> None:
        super().__init__()
        self.net = net
        # Start in the net's mode: torch.onnx.export restores the wrapper's mode recursively
        # afterwards, which would otherwise flip an eval-mode net into training mode.
        self.train(net.training)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return self.net.predict_depth(image)


def build_depth_net(
    *,
    encoder: str = "resnet18",
    min_depth: float = 0.5,
    max_depth: float = 80.0,
    weights: Optional[str | Path] = None,
    decoder: str = "auto",
) -> DepthNet:
    """Depth network: a registered encoder (random init, or a local state_dict file of it) and a decoder
    (``"auto"``: the one the encoder is designed for; see DECODERS)."""
    if not 0 < min_depth < max_depth:
        raise ConfigError(
            f"depth range min_depth={min_depth}, max_depth={max_depth} is invalid",
            fix="set 0 < model.min_depth < model.max_depth, e.g. 0.5 and 80",
        )
    return DepthNet(build_encoder(name=encoder, weights=weights), min_depth=min_depth, max_depth=max_depth, decoder=decoder)
