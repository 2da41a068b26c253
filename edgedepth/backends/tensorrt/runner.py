"""TensorRT runner: ``execute_async_v3`` on one CUDA stream, device buffers from torch or cuda-python.

No pycuda: ``pycuda.autoinit`` creates and pushes its own CUDA context, while PyTorch and
TensorRT use the device's primary context; with both in one process, buffers and streams end
up in different contexts ("invalid resource handle", or silent wrong results). torch CUDA
tensors (when torch with CUDA is installed) and cuda-python's runtime API both use the primary
context, so they share it with TensorRT.
"""
from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np

from edgedepth.backends.base import InputSpec, Runner
from edgedepth.backends.container import EngineFile, check_compatible
from edgedepth.device import installed_torch
from edgedepth.errors import EngineError

if TYPE_CHECKING:
    import tensorrt as trt


def _check(result):
    """cuda-python calls return (err, *values); raise on err, return the value (None if there is none)."""
    err, *values = result
    if err.value != 0:
        raise EngineError(f"CUDA call failed: {err}", fix="check the GPU with nvidia-smi / tegrastats")
    return values[0] if values else None


class _TorchMemory:
    """Buffers as torch CUDA tensors on a dedicated torch stream."""

    def __init__(self):
        self.torch = installed_torch()
        self.stream = self.torch.cuda.Stream()
        self.handle = self.stream.cuda_stream
        self.tensors: dict = {}

    def allocate(self, name: str, nbytes: int) -> int:
        self.tensors[name] = self.torch.empty(nbytes, dtype=self.torch.uint8, device="cuda")
        return self.tensors[name].data_ptr()

    def floats(self, name: str):
        """The float32 view of a buffer (the image and depth tensors)."""
        return self.tensors[name].view(self.torch.float32)

    def upload(self, name: str, array: np.ndarray) -> None:
        with self.torch.cuda.stream(self.stream):
            self.floats(name)[: array.size].copy_(self.torch.from_numpy(array).reshape(-1), non_blocking=True)

    def download(self, name: str, shape: tuple[int, ...]) -> np.ndarray:
        n = math.prod(shape)
        with self.torch.cuda.stream(self.stream):
            host = self.floats(name)[:n].to("cpu", non_blocking=True)
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

    def allocate(self, name: str, nbytes: int) -> int:
        self.pointers[name] = _check(self.cudart.cudaMalloc(nbytes))
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


def _torch_cuda() -> bool:
    torch = installed_torch()
    return torch is not None and torch.cuda.is_available()


def _memory() -> _TorchMemory | _CudaPythonMemory:
    if _torch_cuda():
        return _TorchMemory()
    try:
        return _CudaPythonMemory()
    except ImportError:
        raise EngineError("the TensorRT runner needs torch with CUDA or cuda-python's cuda-bindings for device memory",
                          fix="pip install cuda-bindings, the major version of your CUDA driver (12.* on JetPack 6); not pycuda, "
                          "it fights PyTorch over CUDA contexts") from None


