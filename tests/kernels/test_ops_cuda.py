"""The CUDA operators against the reference, finite differences and opcheck (run where a GPU is visible)."""
import pytest
import torch

from edgedepth.kernels import inverse_warp, ops, photometric_error, reference
from helpers.warp import make_inputs, opcheck_cases
from helpers.warp import optimise_depth

pytestmark = [
    pytest.mark.cuda,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU (none visible to torch)"),
]

SIZES = [(13, 21), (35, 19), (2, 3), (101, 333)]  # none a multiple of the 16x16 tile; 101x333 spans many blocks


@pytest.fixture
def cuda_ops(require_ops):
    if not ops.has_kernel("cuda"):
        pytest.fail("a GPU is present but the library was built without CUDA kernels "
                    "(rebuild with EDGEDEPTH_BUILD_CUDA=1 pip install --no-build-isolation -e .)")
    return require_ops


def _grads(fn, inputs, upstream):
    leaves = [t.clone().requires_grad_(i < 4) for i, t in enumerate(inputs)]
    out = fn(*leaves)
    out.backward(upstream)
    return out.detach(), [t.grad for t in leaves[:4]]


def _fns(kind, backend):
    if kind == "warp":
        return lambda t, s, d, T, K: inverse_warp(s, d, T, K, backend=backend)[0] + 0 * t.sum()
    return lambda *a: photometric_error(*a, backend=backend)[0]


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("kind", ["warp", "photometric"])
def test_float32_matches_float64_reference_on_gpu(cuda_ops, size, kind):
    """Fused CUDA float32 vs the reference in float64 on the same GPU: forward, valid mask, all gradients.

    The float32 reference is no yardstick at these sizes: its float32 projection is up to 3e-4 (warp
    output) and its photometric gradients up to 4e-2 (relative to their largest entry) away from the
    float64 truth at 101x333, measured. The fused operators compute the geometry in double and must
    be within 1e-5 of the truth."""
    h, w = size
    inputs = make_inputs(b=3, h=h, w=w, seed=h + w, device="cuda")
    inputs64 = [t.double() for t in inputs]
    valid_f = (inverse_warp(*inputs[1:], backend="fused") if kind == "warp"
               else photometric_error(*inputs, backend="fused"))[1]
    valid_r = (reference.inverse_warp(*inputs64[1:]) if kind == "warp" else reference.photometric_error(*inputs64))[1]
    torch.testing.assert_close(valid_f.double(), valid_r, rtol=0, atol=0)
    upstream = torch.rand(valid_f.shape if kind == "photometric" else inputs[1].shape, device="cuda",
                          generator=torch.Generator("cuda").manual_seed(1))
    out_f, grads_f = _grads(_fns(kind, "fused"), inputs, upstream)
    out_r, grads_r = _grads(_fns(kind, "reference"), inputs64, upstream.double())
    assert out_f.dtype == torch.float32 and torch.isfinite(out_f).all()
    torch.testing.assert_close(out_f.double(), out_r, rtol=1e-5, atol=1e-5)
    for name, gf, gr in zip(["target", "src", "depth", "T"], grads_f, grads_r):
        atol = 1e-5 * max(1.0, gr.abs().max().item())
        torch.testing.assert_close(gf.double(), gr, rtol=1e-5, atol=atol, msg=lambda m: f"grad {kind}/{name}: {m}")


def test_gradcheck_float64_on_gpu(cuda_ops):
    target, src, depth, T, K = make_inputs(b=2, c=2, h=5, w=7, dtype=torch.float64, seed=3, device="cuda")
    for t in (target, src, depth, T):
        t.requires_grad_()
    # atomics add in a different order on every run: allow that much non-determinism, no more
    assert torch.autograd.gradcheck(lambda s, d, T_: cuda_ops.inverse_warp(s, d, T_, K)[0], (src, depth, T),
                                    nondet_tol=1e-10)
    assert torch.autograd.gradcheck(
        lambda t, s, d, T_: cuda_ops.photometric_error(t, s, d, T_, K)[0], (target, src, depth, T), nondet_tol=1e-10
    )


def test_opcheck_every_operator_on_gpu(cuda_ops):
    for name, args in opcheck_cases("cuda").items():
        # test_aot_dispatch_dynamic compares gradients of two runs: CUDA atomics reorder sums
        torch.library.opcheck(getattr(cuda_ops, name).default, args,
                              test_utils=("test_schema", "test_autograd_registration", "test_faketensor"))


@pytest.mark.parametrize("dtype,tol", [(torch.float16, 2e-2), (torch.bfloat16, 5e-2)])
def test_half_precision_close_to_float64(cuda_ops, dtype, tol):
    """float16/bfloat16 inputs, float accumulation: close to the float64 reference on the same rounded inputs."""
    inputs = make_inputs(b=2, h=67, w=45, seed=7, device="cuda")
    low = [t.to(dtype) for t in inputs]
    rounded = [t.double() for t in low]
    upstream = torch.rand(2, 1, 67, 45, device="cuda").to(dtype)
    out_l, grads_l = _grads(_fns("photometric", "fused"), low, upstream)
    out_r, grads_r = _grads(_fns("photometric", "reference"), rounded, upstream.double())
    assert out_l.dtype == dtype and all(g.dtype == dtype for g in grads_l)
    torch.testing.assert_close(out_l.double(), out_r, rtol=tol, atol=tol)
    for name, gl, gr in zip(["target", "src", "depth", "T"], grads_l, grads_r):
        torch.testing.assert_close(gl.double(), gr, rtol=tol, atol=tol * max(1.0, gr.abs().max().item()),
                                   msg=lambda m: f"grad {name}: {m}")
    warped_l, _ = inverse_warp(*low[1:], backend="fused")
    warped_r, _ = reference.inverse_warp(*rounded[1:])
    torch.testing.assert_close(warped_l.double(), warped_r, rtol=tol, atol=tol)


def test_forward_is_deterministic_and_matches_cpu_operator(cuda_ops):
    """Two GPU runs give identical forwards (no race), equal to the CPU operator within float rounding."""
    inputs = make_inputs(b=2, h=50, w=77, seed=9)
    gpu = [t.cuda() for t in inputs]
    first, second = cuda_ops.photometric_error(*gpu), cuda_ops.photometric_error(*gpu)
    assert all(torch.equal(a, b) for a, b in zip(first, second))
    cpu = cuda_ops.photometric_error(*inputs)
    torch.testing.assert_close(first[0].cpu(), cpu[0], rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(first[1].cpu(), cpu[1])


def test_non_contiguous_and_multi_channel_on_gpu(cuda_ops):
    target, src, depth, T, K = make_inputs(b=2, c=5, h=19, w=23, seed=10, device="cuda")
    views = torch.stack([src, src.flip(-1)], dim=1)
    got = photometric_error(target, views[:, 1], depth, T, K, backend="fused")
    want = reference.photometric_error(*(t.double() for t in (target, views[:, 1].contiguous(), depth, T, K)))
    torch.testing.assert_close(got[0].double(), want[0], rtol=1e-5, atol=1e-5)


def test_training_losses_match_between_backends_on_gpu(cuda_ops):
    fused, ref = optimise_depth("fused", device="cuda"), optimise_depth("reference", device="cuda")
    assert fused[-1] != fused[0]
    torch.testing.assert_close(torch.tensor(fused), torch.tensor(ref), rtol=1e-5, atol=1e-6)
