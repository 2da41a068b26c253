"""Run CUDA code paths on a machine without a GPU, and fail where a CPU tensor meets a CUDA one.

Inside :func:`fake_cuda`:

- ``torch.cuda.is_available()`` is True, factories with ``device="cuda"``, ``Tensor.to("cuda")``,
  ``.cuda()`` and ``Module.to("cuda")`` give :class:`CudaLike` tensors: real CPU tensors (so data-
  dependent code, autograd, optimisers and the compiled CPU operators all run) that report
  ``device == cuda:0`` to Python;
- every ATen operator sees its tensor arguments first: a CudaLike together with a CPU tensor of
  one or more dimensions raises :class:`DeviceMismatch`, as the real CUDA backend raises
  "Expected all tensors to be on the same device" (0-dim CPU tensors mix with CUDA ones there too);
- ``.cpu()`` / ``.to("cpu")`` give plain CPU tensors; ``.numpy()`` of a CudaLike fails, as it does
  for a real CUDA tensor.

Streams are no-ops (the CPU runs everything in order); CUDA graphs cannot be faked and are
left to a real GPU. Autocast("cuda") does not change these tensors (the C++ side sees CPU tensors), so dtype bugs under
AMP need a real GPU (benchmarks/gpu_smoke.sh); placement bugs do not.
"""
from __future__ import annotations

import contextlib
from typing import Iterator
from unittest import mock

import torch
from torch.overrides import TorchFunctionMode
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_map

CUDA = torch.device("cuda", 0)
CPU = torch.device("cpu")


class DeviceMismatch(RuntimeError):
    """A CPU tensor met a (fake) CUDA tensor in one operator."""


class CudaLike(torch.Tensor):
    """A CPU tensor that reports device cuda:0."""

    elem: torch.Tensor

    @staticmethod
    def __new__(cls, elem: torch.Tensor):
        r = torch.Tensor._make_wrapper_subclass(
            cls, elem.size(), strides=elem.stride(), storage_offset=elem.storage_offset(),
            dtype=elem.dtype, layout=elem.layout, device=CPU, requires_grad=elem.requires_grad,
        )
        r.elem = elem
        return r

    @property
    def device(self) -> torch.device:  # type: ignore[override]
        return CUDA

    @property
    def is_cuda(self) -> bool:  # type: ignore[override]
        return True

    def __repr__(self) -> str:
        return f"CudaLike({self.elem!r})"

    @classmethod
    def __torch_function__(cls, func, types, args=(), kwargs=None):
        # Outside fake_cuda() too, .cpu() must unwrap (C++ sees a CPU tensor and would return it as is).
        kwargs = kwargs or {}
        moved = _move(func, args, kwargs)
        if moved is not NotImplemented:
            return moved
        with torch._C.DisableTorchFunctionSubclass():
            return func(*args, **kwargs)

    @classmethod
    def __torch_dispatch__(cls, func, types, args=(), kwargs=None):
        return _dispatch(func, args, kwargs or {})


def _is_cuda(device) -> bool:
    return device is not None and torch.device(device).type == "cuda"


def _dispatch(func, args, kwargs):
    seen: set[str] = set()

    def unwrap(t):
        if isinstance(t, CudaLike):
            seen.add("cuda")
            return t.elem
        if isinstance(t, torch.Tensor) and t.dim() > 0:
            seen.add("cpu")
        return t

    plain_args, plain_kwargs = tree_map(unwrap, args), tree_map(unwrap, kwargs)
    in_place_copy = func.__name__.startswith("copy_")  # dst.copy_(src) crosses devices on purpose
    moving = func is torch.ops.aten._to_copy.default
    if len(seen) > 1 and not (in_place_copy or moving):
        raise DeviceMismatch(f"{func}: Expected all tensors to be on the same device, but found at least two devices, cuda:0 and cpu!")
    on_cuda = "cuda" in seen
    if plain_kwargs.get("device") is not None:  # factories and _to_copy say where the result lives
        on_cuda = _is_cuda(plain_kwargs["device"])
        plain_kwargs["device"] = CPU
    if plain_kwargs.get("pin_memory"):
        plain_kwargs["pin_memory"] = False
    out = func(*plain_args, **plain_kwargs)
    if in_place_copy:
        return args[0]

    def wrap(t):
        return CudaLike(t) if on_cuda and isinstance(t, torch.Tensor) and not isinstance(t, CudaLike) else t

    return tree_map(wrap, out)