class TensorRTRunner(Runner):
    """Loads a TensorRT engine container after checking it was built for this TensorRT and GPU.

    Every I/O tensor the engine declares gets a device buffer (outputs other than depth are computed
    and ignored); an input other than the image is refused. ``cuda_graph=True`` (torch memory only)
    captures one CUDA graph per batch size after a warm-up run and replays it, removing the per-layer
    launch overhead that dominates small inputs on Jetson.
    """

    backend = "tensorrt"

    def __init__(self, engine: EngineFile, *, cuda_graph: bool = False):
        from edgedepth.backends.tensorrt import require_tensorrt
        from edgedepth.device import cuda_device

        path, header = engine.path, engine.header
        if header["backend"] != "tensorrt":
            raise EngineError(f"'{path}' is a {header['backend']} engine, not a TensorRT one", fix="open it with edgedepth.backends.open_runner")
        check_compatible(header, path=path, backend_version=require_tensorrt(), device=cuda_device(), match="exact")
        import tensorrt as trt

        self.precision = header["precision"]
        self._logger = trt.Logger(trt.Logger.WARNING)
        self._runtime = trt.Runtime(self._logger)
        loaded: trt.ICudaEngine | None = self._runtime.deserialize_cuda_engine(engine.payload)
        if loaded is None:  # TensorRT logs the reason and returns None
            raise EngineError(f"TensorRT could not deserialise '{path}'", why="see the TensorRT message above", fix=f"rebuild it here: {engine.rebuild_hint()}")
        self._engine = loaded
        self._input, self._output = header["input_name"], header["output_name"]
        self._tensors = self._checked_io(str(path))
        low, high = header["batch_range"]
        self.max_batch = high
        h, w = self._size = int(header["height"]), int(header["width"])
        self._dynamic = low != high
        self._spec = InputSpec(name=self._input, shape=(-1 if self._dynamic else high, 3, h, w), dtype="float32",
                               height=h, width=w, min_depth=header["min_depth"], max_depth=header["max_depth"])
        if cuda_graph and not _torch_cuda():
            raise EngineError("CUDA graph capture needs torch with CUDA here", fix="drop cuda_graph=True or install torch")
        self._context = self._engine.create_execution_context()
        self._memory = _memory()
        self._cuda_graph = cuda_graph
        self._graphs: dict[int, Any] = {}  # batch size -> its captured CUDA graph
        try:
            self._bind_all(high)
        except EngineError:
            self.close()
            raise

    def _checked_io(self, path: str) -> list[str]:
        """The engine's I/O tensor names; refuses an engine whose inputs are not our one float32 image."""
        import tensorrt as trt

        names = [self._engine.get_tensor_name(i) for i in range(self._engine.num_io_tensors)]
        inputs = [n for n in names if self._engine.get_tensor_mode(n) == trt.TensorIOMode.INPUT]
        if inputs != [self._input] or self._output not in names:
            raise EngineError(f"engine '{path}' has inputs {inputs} and tensors {names}; its header names input '{self._input}' and output '{self._output}'",
                              why="the runner feeds one image input and reads the depth output", fix="rebuild it from the ONNX written by `edgedepth export`")
        for name in (self._input, self._output):
            if self._engine.get_tensor_dtype(name) != trt.DataType.FLOAT:
                raise EngineError(f"engine '{path}' tensor '{name}' is not float32", fix="export with FP32 inputs/outputs (edgedepth export does)")
        return names

    def _bind_all(self, high: int) -> None:
        """A buffer for every I/O tensor at the largest batch, its address set once."""
        if self._dynamic:
            self._set_batch(high)
        for name in self._tensors:
            shape = self._context.get_tensor_shape(name)[:]
            nbytes = math.prod(shape) * self._engine.get_tensor_dtype(name).itemsize
            if min(shape, default=0) < 0 or not self._context.set_tensor_address(name, self._memory.allocate(name, nbytes)):
                raise EngineError(f"TensorRT cannot bind tensor '{name}' of shape {list(shape)}", why="see the TensorRT message above")

    def _set_batch(self, n: int) -> None:
        shape = (n, 3, *self._size)
        if not self._context.set_input_shape(self._input, shape):
            raise EngineError(f"TensorRT refused input shape {list(shape)}", why="see the TensorRT message above", fix=f"pass at most {self.max_batch} images per call")

    @property
    def input_spec(self) -> InputSpec:
        return self._spec

    def _enqueue(self, stream_handle: int) -> None:
        # execute_async_v3 returns False (and TensorRT logs why) when it could not enqueue the work.
        if not self._context.execute_async_v3(stream_handle):
            raise EngineError("TensorRT execution failed", why="see the TensorRT message above")

    def _execute(self, n: int) -> None:
        if self._dynamic:
            self._set_batch(n)
        if not self._cuda_graph:
            self._enqueue(self._memory.handle)
            return
        memory = self._memory
        assert isinstance(memory, _TorchMemory)  # checked in __init__
        torch = memory.torch
        if n not in self._graphs:
            # A first run outside capture lets TensorRT finish its lazy allocations.
            self._enqueue(memory.handle)
            memory.stream.synchronize()
            graph = torch.cuda.CUDAGraph()
            with torch.cuda.graph(graph, stream=memory.stream):
                self._enqueue(memory.handle)
            self._graphs[n] = graph
        with torch.cuda.stream(memory.stream):
            self._graphs[n].replay()

    def _run(self, images: np.ndarray) -> np.ndarray:
        n = len(images)
        self._memory.upload(self._input, images)
        self._execute(n)
        return self._memory.download(self._output, (n, 1, *self._size))

    def infer_device(self, images):
        """torch CUDA float32 [N,3,H,W] (N <= max batch) -> torch CUDA depth [N,1,H,W]; no host copies."""
        memory = self._memory
        if not isinstance(memory, _TorchMemory):
            raise EngineError("infer_device takes torch CUDA tensors, and torch with CUDA is not available", fix="use infer() with numpy arrays")
        torch = memory.torch
        n, (h, w) = len(images), self._size
        with torch.cuda.stream(memory.stream):
            memory.stream.wait_stream(torch.cuda.current_stream())
            memory.floats(self._input)[: images.numel()].copy_(images.reshape(-1))
        self._execute(n)
        torch.cuda.current_stream().wait_stream(memory.stream)
        return memory.floats(self._output)[: n * h * w].view(n, 1, h, w).clone()

    def close(self) -> None:
        if hasattr(self, "_memory"):
            self._graphs.clear()
            del self._context  # before the engine and the buffers it points into
            self._memory.close()
            del self._memory
