"""TensorRT runner: ``execute_async_v3`` on one CUDA stream, device buffers from torch or cuda-python.

No pycuda: ``pycuda.autoinit`` creates and pushes its own CUDA context, while PyTorch and
TensorRT use the device's primary context; with both in one process, buffers and streams end
up in different contexts ("invalid resource handle", or silent wrong results). torch CUDA
tensors (when torch with CUDA is installed) and cuda-python's runtime API both use the primary
context, so they share it with TensorRT.
"""
from __future__ import annotations

import numpy as np

from edgedepth.backends.base import InputSpec, Runner
from edgedepth.backends.container import EngineFile, check_compatible
from edgedepth.errors import EngineError


def _check(result):
    """cuda-python calls return (err, *values); raise on err, return the value (None if there is none)."""
    err, *values = result
    if err.value != 0:
        raise EngineError(f"CUDA call failed: {err}", fix="check the GPU with nvidia-smi / tegrastats")
    return values[0] if values else None


class _TorchMemory:
    """Buffers as torch CUDA tensors on a dedicated torch stream."""

    def __init__(self):
        import torch

        self.torch = torch
        self.stream = torch.cuda.Stream()
        self.handle = self.stream.cuda_stream
        self.tensors: dict = {}

    def allocate(self, name: str, numel: int) -> int:
        self.tensors[name] = self.torch.empty(numel, dtype=self.torch.float32, device="cuda")
        return self.tensors[name].data_ptr()

    def upload(self, name: str, array: np.ndarray) -> None:
        with self.torch.cuda.stream(self.stream):
            self.tensors[name][: array.size].copy_(self.torch.from_numpy(array).reshape(-1), non_blocking=True)

    def download(self, name: str, shape: tuple[int, ...]) -> np.ndarray:
        n = int(np.prod(shape))
        with self.torch.cuda.stream(self.stream):
            host = self.tensors[name][:n].to("cpu", non_blocking=True)
        self.stream.synchronize()
        return host.numpy().reshape(shape)

    def close(self) -> None:
        self.tensors.clear()


class _CudaPythonMemory:
    """Buffers from cudaMalloc on a cudaStream (no torch needed, e.g. a lean Jetson image)."""

    def __init__(self):
        from cuda.bindings import runtime as cudart

        self.cudart = cudart
        self.handle = _check(cudart.cudaStreamCreate())
        self.pointers: dict[str, int] = {}

    def allocate(self, name: str, numel: int) -> int:
        self.pointers[name] = _check(self.cudart.cudaMalloc(numel * 4))
        return int(self.pointers[name])

    def upload(self, name: str, array: np.ndarray) -> None:
        self._host_in = array  # keep the host memory alive until the copy is done
        _check(self.cudart.cudaMemcpyAsync(self.pointers[name], array.ctypes.data, array.nbytes,
                                           self.cudart.cudaMemcpyKind.cudaMemcpyHostToDevice, self.handle))

    def download(self, name: str, shape: tuple[int, ...]) -> np.ndarray:
        host = np.empty(shape, dtype=np.float32)
        _check(self.cudart.cudaMemcpyAsync(host.ctypes.data, self.pointers[name], host.nbytes,
                                           self.cudart.cudaMemcpyKind.cudaMemcpyDeviceToHost, self.handle))
        _check(self.cudart.cudaStreamSynchronize(self.handle))
        return host

    def close(self) -> None:
        for pointer in self.pointers.values():
            self.cudart.cudaFree(pointer)
        self.pointers.clear()
        self.cudart.cudaStreamDestroy(self.handle)


def _memory():
    try:
        import torch

        if torch.cuda.is_available():
            return _TorchMemory()
    except ImportError:
        pass
    try:
        return _CudaPythonMemory()
    except ImportError:
        raise EngineError("the TensorRT runner needs torch with CUDA or cuda-python for device memory",
                          fix="pip install cuda-python (not pycuda: it fights PyTorch over CUDA contexts)") from None


