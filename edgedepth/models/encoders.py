"""Image encoders shared by the depth and semantic networks.

Every encoder takes an RGB image in [0, 1] (ImageNet normalisation happens inside, so a shared
encoder sees the same input from either network) and returns five feature maps at strides
2, 4, 8, 16 and 32 (16 for the last one when the last stage is dilated for DeepLab).
The architectures are torchvision's; weights are random unless a local torchvision
``state_dict`` file is given. Each architecture is registered once, by name
(:func:`register_encoder`, as timm's ``register_model``); :func:`build_encoder` and the config's
``model.encoder`` / ``model.semantic_backbone`` validation read the same table.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

import torch
import torchvision
from torch import nn

from edgedepth.errors import CheckpointError, ConfigError

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

# Indices into torchvision's MobileNetV3-Large ``features`` after which the stride doubles next:
# outputs at strides 2, 4, 8, 16, 32 with 16, 24, 40, 112, 960 channels.
_MOBILENET_TAPS = (1, 3, 6, 12, 16)


class Encoder(nn.Module):
    """Base: normalises the image, then :meth:`extract` returns the five feature maps.

    Attributes: ``name`` (architecture), ``channels`` (channels of the five outputs),
    ``output_stride`` (stride of the deepest output: 32, or 16 when dilated).
    """

    name: str
    channels: tuple[int, ...]
    output_stride: int

    def __init__(self) -> None:
        super().__init__()
        # Non-persistent: constants of the architecture, not weights, so state_dicts stay torchvision-like.
        mean, std = torch.tensor(IMAGENET_MEAN), torch.tensor(IMAGENET_STD)  # device-ok: buffers move with the module
        self.register_buffer("mean", mean.view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", std.view(1, 3, 1, 1), persistent=False)

    def forward(self, image: torch.Tensor) -> list[torch.Tensor]:
        """image [B,3,H,W] RGB in [0,1] -> five features [B,C_i,H/s_i,W/s_i]."""
        return self.extract((image - self.mean) / self.std)

    def extract(self, x: torch.Tensor) -> list[torch.Tensor]:
        raise NotImplementedError


class ResNetEncoder(Encoder):
    """torchvision ResNet without its classifier; submodule names match torchvision's."""

    def __init__(self, net: torchvision.models.ResNet, name: str, *, dilate_last: bool) -> None:
        super().__init__()
        self.name = name
        self.conv1, self.bn1, self.relu, self.maxpool = net.conv1, net.bn1, net.relu, net.maxpool
        self.layer1, self.layer2, self.layer3, self.layer4 = net.layer1, net.layer2, net.layer3, net.layer4
        wide = 4 if name == "resnet50" else 1  # Bottleneck expansion
        self.channels = (64, 64 * wide, 128 * wide, 256 * wide, 512 * wide)
        self.output_stride = 32
        if dilate_last:
            _dilate(self.layer4)
            self.output_stride = 16

    def extract(self, x: torch.Tensor) -> list[torch.Tensor]:
        f0 = self.relu(self.bn1(self.conv1(x)))
        f1 = self.layer1(self.maxpool(f0))
        f2 = self.layer2(f1)
        f3 = self.layer3(f2)
        return [f0, f1, f2, f3, self.layer4(f3)]


class MobileNetEncoder(Encoder):
    """torchvision MobileNetV3-Large ``features`` (classifier dropped), tapped at five strides."""

    def __init__(self, net: torchvision.models.MobileNetV3, name: str) -> None:
        super().__init__()
        self.name = name
        self.features = net.features
        self.channels = (16, 24, 40, 112, 960)
        self.output_stride = 32

    def extract(self, x: torch.Tensor) -> list[torch.Tensor]:
        outs = []
        for i, layer in enumerate(self.features):
            x = layer(x)
            if i in _MOBILENET_TAPS:
                outs.append(x)
        return outs


def _dilate(stage: nn.Module) -> None:
    """Turn a stride-2 ResNet stage into a stride-1 stage with dilation 2 (DeepLab, output stride 16).

    Done on the built modules because torchvision's ``replace_stride_with_dilation`` refuses
    BasicBlock (ResNet-18/34); the weight shapes are unchanged, so ImageNet weights still load.
    """
    for module in stage.modules():
        if isinstance(module, nn.Conv2d):
            if module.stride == (2, 2):
                module.stride = (1, 1)
            if module.kernel_size == (3, 3):
                module.dilation, module.padding = (2, 2), (2, 2)


