"""The depth network in PyTorch: the FP32 reference every engine is compared with, and on a GPU
without TensorRT a fast engine of its own.

On CUDA: FP16 weights and activations with the disparity head and the disparity -> depth
conversion in FP32 (as the FP16 ONNX pass keeps them), channels_last memory, one CUDA graph per
input shape (captured after a warm-up, then replayed: no per-layer launch cost), and pinned host
buffers for asynchronous copies on the runner's own stream.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from edgedepth.backends.base import InputSpec, Runner
from edgedepth.errors import EngineError

PRECISIONS = ("fp32", "fp16")
WARMUP_RUNS = 3  # before capture: cuDNN picks its algorithms and lazy allocations happen outside the graph


class _Float32(nn.Module):
    """Runs ``module`` in float32 whatever its input dtype (the depth head of an FP16 network)."""

    def __init__(self, module: nn.Module) -> None:
        super().__init__()
        self.module = module.float()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.module(x.float())


def half_precision(net: nn.Module) -> nn.Module:
    """A copy of a DepthNet in FP16 except its full-resolution disparity head (and hence the depth
    conversion, which divides by the disparity), kept in FP32."""
    net = copy.deepcopy(net).half()
    net.decoder.heads[0] = _Float32(net.decoder.heads[0])
    return net


@dataclass
class _Buffers:
    """Per input shape: pinned host staging, the static device input and, with a graph, its output."""

    host_in: torch.Tensor
    host_out: torch.Tensor
    device_in: torch.Tensor
    device_out: torch.Tensor | None = None
    graph: Any = None


class TorchRunner(Runner):
    """Runs ``net.predict_depth`` (a DepthNet) on ``device`` at ``precision``.

    ``size`` (H, W) fixes the input size (an engine); None takes any multiple of 32 (a checkpoint),
    with ``trained_size`` as the natural one. ``cuda_graph`` and ``channels_last`` default to on for
    CUDA; graphs need fixed shapes and are captured once per batch size.
    """

    backend = "torch"

    def __init__(self, net: nn.Module, *, device: str = "auto", precision: str = "fp32", threads: int | None = None,
                 size: tuple[int, int] | None = None, trained_size: tuple[int, int] | None = None, fixed_batch: int | None = None,
                 cuda_graph: bool | None = None, channels_last: bool | None = None):
        from edgedepth.torch_device import torch_device

        if precision not in PRECISIONS:
            raise EngineError(f"the torch backend runs {' or '.join(PRECISIONS)}, not {precision}",
                              fix="use --backend onnxruntime or tensorrt for INT8")
        self.device = torch_device(device)
        on_cuda = self.device.type == "cuda"
        if precision == "fp16" and not on_cuda:
            raise EngineError("FP16 in PyTorch needs a CUDA GPU (on the CPU it runs ~70x slower than FP32)",
                              fix="use --precision fp32 on the CPU, or an onnxruntime/openvino engine")
        if threads:
            torch.set_num_threads(threads)
        self.precision = precision
        self.cuda_graph = on_cuda if cuda_graph is None else cuda_graph and on_cuda
        self.channels_last = on_cuda if channels_last is None else channels_last
        net = half_precision(net) if precision == "fp16" else net
        memory_format = torch.channels_last if self.channels_last else torch.contiguous_format
        self._net = net.to(self.device, memory_format=memory_format).eval()
        self._input_dtype = torch.float16 if precision == "fp16" else torch.float32
        self._stream = torch.cuda.Stream(self.device) if on_cuda else None
        self._buffers: dict[tuple[int, ...], _Buffers] = {}
        h, w = size or trained_size or (None, None)
        self._fixed = size is not None
        self._spec = InputSpec(name="image", shape=(fixed_batch or -1, 3, h if self._fixed else -1, w if self._fixed else -1),
                               dtype="float32", height=h, width=w,
                               min_depth=float(net.min_depth), max_depth=float(net.max_depth))

    @property
    def input_spec(self) -> InputSpec:
        return self._spec

    def _forward(self, images: torch.Tensor) -> torch.Tensor:
        """images on this device, float32 [N,3,H,W] -> depth float32 [N,1,H,W] on this device."""
        x = images.to(self._input_dtype)
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        with torch.inference_mode():
            return self._net.predict_depth(x).float()

    def _buffers_for(self, shape: tuple[int, ...]) -> _Buffers:
        if shape not in self._buffers:
            n, _, h, w = shape
            pin = self.device.type == "cuda"
            self._buffers[shape] = _Buffers(  # the host side is pinned CPU memory on purpose: async copies
                host_in=torch.empty(shape, dtype=torch.float32, pin_memory=pin),  # device-ok: host staging
                host_out=torch.empty((n, 1, h, w), dtype=torch.float32, pin_memory=pin),  # device-ok: host staging
                device_in=torch.empty(shape, dtype=torch.float32, device=self.device),
            )
        return self._buffers[shape]

    def _capture(self, buffers: _Buffers) -> None:
        with torch.cuda.stream(self._stream):
            for _ in range(WARMUP_RUNS):
                self._forward(buffers.device_in)
        self._stream.synchronize()
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph, stream=self._stream):
            buffers.device_out = self._forward(buffers.device_in)
        buffers.graph = graph

    def _on_device(self, buffers: _Buffers) -> torch.Tensor:
        """Depth for ``buffers.device_in``, on the runner's stream (replaying the graph once captured)."""
        if not self.cuda_graph:
            return self._forward(buffers.device_in)
        if buffers.graph is None:
            self._capture(buffers)
        buffers.graph.replay()
        return buffers.device_out

    def _run(self, images: np.ndarray) -> np.ndarray:
        if images.shape[2] % 32 or images.shape[3] % 32:
            raise EngineError(f"images are {images.shape[2]}x{images.shape[3]}; the depth network needs H and W divisible by 32",
                              fix="resize the images")
        if self._stream is None:
            return self._forward(torch.from_numpy(images).to(self.device)).cpu().numpy()
        buffers = self._buffers_for(tuple(images.shape))
        buffers.host_in.copy_(torch.from_numpy(images))
        with torch.cuda.stream(self._stream):
            buffers.device_in.copy_(buffers.host_in, non_blocking=True)
            buffers.host_out.copy_(self._on_device(buffers), non_blocking=True)
        self._stream.synchronize()
        return buffers.host_out.numpy().copy()  # the pinned buffer is reused by the next call

    def infer_device(self, images: torch.Tensor) -> torch.Tensor:
        """torch float32 [N,3,H,W] on this runner's device -> depth [N,1,H,W] on the same device (no host copies)."""
        if self._stream is None:
            return self._forward(images)
        buffers = self._buffers_for(tuple(images.shape))
        self._stream.wait_stream(torch.cuda.current_stream(self.device))
        with torch.cuda.stream(self._stream):
            buffers.device_in.copy_(images)
            depth = self._on_device(buffers).clone()
        torch.cuda.current_stream(self.device).wait_stream(self._stream)
        return depth

    def close(self) -> None:
        self._buffers.clear()
        self._net = None
