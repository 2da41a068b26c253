"""Networks of the method: depth D, semantics S (DeepLabv3+) and the domain discriminator F.

``build_models(cfg.model)`` builds all three consistently from a :class:`~edgedepth.config.ModelConfig`.
"""
from __future__ import annotations

from typing import Optional

from edgedepth.config import ModelConfig
from edgedepth.errors import ConfigError
from edgedepth.models.depth import DepthNet, DepthPredictor, build_depth_net, disp_to_depth, resized_to_stride
from edgedepth.models.discriminator import Discriminator, build_discriminator, discriminator_input
from edgedepth.models.encoders import Encoder, build_encoder, encoder_names, register_encoder
from edgedepth.models.semantic import SemanticNet, build_semantic_net

__all__ = [
    "DepthNet",
    "DepthPredictor",
    "Discriminator",
    "Encoder",
    "SemanticNet",
    "build_depth_net",
    "build_depth_net_from_config",
    "build_discriminator",
    "build_encoder",
    "encoder_names",
    "register_encoder",
    "build_models",
    "build_semantic_net",
    "build_semantic_net_from_config",
    "discriminator_input",
    "disp_to_depth",
    "resized_to_stride",
]


def build_depth_net_from_config(cfg: ModelConfig) -> DepthNet:
    """The depth network described by ``cfg`` (encoder, depth range, optional encoder weights)."""
    return build_depth_net(encoder=cfg.encoder, min_depth=cfg.min_depth, max_depth=cfg.max_depth, weights=cfg.encoder_weights,
                           decoder=cfg.decoder)


def build_semantic_net_from_config(cfg: ModelConfig, depth_net: DepthNet) -> SemanticNet:
    """S for ``cfg``: on ``depth_net``'s encoder when ``cfg.shared_backbone``, else with its own backbone."""
    if cfg.shared_backbone:
        return build_semantic_net(num_classes=cfg.num_classes, shared_encoder=depth_net.encoder, channels=cfg.semantic_channels)
    same_arch = cfg.semantic_backbone == cfg.encoder
    return build_semantic_net(
        backbone=cfg.semantic_backbone,
        num_classes=cfg.num_classes,
        weights=cfg.encoder_weights if same_arch else None,
        channels=cfg.semantic_channels,
    )


def build_models(cfg: ModelConfig) -> tuple[DepthNet, Optional[SemanticNet], Discriminator]:
    """(D, S, F) for ``cfg``; S is None when ``cfg.semantics`` is false.

    With ``cfg.shared_backbone`` S runs on D's encoder (owned by D: its parameters are D's, not S's).
    ``cfg.encoder_weights`` initialises S's own backbone too when it has the same architecture.
    F's input width is D.feature_channels (+ S.feature_channels) + 3 (+ num_classes for the
    "semantic" discriminator, whose input must then come from
    ``discriminator_input(..., semantic_logits=S(image)["logits"])``).
    """
    if cfg.discriminator == "semantic" and not cfg.semantics:
        raise ConfigError(
            "model.discriminator is 'semantic' but model.semantics is false",
            fix="set model.semantics=true, or model.discriminator=patch",
        )
    depth_net = build_depth_net_from_config(cfg)
    semantic_net = None
    in_channels = depth_net.feature_channels + 3
    if cfg.semantics:
        semantic_net = build_semantic_net_from_config(cfg, depth_net)
        in_channels += semantic_net.feature_channels
    if cfg.discriminator == "semantic":
        in_channels += cfg.num_classes
    discriminator = build_discriminator(in_channels=in_channels, base_channels=cfg.disc_channels, conditioning=cfg.discriminator)
    return depth_net, semantic_net, discriminator