def load_weights(net: nn.Module, path: str | Path, *, name: str, saved_from: Optional[str] = None) -> None:
    """Load a ``state_dict`` file into ``net`` (an ImageNet classifier in it is dropped), with clear errors.

    ``saved_from`` names what the file should be the state_dict of (default: the torchvision model ``name``)."""
    saved_from = saved_from or f"torchvision.models.{name}(weights=...)"
    path = Path(path)
    if not path.is_file():
        raise ConfigError(
            f"encoder weights file '{path}' does not exist",
            fix="set model.encoder_weights to a local torchvision state_dict (.pth), or to null for random init",
        )
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # corrupt zip, pickle of objects refused by weights_only, ...
        raise CheckpointError(
            f"encoder weights file '{path}' cannot be read as a state_dict",
            why=(str(e).splitlines() or [type(e).__name__])[0],
            fix=f"save it with torch.save({saved_from}.state_dict(), path)",
        ) from None
    if not isinstance(state, dict):
        raise CheckpointError(f"encoder weights file '{path}' holds a {type(state).__name__}, not a state_dict")
    # The ImageNet classifier is not part of the encoder.
    state = {k: v for k, v in state.items() if not k.startswith(("fc.", "classifier."))}
    try:
        net.load_state_dict(state, strict=True)
    except RuntimeError as e:
        lines = [line.strip() for line in str(e).splitlines() if line.strip()]
        raise CheckpointError(
            f"encoder weights file '{path}' does not fit the {name} encoder",
            why="; ".join(lines[1:3]) or lines[0],
            fix=f"pass the state_dict of {saved_from}, or set model.encoder to the architecture it belongs to",
        ) from None


@dataclass(frozen=True)
class _Entry:
    make: Callable[[Optional[str | Path], bool], Encoder]  # (weights, dilate_last) -> encoder
    dilatable: bool  # can run at output stride 16 (what DeepLab's backbone needs)
    decoder: str  # the depth decoder it is designed for (model.decoder=auto picks it)


_REGISTRY: dict[str, _Entry] = {}


def register_encoder(name: str, *, dilatable: bool, decoder: str = "concat"):
    """Decorator: ``make(weights, dilate_last) -> Encoder`` becomes the encoder ``name``; ``decoder``
    names the depth decoder (``edgedepth.models.depth.DECODERS``) that ``model.decoder=auto`` gives it."""

    def register(make: Callable[[Optional[str | Path], bool], Encoder]):
        if name in _REGISTRY:
            raise ValueError(f"encoder '{name}' is registered twice")
        _REGISTRY[name] = _Entry(make, dilatable, decoder)
        return make

    return register


def preferred_decoder(name: str) -> str:
    """The depth decoder the encoder ``name`` is designed for."""
    if name not in _REGISTRY:
        raise ConfigError(f"unknown encoder '{name}'", fix=f"use one of: {', '.join(encoder_names())}")
    return _REGISTRY[name].decoder


def encoder_names(*, dilatable: bool = False) -> tuple[str, ...]:
    """Registered encoder names (only those that can be dilated for DeepLab, when asked)."""
    return tuple(n for n, e in _REGISTRY.items() if e.dilatable or not dilatable)


def dilatable_encoder_names() -> tuple[str, ...]:
    """The encoders DeepLab's semantic network can use (output stride 16)."""
    return encoder_names(dilatable=True)


def _resnet(name: str):
    @register_encoder(name, dilatable=True)
    def make(weights: Optional[str | Path], dilate_last: bool) -> Encoder:
        net = getattr(torchvision.models, name)(weights=None)
        net.fc = nn.Identity()
        if weights is not None:
            load_weights(net, weights, name=name)
        return ResNetEncoder(net, name, dilate_last=dilate_last)


for _name in ("resnet18", "resnet34", "resnet50"):
    _resnet(_name)


@register_encoder("mobilenet_v3_large", dilatable=False)
def _mobilenet(weights: Optional[str | Path], dilate_last: bool) -> Encoder:
    net = torchvision.models.mobilenet_v3_large(weights=None)
    net.classifier = nn.Identity()
    if weights is not None:
        load_weights(net, weights, name="mobilenet_v3_large")
    return MobileNetEncoder(net, "mobilenet_v3_large")


def build_encoder(*, name: str = "resnet18", weights: Optional[str | Path] = None, dilate_last: bool = False) -> Encoder:
    """A five-level encoder; ``dilate_last`` gives output stride 16 (for DeepLab; dilatable encoders only)."""
    if name not in _REGISTRY:
        raise ConfigError(f"unknown encoder '{name}'", fix=f"use one of: {', '.join(encoder_names())}")
    entry = _REGISTRY[name]
    if dilate_last and not entry.dilatable:
        raise ConfigError(f"encoder '{name}' cannot be dilated", fix=f"use one of: {', '.join(encoder_names(dilatable=True))}")
    return entry.make(weights, dilate_last)
