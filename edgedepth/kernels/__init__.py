"""Warping operators for the cycle loss.

``inverse_warp(src, depth, T, K) -> (warped, valid)`` and
``photometric_error(target, src, depth, T, K) -> (error, valid)``; shapes and semantics are those
of :mod:`edgedepth.kernels.reference`, the plain-PyTorch ground truth. ``backend`` picks the
implementation: "fused" (compiled ``edgedepth::`` operators, see docs/kernels.md), "reference",
or "auto" (fused where the library has a kernel for the device and dtype, else the reference,
with one warning when the library itself is missing).
"""
from __future__ import annotations

import warnings

import torch

from edgedepth.errors import EdgedepthError
from edgedepth.kernels import ops, reference

__all__ = ["inverse_warp", "photometric_error", "active_backend", "BACKENDS"]

BACKENDS = ("auto", "fused", "reference")
_FUSED_DTYPES = {
    "cpu": (torch.float32, torch.float64),
    "cuda": (torch.float32, torch.float64, torch.float16, torch.bfloat16),
}
_warned = False


def active_backend() -> str:
    """"fused" when the compiled operators are loaded, else "reference"."""
    return "fused" if ops.load() else "reference"


def _fused_supports(t: torch.Tensor) -> bool:
    kind = t.device.type
    return kind in _FUSED_DTYPES and t.dtype in _FUSED_DTYPES[kind] and ops.has_kernel(kind)


def _use_fused(backend: str, src: torch.Tensor) -> bool:
    global _warned
    if backend not in BACKENDS:
        raise EdgedepthError(f"unknown kernel backend {backend!r}", fix=f"use one of {', '.join(BACKENDS)}")
    if backend == "reference":
        return False
    if backend == "fused" and not _fused_supports(src):
        raise EdgedepthError(
            f"the fused warp operators cannot run on {src.device.type} {src.dtype}",
            why=ops.load_error() or "the compiled library has no kernel for this device or dtype",
            fix="rebuild with `pip install --no-build-isolation -e .` (see docs/kernels.md) or use kernel=reference",
        )
    if not ops.load() and not _warned:
        _warned = True
        warnings.warn(
            f"edgedepth: fused warp operators unavailable ({ops.load_error()}); using the slower plain-PyTorch "
            "reference. Build them with `pip install --no-build-isolation -e .` or set EDGEDEPTH_OPS_LIBRARY.",
            RuntimeWarning,
            stacklevel=3,
        )
    return _fused_supports(src)


def _common(*tensors: torch.Tensor) -> list[torch.Tensor]:
    dtype = tensors[0].dtype
    for t in tensors[1:]:
        dtype = torch.promote_types(dtype, t.dtype)
    return [t.to(dtype) for t in tensors]


def inverse_warp(src: torch.Tensor, depth: torch.Tensor, T: torch.Tensor, K: torch.Tensor, *, backend: str = "auto"):
    """Warp ``src`` [B,C,H,W] into the target view given target ``depth`` [B,1,H,W] (metres),
    ``T`` [B,4,4] (target -> source camera) and ``K`` [B,3,3].

    Returns (warped [B,C,H,W], valid [B,1,H,W]); differentiable in src, depth and T.
    """
    src, depth, T, K = _common(src, depth, T, K)
    if _use_fused(backend, src):
        return torch.ops.edgedepth.inverse_warp(src, depth, T, K)
    return reference.inverse_warp(src, depth, T, K)


def photometric_error(
    target: torch.Tensor, src: torch.Tensor, depth: torch.Tensor, T: torch.Tensor, K: torch.Tensor, *,
    backend: str = "auto",
):
    """Per-pixel 0.85 * (1 - SSIM3x3)/2 + 0.15 * L1 between ``target`` [B,C,H,W] and ``src`` warped
    into it, averaged over channels. Returns (error [B,1,H,W], valid [B,1,H,W]).

    The fused operator never stores the warped image; its backward recomputes the warp.
    """
    target, src, depth, T, K = _common(target, src, depth, T, K)
    if _use_fused(backend, src):
        return torch.ops.edgedepth.photometric_error(target, src, depth, T, K)
    return reference.photometric_error(target, src, depth, T, K)
