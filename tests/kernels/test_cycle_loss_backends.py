"""The cycle loss gives the same training losses with the fused and the reference kernels."""
import torch

from edgedepth.losses import cycle_loss
from tests.kernels.conftest import make_inputs


def optimise_depth(kernel: str, steps: int = 3, device: str = "cpu") -> list[float]:
    """A few SGD steps on a free log-depth map under the two-view cycle loss; returns the losses."""
    target, src_a, depth, T_a, K = make_inputs(b=2, h=24, w=40, seed=11, device=device)
    _, src_b, _, T_b, _ = make_inputs(b=2, h=24, w=40, seed=12, device=device)
    views_image, views_T = torch.stack([src_a, src_b], 1), torch.stack([T_a, T_b], 1)
    log_depth = depth.log().clone().requires_grad_()
    optim = torch.optim.SGD([log_depth], lr=5.0)
    losses = []
    for _ in range(steps):
        loss = cycle_loss(target, views_image, views_T, log_depth.exp(), K, kernel=kernel)
        optim.zero_grad()
        loss.backward()
        optim.step()
        losses.append(loss.item())
    return losses


def test_training_losses_match_between_backends(require_ops):
    fused, ref = optimise_depth("fused"), optimise_depth("reference")
    assert fused[-1] != fused[0]  # the depth actually moved
    torch.testing.assert_close(torch.tensor(fused), torch.tensor(ref), rtol=1e-5, atol=1e-6)
