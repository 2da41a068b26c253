"""The compiled operators against the plain-PyTorch reference, finite differences and opcheck."""
import os

import pytest
import torch

from edgedepth.kernels import inverse_warp, ops, photometric_error, reference
from edgedepth.kernels.reference import project_to_source
from helpers.warp import make_inputs, opcheck_cases

SIZES = [(13, 21), (35, 19), (2, 3)]  # not multiples of the 16-row tile; 35 spans three tiles


def test_compiled_cpu_operator_built_in_ci():
    """Fails (never skips) in CI when the CPU library did not build or load."""
    if not os.environ.get("CI"):
        pytest.skip("only enforced when the environment variable CI is set")
    assert ops.load(), ops.load_error()
    assert ops.has_kernel("cpu")


def test_inputs_cover_behind_and_out_of_view():
    _, src, depth, T, K = make_inputs(h=35, w=19, dtype=torch.float64)
    u, v, z = project_to_source(depth, T, K)
    behind = z <= 1e-3
    outside = ~behind & ((u < 0) | (u > 18) | (v < 0) | (v > 34))
    assert behind.any() and outside.any() and (~behind & ~outside).any()


def _grads(fn, inputs, upstream):
    leaves = [t.clone().requires_grad_(i < 4) for i, t in enumerate(inputs)]
    out = fn(*leaves)
    out.backward(upstream)
    return out.detach(), [t.grad for t in leaves[:4]]


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("kind", ["warp", "photometric"])
def test_matches_reference_float32(require_ops, size, kind):
    h, w = size
    inputs = make_inputs(h=h, w=w, seed=h * w)
    if kind == "warp":
        fused = lambda t, s, d, T, K: inverse_warp(s, d, T, K, backend="fused")[0] + 0 * t.sum()  # noqa: E731
        ref = lambda t, s, d, T, K: reference.inverse_warp(s, d, T, K)[0] + 0 * t.sum()  # noqa: E731
        valid_fused = inverse_warp(*inputs[1:], backend="fused")[1]
        valid_ref = reference.inverse_warp(*inputs[1:])[1]
    else:
        fused = lambda *a: photometric_error(*a, backend="fused")[0]  # noqa: E731
        ref = lambda *a: reference.photometric_error(*a)[0]  # noqa: E731
        valid_fused = photometric_error(*inputs, backend="fused")[1]
        valid_ref = reference.photometric_error(*inputs)[1]
    torch.testing.assert_close(valid_fused, valid_ref, rtol=0, atol=0)
    out_ref = ref(*inputs)
    upstream = torch.rand(out_ref.shape, generator=torch.Generator().manual_seed(1))
    out_f, grads_f = _grads(fused, inputs, upstream)
    out_r, grads_r = _grads(ref, inputs, upstream)
    _, grads_64 = _grads(ref, [t.double() for t in inputs], upstream.double())
    torch.testing.assert_close(out_f, out_r, rtol=1e-5, atol=1e-5)
    for name, gf, gr, g64 in zip(["target", "src", "depth", "T"], grads_f, grads_r, grads_64):
        # float32 resolves a gradient of size g to about g * 1e-7, so 1e-5 is relative to the largest
        # gradient entry. grad T sums every pixel: there the float32 reference itself can be 1e-4 away
        # from the float64 truth (the order of its sums depends on the CPU's vector width), so the
        # bound also admits twice the reference's own float32 error.
        ref_error = (gr.double() - g64).abs().max().item()
        atol = 1e-5 * max(1.0, gr.abs().max().item()) + 2 * ref_error
        torch.testing.assert_close(gf, gr, rtol=1e-5, atol=atol, msg=lambda m: f"grad {kind}/{name}: {m}")
        torch.testing.assert_close(gf.double(), g64, rtol=1e-5, atol=1e-5 * max(1.0, g64.abs().max().item()),
                                   msg=lambda m: f"grad {kind}/{name} vs float64: {m}")


def test_gradcheck_float64(require_ops):
    target, src, depth, T, K = make_inputs(b=1, c=2, h=5, w=7, dtype=torch.float64, seed=3)
    for t in (target, src, depth, T):
        t.requires_grad_()
    assert torch.autograd.gradcheck(lambda s, d, T_: require_ops.inverse_warp(s, d, T_, K)[0], (src, depth, T))
    assert torch.autograd.gradcheck(
        lambda t, s, d, T_: require_ops.photometric_error(t, s, d, T_, K)[0], (target, src, depth, T)
    )


def test_opcheck_every_operator(require_ops):
    cases = opcheck_cases()
    assert set(cases) == set(ops.OP_NAMES)
    for name, args in cases.items():
        torch.library.opcheck(getattr(require_ops, name).default, args)


@pytest.mark.parametrize("batch", [1, 3])  # fewer and more batch elements than threads: both CPU paths
def test_backward_is_deterministic_across_thread_counts(require_ops, batch):
    inputs = make_inputs(b=batch, h=35, w=19, seed=5)
    grad = torch.rand(batch, 1, 35, 19)
    results = []
    for threads in (1, 2):
        torch.set_num_threads(threads)
        results.append(require_ops.photometric_error_backward(grad, *inputs))
    for a, b in zip(*results):
        assert torch.equal(a, b)


def test_torch_compile_traces_the_operators(require_ops):
    inputs = make_inputs(h=9, w=11, seed=6)

    def loss(t, s, d, T, K):
        err, valid = torch.ops.edgedepth.photometric_error(t, s, d, T, K)
        return (err * valid).sum()

    compiled = torch.compile(loss, backend="aot_eager", fullgraph=True)
    depth_a, depth_b = inputs[2].clone().requires_grad_(), inputs[2].clone().requires_grad_()
    compiled(inputs[0], inputs[1], depth_a, *inputs[3:]).backward()
    loss(inputs[0], inputs[1], depth_b, *inputs[3:]).backward()
    torch.testing.assert_close(depth_a.grad, depth_b.grad)


def test_bad_shapes_name_the_problem(require_ops):
    target, src, depth, T, K = make_inputs(h=6, w=9)
    with pytest.raises(RuntimeError, match="depth must be"):
        require_ops.inverse_warp(src, depth[:, :, :5], T, K)
    with pytest.raises(RuntimeError, match="dtype"):
        require_ops.photometric_error(target, src, depth.double(), T, K)


def test_non_contiguous_inputs(require_ops):
    """Views such as views_image[:, v] in the cycle loss are not contiguous."""
    target, src, depth, T, K = make_inputs(h=9, w=11, seed=8)
    views = torch.stack([src, src.flip(-1)], dim=1)  # [B,2,C,H,W]
    got = photometric_error(target, views[:, 1], depth, T, K, backend="fused")
    want = photometric_error(target, views[:, 1].contiguous(), depth, T, K, backend="fused")
    assert all(torch.equal(a, b) for a, b in zip(got, want))


def test_library_is_built_with_openmp(require_ops):
    """at::parallel_for's OpenMP region is compiled into our library: without -fopenmp every CPU
    kernel silently runs on one thread (the first benchmark did). The library must need libgomp."""
    import sys

    if not (sys.platform.startswith("linux") and torch.backends.openmp.is_available()):
        pytest.skip("PyTorch here does not use OpenMP on Linux")
    if not (ops.library_path() and ops.library_path().is_file()):
        pytest.skip("the operators were registered by another library")
    assert ops.cpu_threading() == "openmp", f"{ops.library_path()} is not linked with OpenMP: rebuild (setup.py adds -fopenmp)"