class _DispatchMode(TorchDispatchMode):
    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        return _dispatch(func, args, kwargs or {})


def _move(func, args, kwargs):
    """Moves between devices as ``aten._to_copy`` (the Python bindings of ``to``/``cuda``/``tensor``
    would call the CUDA runtime, or see the CPU tensor underneath, before any operator runs);
    NotImplemented for every other function."""
    if func is torch.Tensor.cpu:
        return torch.ops.aten._to_copy.default(args[0], device=CPU) if isinstance(args[0], CudaLike) else args[0]
    if func is torch.Tensor.cuda:
        return torch.ops.aten._to_copy.default(args[0], device=CUDA)
    if func is torch.Tensor.to:
        device, dtype, _, _ = torch._C._nn._parse_to(*args[1:], **{k: v for k, v in kwargs.items() if k != "copy"})
        self_ = args[0]
        if device is not None and _is_cuda(device) != isinstance(self_, CudaLike):
            return torch.ops.aten._to_copy.default(self_, device=device, dtype=dtype or self_.dtype)
    if func is torch.Tensor.new_tensor and isinstance(args[0], CudaLike):
        return _move(torch.tensor, args[1:], {"dtype": args[0].dtype, "device": CUDA, **kwargs})
    if func in (torch.tensor, torch.as_tensor, torch.asarray) and _is_cuda(kwargs.get("device")):
        return torch.ops.aten._to_copy.default(func(*args, **{**kwargs, "device": CPU}), device=CUDA)
    if func is torch.Tensor.pin_memory:
        return args[0]
    return NotImplemented


class _MoveMode(TorchFunctionMode):
    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        moved = _move(func, args, kwargs)
        return func(*args, **kwargs) if moved is NotImplemented else moved


class _Stream:
    """torch.cuda.Stream without a GPU: work is synchronous on the CPU, so there is nothing to order."""

    cuda_stream = 0

    def __init__(self, *args, **kwargs) -> None:
        pass

    def synchronize(self) -> None:
        pass

    def wait_stream(self, other) -> None:
        pass


@contextlib.contextmanager
def replacing_parameters() -> Iterator[None]:
    """``Module.to``/``cpu`` replace each Parameter by a new one, as they must for CudaLike ones (the CPU
    storage underneath cannot take another tensor type in place). Active inside :func:`fake_cuda`; use
    it alone where code that cannot run under the fake device (tracing) moves a model off it."""
    overwrite = torch.__future__.get_overwrite_module_params_on_conversion()
    torch.__future__.set_overwrite_module_params_on_conversion(True)
    try:
        yield
    finally:
        torch.__future__.set_overwrite_module_params_on_conversion(overwrite)


@contextlib.contextmanager
def fake_cuda() -> Iterator[None]:
    """Pretend there is one CUDA GPU (see the module docstring)."""
    with contextlib.ExitStack() as stack:
        for target, value in (
            ("torch.cuda._lazy_init", lambda: None),
            ("torch.cuda.is_available", lambda: True),
            ("torch.cuda.device_count", lambda: 1),
            ("torch.cuda.synchronize", lambda device=None: None),
            ("torch.cuda.Stream", _Stream),
            ("torch.cuda.current_stream", lambda device=None: _Stream()),
            ("torch.cuda.stream", lambda stream=None: contextlib.nullcontext()),
            # the optimisers' CUDA-graph capture check asks the accelerator for its current stream
            ("torch.accelerator.current_accelerator", lambda check_available=False: None),
        ):
            stack.enter_context(mock.patch(target, value))
        stack.enter_context(replacing_parameters())
        stack.enter_context(_MoveMode())
        stack.enter_context(_DispatchMode())
        yield


def is_cuda(t) -> bool:
    return isinstance(t, CudaLike)
