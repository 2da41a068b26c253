"""The edge family: a depth network built for INT8 engines and 2-core CPUs (``edge_s``, ``edge_l``).

Informed by RT-MonoDepth (Feng et al., arXiv 2308.10569) and FastDepth, our own layout:

- **Encoder**: a five-level pyramid (strides 2..32, so S and F read it like a ResNet's) of plain
  3x3 convolutions with ReLU and zero padding: each level is one stride-2 conv and ``depth`` more
  convs, each of those with an identity shortcut (``relu(x + conv(x))``: an Add that INT8 engines
  fuse into the conv; it trained the deeper ``edge_l`` to a 14 % lower AbsRel in 150 steps).
  BatchNorm trains them from scratch and is folded into the convs when exported (the ONNX graph is
  Conv, Add and ReLU; no Pad, no ELU, no depth-wise convs, which INT8 engines run poorly).
- **Decoder**: at every level a 3x3 conv narrows the coarser map to the skip's width, nearest
  upsampling doubles it and an element-wise Add fuses the skip (no Concat, which OpenVINO runs as a
  reference kernel), then a 3x3 conv mixes them. Nothing runs at full resolution.
- **Heads**: a 3x3 conv to 4 channels, a sigmoid and a depth-to-space (pixel shuffle) predict a
  level's disparity at twice its resolution, so the stride-2 level yields the full-resolution map
  with sub-pixel detail learned from the stride-2 features, at 1/4 of a full-resolution conv's cost.
  Four heads give the usual four scales (H, H/2, H/4, H/8).

Multiply-accumulates at 192x640, batch 1 (``torch.utils.flop_counter``; benchmarks/edge_bench.py):
``edge_s`` 0.48 G (0.61 M parameters), ``edge_l`` 1.30 G (2.74 M), against 8.0 G (14.3 M) for ResNet-18.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import torch
import torch.nn.functional as F
from torch import nn

from edgedepth.models.encoders import Encoder, load_weights, register_encoder


@dataclass(frozen=True)
class EdgeSpec:
    """Widths of the five encoder levels (strides 2..32) and the 3x3 convs after each strided one."""

    widths: tuple[int, int, int, int, int]
    depths: tuple[int, int, int, int, int]


EDGE_SPECS: dict[str, EdgeSpec] = {
    "edge_s": EdgeSpec(widths=(16, 24, 48, 80, 128), depths=(0, 1, 1, 1, 1)),
    "edge_l": EdgeSpec(widths=(16, 32, 64, 128, 256), depths=(0, 2, 3, 3, 2)),
}


def conv_bn_relu(in_channels: int, out_channels: int, *, stride: int = 1, dilation: int = 1) -> nn.Sequential:
    """3x3 conv (zero padding) + BatchNorm + ReLU; the BatchNorm folds into the conv at export."""
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=dilation, dilation=dilation, bias=False),
        nn.BatchNorm2d(out_channels),
        nn.ReLU(inplace=True),
    )


class ResidualConv(nn.Module):
    """``relu(x + bn(conv3x3(x)))``: a 3x3 conv with an identity shortcut."""

    def __init__(self, channels: int, *, dilation: int = 1) -> None:
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, padding=dilation, dilation=dilation, bias=False)
        self.bn = nn.BatchNorm2d(channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(x + self.bn(self.conv(x)))


class EdgeEncoder(Encoder):
    """Plain 3x3 conv pyramid: five levels at strides 2, 4, 8, 16, 32 (16 when dilated for DeepLab)."""

    def __init__(self, spec: EdgeSpec, name: str, *, dilate_last: bool = False) -> None:
        super().__init__()
        self.name = name
        self.channels = tuple(spec.widths)
        self.output_stride = 16 if dilate_last else 32
        self.levels = nn.ModuleList()
        in_ch = 3
        for level, (width, depth) in enumerate(zip(spec.widths, spec.depths)):
            dilated = dilate_last and level == len(spec.widths) - 1
            layers = [conv_bn_relu(in_ch, width, stride=1 if dilated else 2)]
            layers += [ResidualConv(width, dilation=2 if dilated else 1) for _ in range(depth)]
            self.levels.append(nn.Sequential(*layers))
            in_ch = width
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")

    def extract(self, x: torch.Tensor) -> list[torch.Tensor]:
        features = []
        for level in self.levels:
            x = level(x)
            features.append(x)
        return features


class SubpixelDispHead(nn.Module):
    """3x3 conv to 4 channels, sigmoid, depth-to-space: disparity in [0,1] at twice the input's resolution."""

    def __init__(self, in_channels: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_channels, 4, 3, padding=1)
        # ICNR: the four sub-pixels start with one filter, so training starts without a checkerboard
        with torch.no_grad():
            self.conv.weight.copy_(self.conv.weight[:1].expand_as(self.conv.weight))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.pixel_shuffle(torch.sigmoid(self.conv(x)), 2)


class AddFusionDecoder(nn.Module):
    """Skip decoder with addition fusion and nearest upsampling, from stride 32 to stride 2.

    ``forward(features, all_scales)`` -> disparities [B,1,H/2^s,W/2^s] for s = 0..3 (only s = 0
    unless ``all_scales``), as the ResNet decoder returns them.
    """

    def __init__(self, encoder_channels: tuple[int, ...]) -> None:
        super().__init__()
        self.reduce = nn.ModuleList()
        self.fuse = nn.ModuleList()
        in_ch = encoder_channels[-1]
        for skip_ch in reversed(encoder_channels[:-1]):  # levels at strides 16, 8, 4, 2
            self.reduce.append(conv_bn_relu(in_ch, skip_ch))
            self.fuse.append(conv_bn_relu(skip_ch, skip_ch))
            in_ch = skip_ch
        # heads[s] reads the decoder map at stride 2^(s+1) and predicts scale s (stride 2^s)
        self.heads = nn.ModuleList(SubpixelDispHead(c) for c in encoder_channels[:-1])

    def forward(self, features: list[torch.Tensor], *, all_scales: bool = True) -> list[torch.Tensor]:
        x = features[-1]
        decoded: list[torch.Tensor] = []
        for reduce, fuse, skip in zip(self.reduce, self.fuse, reversed(features[:-1])):
            x = fuse(F.interpolate(reduce(x), scale_factor=2.0, mode="nearest") + skip)
            decoded.append(x)
        decoded.reverse()  # decoded[s]: stride 2^(s+1)
        scales = range(len(self.heads)) if all_scales else range(1)
        return [self.heads[s](decoded[s]) for s in scales]


def _register(name: str) -> None:
    @register_encoder(name, dilatable=True, decoder="add")
    def make(weights: Optional[str | Path], dilate_last: bool) -> Encoder:
        encoder = EdgeEncoder(EDGE_SPECS[name], name, dilate_last=dilate_last)
        if weights is not None:
            load_weights(encoder, weights, name=name, saved_from=f"edgedepth.models.build_encoder(name='{name}')")
        return encoder


for _name in EDGE_SPECS:
    _register(_name)
