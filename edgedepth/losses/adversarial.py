"""Adversarial loss for the domain discriminator F and the networks D, S that try to fool it.

Convention (the trainer uses it so): source features are "real", target features "fake".
F minimises ``adversarial_loss(F(source), True) + adversarial_loss(F(target), False)``;
D and S minimise ``adversarial_loss(F(target), True)`` (the non-saturating generator loss for
"bce", the least-squares one for "lsgan").
"""
from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F

from edgedepth.errors import ConfigError


def adversarial_loss(logits: torch.Tensor, real: bool, kind: Literal["lsgan", "bce"] = "lsgan") -> torch.Tensor:
    """Mean loss of patch logits [B,1,h,w] against the label ``real`` (1) or fake (0)."""
    target = torch.full_like(logits, 1.0 if real else 0.0)
    if kind == "lsgan":
        return F.mse_loss(logits, target)
    if kind == "bce":
        return F.binary_cross_entropy_with_logits(logits, target)
    raise ConfigError(f"adversarial loss kind '{kind}' is unknown", fix="set loss.adv_kind to 'lsgan' or 'bce'")
