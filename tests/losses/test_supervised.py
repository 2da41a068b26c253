import pytest
import torch

from edgedepth.losses import depth_l1, segmentation_ce


def test_depth_l1_ignores_unlabelled_pixels():
    pred = torch.tensor([[[[1.0, 2.0], [3.0, 100.0]]]])
    gt = torch.tensor([[[[2.0, 2.0], [1.0, 0.0]]]])  # last pixel unknown
    assert depth_l1(pred, gt).item() == pytest.approx((1.0 + 0.0 + 2.0) / 3)


def test_depth_l1_without_labels_is_zero_with_graph():
    pred = torch.rand(1, 1, 4, 4, requires_grad=True)
    loss = depth_l1(pred, torch.zeros(1, 1, 4, 4))
    assert loss.item() == 0.0
    loss.backward()
    assert torch.equal(pred.grad, torch.zeros_like(pred))


def test_segmentation_ce_ignores_255():
    logits = torch.zeros(1, 3, 1, 2)
    logits[0, 0, 0, 0] = 10.0  # confident and right at pixel 0
    labels = torch.tensor([[[0, 255]]])
    expected = -torch.log_softmax(logits[0, :, 0, 0], 0)[0]
    assert segmentation_ce(logits, labels).item() == pytest.approx(expected.item())


def test_segmentation_ce_uniform_logits_is_log_k():
    labels = torch.randint(0, 19, (2, 4, 4))
    assert segmentation_ce(torch.zeros(2, 19, 4, 4), labels).item() == pytest.approx(torch.log(torch.tensor(19.0)).item())


def test_segmentation_ce_all_ignored_is_zero_not_nan():
    logits = torch.randn(1, 19, 2, 2, requires_grad=True)
    loss = segmentation_ce(logits, torch.full((1, 2, 2), 255))
    assert loss.item() == 0.0
    loss.backward()
    assert torch.isfinite(logits.grad).all()
