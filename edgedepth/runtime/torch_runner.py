"""PyTorch eager runner for a training checkpoint (.pt): the FP32 reference every engine is compared with."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from edgedepth.errors import EngineError
from edgedepth.runtime.base import InputSpec, Runner


class TorchRunner(Runner):
    """Runs the depth network of checkpoint ``path`` with ``predict_depth`` (any H, W multiple of 32)."""

    backend = "torch"
    precision = "fp32"

    def __init__(self, path: str | Path, *, device: str = "auto", threads: int | None = None):
        import torch

        from edgedepth.checkpoint import load_checkpoint, load_depth_net

        if device not in ("auto", "cpu", "cuda"):
            raise EngineError(f"unknown device '{device}'", fix="pass auto, cpu or cuda")
        if device == "cuda" and not torch.cuda.is_available():
            raise EngineError("device 'cuda' was asked but torch sees no CUDA GPU", fix="use device cpu")
        self.device = torch.device("cuda" if device != "cpu" and torch.cuda.is_available() else "cpu")
        if threads:
            torch.set_num_threads(threads)
        net, model_cfg = load_depth_net(path, map_location="cpu")
        self._net = net.to(self.device).eval()
        # The training size is the natural input size; any multiple of 32 works.
        size = load_checkpoint(path).get("config", {}).get("data", {}).get("size") or (None, None)
        self._spec = InputSpec(name="image", shape=(-1, 3, -1, -1), dtype="float32", height=size[0], width=size[1],
                               min_depth=float(model_cfg.min_depth), max_depth=float(model_cfg.max_depth))

    @property
    def input_spec(self) -> InputSpec:
        return self._spec

    def infer_device(self, images):
        """torch float32 [N,3,H,W] on this runner's device -> torch depth [N,1,H,W] on the same device."""
        import torch

        with torch.inference_mode():
            return self._net.predict_depth(images)

    def _run(self, images: np.ndarray) -> np.ndarray:
        import torch

        if images.shape[2] % 32 or images.shape[3] % 32:
            raise EngineError(f"images are {images.shape[2]}x{images.shape[3]}; the depth network needs H and W divisible by 32", fix="resize the images")
        depth = self.infer_device(torch.from_numpy(images).to(self.device))
        return depth.float().cpu().numpy()

    def close(self) -> None:
        self._net = None
