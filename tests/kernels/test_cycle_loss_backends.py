"""The cycle loss gives the same training losses with the fused and the reference kernels."""
import torch
from helpers.warp import optimise_depth


def test_training_losses_match_between_backends(require_ops):
    fused, ref = optimise_depth("fused"), optimise_depth("reference")
    assert fused[-1] != fused[0]  # the depth actually moved
    torch.testing.assert_close(torch.tensor(fused), torch.tensor(ref), rtol=1e-5, atol=1e-6)
