import pytest
import torch

from edgedepth.losses import smoothness_loss


def test_constant_disparity_costs_nothing():
    assert smoothness_loss(torch.full((2, 1, 8, 8), 0.3), torch.rand(2, 3, 8, 8)).item() == pytest.approx(0.0, abs=1e-6)


def test_disparity_edge_is_cheaper_on_an_image_edge():
    disp = torch.ones(1, 1, 8, 8)
    disp[..., 4:] = 2.0
    flat = torch.zeros(1, 3, 8, 8)
    edged = flat.clone()
    edged[..., 4:] = 1.0  # image edge where the disparity jumps
    assert smoothness_loss(disp, edged) < 0.5 * smoothness_loss(disp, flat)


def test_scale_of_disparity_does_not_matter():
    disp, image = torch.rand(1, 1, 8, 8) + 0.1, torch.rand(1, 3, 8, 8)
    assert smoothness_loss(disp, image).item() == pytest.approx(smoothness_loss(10 * disp, image).item(), rel=1e-4)


def test_larger_image_is_resized_to_the_disparity():
    loss = smoothness_loss(torch.rand(2, 1, 8, 16, requires_grad=True), torch.rand(2, 3, 32, 64))
    loss.backward()
    assert loss.item() > 0