class TensorRTRunner(Runner):
    """Loads a TensorRT engine container after checking it was built for this TensorRT and GPU.

    ``cuda_graph=True`` (torch memory only) captures one CUDA graph per batch size after a
    warm-up run and replays it, removing the per-layer launch overhead that dominates small
    inputs on Jetson.
    """

    backend = "tensorrt"

    def __init__(self, engine: EngineFile, *, cuda_graph: bool = False, trt=None):
        from edgedepth.backends.tensorrt import import_tensorrt
        from edgedepth.device import cuda_device

        path, header, plan = engine.path, engine.header, engine.payload
        if header["backend"] != "tensorrt":
            raise EngineError(f"'{path}' is a {header['backend']} engine, not a TensorRT one", fix="open it with edgedepth.backends.open_runner")
        trt = trt or import_tensorrt()
        check_compatible(header, path=path, backend_version=trt.__version__, device=cuda_device(), match="exact")
        self._trt = trt
        self.precision = header["precision"]
        self._logger = trt.Logger(trt.Logger.WARNING)
        self._runtime = trt.Runtime(self._logger)
        self._engine = self._runtime.deserialize_cuda_engine(plan)
        if self._engine is None:  # TensorRT logs the reason and returns None
            raise EngineError(f"TensorRT could not deserialise '{path}'", why="see the TensorRT message above", fix=f"rebuild it here: {engine.rebuild_hint()}")
        self._context = self._engine.create_execution_context()
        self._input, self._output = header["input_name"], header["output_name"]
        for name in (self._input, self._output):
            if self._engine.get_tensor_dtype(name) != trt.DataType.FLOAT:
                raise EngineError(f"engine '{path}' tensor '{name}' is not float32", fix="export with FP32 inputs/outputs (edgedepth export does)")
        low, high = header["batch_range"]
        self.max_batch = high
        h, w = header["height"], header["width"]
        self._memory = _memory()
        if cuda_graph and not isinstance(self._memory, _TorchMemory):
            self._memory.close()
            raise EngineError("CUDA graph capture needs torch with CUDA here", fix="drop cuda_graph=True or install torch")
        self._cuda_graph, self._graphs = cuda_graph, {}
        for name, channels in ((self._input, 3), (self._output, 1)):
            self._context.set_tensor_address(name, self._memory.allocate(name, high * channels * h * w))
        self._dynamic = low != high
        self._spec = InputSpec(name=self._input, shape=(-1 if self._dynamic else high, 3, h, w), dtype="float32",
                               height=h, width=w, min_depth=header["min_depth"], max_depth=header["max_depth"])

    @property
    def input_spec(self) -> InputSpec:
        return self._spec

    def _execute(self, n: int) -> None:
        if self._dynamic:
            self._context.set_input_shape(self._input, (n, 3, self._spec.height, self._spec.width))
        if not self._cuda_graph:
            if not self._context.execute_async_v3(self._memory.handle):
                raise EngineError("TensorRT execution failed", why="see the TensorRT message above")
            return
        torch = self._memory.torch
        if n not in self._graphs:
            # A first run outside capture lets TensorRT finish its lazy allocations.
            self._context.execute_async_v3(self._memory.handle)
            self._memory.stream.synchronize()
            graph = torch.cuda.CUDAGraph()
            with torch.cuda.graph(graph, stream=self._memory.stream):
                self._context.execute_async_v3(self._memory.stream.cuda_stream)
            self._graphs[n] = graph
        with torch.cuda.stream(self._memory.stream):
            self._graphs[n].replay()

    def _run(self, images: np.ndarray) -> np.ndarray:
        n = len(images)
        self._memory.upload(self._input, images)
        self._execute(n)
        return self._memory.download(self._output, (n, 1, self._spec.height, self._spec.width))

    def infer_device(self, images):
        """torch CUDA float32 [N,3,H,W] (N <= max batch) -> torch CUDA depth [N,1,H,W]; no host copies."""
        if not isinstance(self._memory, _TorchMemory):
            raise EngineError("infer_device takes torch CUDA tensors, and torch with CUDA is not available", fix="use infer() with numpy arrays")
        torch = self._memory.torch
        n, (h, w) = len(images), (self._spec.height, self._spec.width)
        with torch.cuda.stream(self._memory.stream):
            self._memory.stream.wait_stream(torch.cuda.current_stream())
            self._memory.tensors[self._input][: images.numel()].copy_(images.reshape(-1))
        self._execute(n)
        torch.cuda.current_stream().wait_stream(self._memory.stream)
        return self._memory.tensors[self._output][: n * h * w].view(n, 1, h, w).clone()

    def close(self) -> None:
        if getattr(self, "_memory", None) is not None:
            self._graphs.clear()
            self._context = self._engine = None
            self._memory.close()
            self._memory = None
