"""Warping operators for the cycle loss.

``inverse_warp(src, depth, T, K) -> (warped, valid)`` and
``photometric_error(target, src, depth, T, K) -> (error, valid)``; shapes in
:mod:`edgedepth.kernels.reference`, which is also the plain-PyTorch ground truth.
"""
from edgedepth.kernels.reference import inverse_warp, photometric_error

__all__ = ["inverse_warp", "photometric_error"]
