"""What every backend implements: a build step (ONNX -> payload) and a Runner.

``Runner.infer(images [N,3,H,W] float32 RGB in [0,1]) -> depth [N,1,H,W] float32 metres`` is the one
inference interface. A backend is a package ``edgedepth.backends.<name>`` whose ``__init__`` defines
(importing its library only inside these functions, so that the registry costs nothing)::

    suitability(machine: dict, precision: str) -> int | None    # for --backend auto; None = cannot run here
    build(request: BuildRequest) -> Built                        # the engine payload
    open_engine(engine: EngineFile, *, device, threads) -> Runner
    open_file(path: Path, *, device, threads) -> Runner          # plain model files it runs (see the registry)
"""
from __future__ import annotations

import abc
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from edgedepth.contract import OnnxModelInfo
from edgedepth.errors import EngineError


@dataclass(frozen=True)
class BuildRequest:
    """What build-engine hands a backend's ``build``.

    ``onnx`` is the model as given; ``convert(precision)`` returns the same model as an FP16 or Q/DQ
    INT8 ONNX (converted on first use, INT8 calibrated with the build's calibration data), or for
    ``"int8-fp16"`` the Q/DQ INT8 ONNX whose unquantised layers are FP16.
    ``options`` holds the backend options given on the command line (the registry checked that
    this backend takes them); ``checkpoint`` the training checkpoint when one was given or found.
    """

    onnx: OnnxModelInfo
    precision: str
    convert: Callable[[str], OnnxModelInfo]
    workdir: Path
    options: dict[str, Any] = field(default_factory=dict)
    checkpoint: Path | None = None


@dataclass
class Built:
    """A backend's build result; build-engine turns it into the engine header and payload."""

    info: OnnxModelInfo  # the ONNX the payload implements (its names, shapes and metadata go into the header)
    payload: bytes
    backend_version: str
    device: dict[str, Any]
    options: dict[str, Any]
    batch_range: list  # [min, max]; max None = any


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
