import math

import pytest
import torch

from edgedepth.errors import ConfigError
from edgedepth.losses import adversarial_loss


def test_lsgan_values():
    ones, zeros = torch.ones(2, 1, 3, 3), torch.zeros(2, 1, 3, 3)
    assert adversarial_loss(ones, True, "lsgan").item() == 0.0
    assert adversarial_loss(ones, False, "lsgan").item() == 1.0
    assert adversarial_loss(zeros, False, "lsgan").item() == 0.0
    assert adversarial_loss(zeros, True, "lsgan").item() == 1.0


def test_bce_values():
    zeros = torch.zeros(1, 1, 2, 2)
    assert adversarial_loss(zeros, True, "bce").item() == pytest.approx(math.log(2))
    assert adversarial_loss(torch.full((1, 1, 2, 2), 20.0), True, "bce").item() < 1e-6
    assert adversarial_loss(torch.full((1, 1, 2, 2), 20.0), False, "bce").item() == pytest.approx(20.0, rel=1e-3)


@pytest.mark.parametrize("kind", ["lsgan", "bce"])
def test_signs_generator_pushes_up_discriminator_pushes_target_down(kind):
    # D,S minimise adversarial_loss(F(target), True): the gradient raises the logits ("looks like source").
    logits = torch.zeros(1, 1, 2, 2, requires_grad=True)
    adversarial_loss(logits, True, kind).backward()
    assert (logits.grad < 0).all()
    # F minimises adversarial_loss(F(target), False): the gradient lowers them.
    logits = torch.full((1, 1, 2, 2), 0.5, requires_grad=True)
    adversarial_loss(logits, False, kind).backward()
    assert (logits.grad > 0).all()


def test_unknown_kind_is_refused():
    with pytest.raises(ConfigError, match="adv_kind"):
        adversarial_loss(torch.zeros(1), True, "wgan")
