"""One interface for every backend: ``Runner.infer(images [N,3,H,W] in [0,1]) -> depth [N,1,H,W] metres``."""
from __future__ import annotations

import abc
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edgedepth.errors import EngineError

RUNNER_BACKENDS = ("auto", "torch", "onnxruntime", "tensorrt")


@dataclass(frozen=True)
class InputSpec:
    """The input a runner takes. ``shape`` is [N,3,H,W] with N = -1 for a dynamic batch
    (H, W = -1 for a checkpoint, which takes any multiple of 32; ``height``/``width`` are then
    the size it was trained at)."""

    name: str
    shape: tuple[int, int, int, int]
    dtype: str
    height: int | None
    width: int | None
    min_depth: float
    max_depth: float


class Runner(abc.ABC):
    """Loads a model once, then runs it on batches of images. Use as a context manager."""

    backend: str = ""
    precision: str = "fp32"
    max_batch: int | None = None  # largest batch one call may run; larger inputs are split

    @property
    @abc.abstractmethod
    def input_spec(self) -> InputSpec: ...

    @abc.abstractmethod
    def _run(self, images: np.ndarray) -> np.ndarray:
        """Run one chunk: float32 C-contiguous [n,3,H,W] with n valid for this model."""

    def infer(self, images: np.ndarray) -> np.ndarray:
        """float32 RGB [N,3,H,W] in [0,1] -> float32 depth [N,1,H,W] in metres.

        A fixed-batch model runs the input in chunks of its batch size (the last one padded);
        a dynamic one in chunks of at most ``max_batch``.
        """
        images = self._checked(images)
        fixed = self.input_spec.shape[0]
        step = fixed if fixed > 0 else (self.max_batch or len(images))
        outputs = []
        for start in range(0, len(images), step):
            chunk = images[start:start + step]
            n = len(chunk)
            if fixed > 0 and n < fixed:
                chunk = np.concatenate([chunk, np.repeat(chunk[-1:], fixed - n, axis=0)])
            outputs.append(self._run(np.ascontiguousarray(chunk))[:n])
        return np.concatenate(outputs).astype(np.float32, copy=False)

    def _checked(self, images: np.ndarray) -> np.ndarray:
        images = np.asarray(images)
        if not np.issubdtype(images.dtype, np.floating):
            raise EngineError(
                f"images have dtype {images.dtype}; the {self.backend} runner takes float32 RGB in [0,1]",
                fix="convert with images.astype(np.float32) / 255",
            )
        spec = self.input_spec
        ok = images.ndim == 4 and images.shape[1] == 3 and len(images) > 0
        if ok and spec.shape[2] > 0:
            ok = images.shape[2:] == tuple(spec.shape[2:])
        if not ok:
            want = "x".join("N" if d < 0 else str(d) for d in spec.shape)
            raise EngineError(f"images have shape {list(images.shape)}; this model takes {want}", fix=f"resize the images to {spec.height}x{spec.width} (HxW) and stack them as [N,3,H,W]")
        return images.astype(np.float32, copy=False)

    def close(self) -> None:
        """Release the model and device memory (idempotent)."""

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def open_runner(path: str | Path, *, backend: str = "auto", device: str = "auto", threads: int | None = None) -> Runner:
    """A runner for an .engine container, an .onnx file or a .pt checkpoint.

    ``backend`` must agree with the file (an engine records its backend); ``device`` is
    "auto", "cpu" or "cuda"; ``threads`` caps CPU threads (ONNX Runtime, torch).
    """
    from edgedepth.engine.container import MAGIC, read_engine_header

    if backend not in RUNNER_BACKENDS:
        raise EngineError(f"unknown runtime backend '{backend}'", fix=f"pass one of {', '.join(RUNNER_BACKENDS)}")
    path = Path(path)
    if not path.is_file():
        raise EngineError(f"'{path}' does not exist", fix="pass an .engine (edgedepth build-engine), .onnx (edgedepth export) or .pt (edgedepth train) file")
    with open(path, "rb") as f:
        is_engine = f.read(len(MAGIC)) == MAGIC
    if is_engine:
        kind = read_engine_header(path)["backend"]
    elif path.suffix == ".onnx":
        kind = "onnxruntime"
    elif path.suffix in (".pt", ".pth"):
        kind = "torch"
    else:
        raise EngineError(f"cannot tell what '{path}' is", fix="pass an .engine, .onnx or .pt file")
    if backend not in ("auto", kind):
        fix = f"build an engine: edgedepth build-engine --onnx {path} --precision fp16 --backend {backend} --out model.engine" if path.suffix == ".onnx" else f"use --backend {kind} or auto"
        raise EngineError(f"'{path}' runs on {kind}, not {backend}", fix=fix)
    if kind == "onnxruntime":
        from edgedepth.runtime.onnxruntime_runner import OnnxRuntimeRunner

        return OnnxRuntimeRunner(path, device=device, threads=threads)
    if kind == "tensorrt":
        from edgedepth.runtime.tensorrt_runner import TensorRTRunner

        if device == "cpu":
            raise EngineError(f"'{path}' is a TensorRT engine; it runs on a CUDA GPU only", fix="use an .onnx file or an ONNX Runtime engine on the CPU")
        return TensorRTRunner(path)
    from edgedepth.runtime.torch_runner import TorchRunner

    return TorchRunner(path, device=device, threads=threads)
