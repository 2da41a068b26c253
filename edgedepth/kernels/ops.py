"""Loads the compiled ``edgedepth::`` operators and teaches autograd and the compiler about them.

The shared library (built by setup.py or CMake from ``kernels/``) registers the schema and the
CPU/CUDA kernels. This module finds it, loads it with ``torch.ops.load_library`` and adds, from
Python, a differentiable formula (``register_autograd``: the backward is its own operator) and
shape functions (``register_fake``) so that ``torch.compile`` and ``torch.export`` can trace them.

Search order: the file named by the environment variable ``EDGEDEPTH_OPS_LIBRARY``, then
``edgedepth/lib/_C*.so`` (where ``pip install`` and ``build_ext --inplace`` put it).
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import torch

LIBRARY_ENV = "EDGEDEPTH_OPS_LIBRARY"
OP_NAMES = ("inverse_warp", "inverse_warp_backward", "photometric_error", "photometric_error_backward")


@dataclass
class LoadState:
    path: Path | None = None  # the library that was loaded
    error: str | None = None  # why none was loaded
    attempted: bool = False


_state = LoadState()


def _candidates() -> list[Path]:
    named = os.environ.get(LIBRARY_ENV)
    if named:
        return [Path(named)]
    lib_dir = Path(__file__).resolve().parent.parent / "lib"
    return sorted(p for pattern in ("_C*.so", "_C*.dylib", "_C*.pyd") for p in lib_dir.glob(pattern))


def load() -> bool:
    """Loads the operator library once; returns whether the fused operators are available."""
    if _state.attempted:
        return _state.path is not None
    _state.attempted = True
    if hasattr(torch.ops.edgedepth, "inverse_warp"):  # already registered by someone else (e.g. C++)
        _state.path = Path("<registered before edgedepth loaded>")
    else:
        candidates = _candidates()
        if not candidates:
            _state.error = "no compiled library in edgedepth/lib and $" + LIBRARY_ENV + " is not set"
            return False
        path = candidates[0]
        if not path.is_file():
            _state.error = f"${LIBRARY_ENV} names {path}, which does not exist"
            return False
        try:
            torch.ops.load_library(str(path))
        except (OSError, RuntimeError) as e:
            _state.error = f"loading {path} failed: {e}"
            return False
        _state.path = path
    _register_python_side()
    return True


def library_path() -> Path | None:
    """The loaded library, or None."""
    load()
    return _state.path


def load_error() -> str | None:
    """Why the library is not loaded, or None when it is."""
    load()
    return _state.error


def cpu_threading() -> str:
    """How the loaded library's CPU kernels use threads: "openmp", "single-threaded" (built without
    OpenMP while PyTorch uses it: at::parallel_for's pragma is compiled into the library, so every
    kernel then runs on one thread), "unknown" (not a file we can read) or "none" (not loaded)."""
    import sys

    path = library_path()
    if path is None:
        return "none"
    if not path.is_file():
        return "unknown"
    if not (sys.platform.startswith("linux") and torch.backends.openmp.is_available()):
        return "unknown"
    return "openmp" if b"libgomp.so" in path.read_bytes() else "single-threaded"


def has_kernel(device_type: str) -> bool:
    """Whether the loaded library has kernels for ``device_type`` ("cpu" or "cuda")."""
    if not load():
        return False
    key = {"cpu": "CPU", "cuda": "CUDA"}[device_type]
    return all(torch._C._dispatch_has_kernel_for_dispatch_key(f"edgedepth::{n}", key) for n in OP_NAMES)


def _register_python_side() -> None:
    ops = torch.ops.edgedepth

    # The kernels return contiguous tensors whatever the input strides, so the fakes do too.
    def like(t):
        return t.new_empty(t.shape)

    @torch.library.register_fake("edgedepth::inverse_warp")
    def _(src, depth, T, K):
        return like(src), like(depth)

    @torch.library.register_fake("edgedepth::inverse_warp_backward")
    def _(grad_warped, src, depth, T, K):
        return like(src), like(depth), like(T)

    @torch.library.register_fake("edgedepth::photometric_error")
    def _(target, src, depth, T, K):
        return like(depth), like(depth)

    @torch.library.register_fake("edgedepth::photometric_error_backward")
    def _(grad_error, target, src, depth, T, K):
        return like(target), like(src), like(depth), like(T)

    def save_inputs(ctx, inputs, output):
        ctx.save_for_backward(*inputs)
        ctx.mark_non_differentiable(output[1])  # the valid mask

    def warp_backward(ctx, grad_warped, _grad_valid):
        src, depth, T, K = ctx.saved_tensors
        grad_src, grad_depth, grad_T = ops.inverse_warp_backward(grad_warped, src, depth, T, K)
        return grad_src, grad_depth, grad_T, None

    def photometric_backward(ctx, grad_error, _grad_valid):
        target, src, depth, T, K = ctx.saved_tensors
        grads = ops.photometric_error_backward(grad_error, target, src, depth, T, K)
        return (*grads, None)

    torch.library.register_autograd("edgedepth::inverse_warp", warp_backward, setup_context=save_inputs)
    torch.library.register_autograd("edgedepth::photometric_error", photometric_backward, setup_context=save_inputs)
