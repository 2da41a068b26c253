"""PyTorch: runs training checkpoints (.pt) directly, and builds engines from them for GPUs without
TensorRT (FP16 with an FP32 head, channels_last, CUDA graphs, pinned-memory copies; see runner.py)."""
from __future__ import annotations

import io
from pathlib import Path
from typing import Any

from edgedepth.backends.base import BuildRequest, Built, Runner


def _cuda_torch() -> bool | None:
    """None without torch, else whether torch sees a CUDA GPU."""
    try:
        import torch
    except ImportError:
        return None
    return torch.cuda.is_available()


def suitability(machine: dict[str, Any], precision: str) -> int | None:
    """Behind TensorRT and ONNX Runtime's CUDA provider on a GPU; on a CPU the last resort (FP32 only)."""
    cuda = _cuda_torch()
    if cuda is None or precision == "int8":
        return None
    if cuda and machine.get("gpu"):
        return 70
    return 5 if precision == "fp32" else None


def build(request: BuildRequest) -> Built:
    from edgedepth.backends.torch.builder import build as build_weights

    return build_weights(request)


def open_engine(engine, *, device: str = "auto", threads: int | None = None) -> Runner:
    import torch

    from edgedepth.backends.torch.runner import TorchRunner
    from edgedepth.checkpoint import load_state_dict_checked
    from edgedepth.config import ModelConfig, from_dict
    from edgedepth.errors import EngineError
    from edgedepth.models import build_depth_net_from_config

    header = engine.header
    try:
        state = torch.load(io.BytesIO(engine.payload), map_location="cpu", weights_only=True)
        model_cfg = from_dict(state["model"], ModelConfig)
    except Exception as e:  # a payload that is not ours: refuse, do not unpickle
        raise EngineError(f"engine '{engine.path}' holds no readable torch weights", why=str(e).splitlines()[0] if str(e) else type(e).__name__,
                          fix=f"rebuild it: {engine.rebuild_hint()}") from None
    net = build_depth_net_from_config(model_cfg)
    load_state_dict_checked(net, state["depth"], what="depth", path=engine.path)
    low, high = header["batch_range"]
    options = header.get("options", {})
    return TorchRunner(net.eval(), device=device, precision=header["precision"], threads=threads,
                       size=(header["height"], header["width"]), fixed_batch=high if low == high else None,
                       cuda_graph=options.get("cuda_graph"), channels_last=options.get("channels_last"))


def export_checkpoint(checkpoint: Path, out: Path, *, size: tuple[int, int] | None = None) -> Path:
    """An FP32 dynamic-batch ONNX of ``checkpoint`` at ``size`` (default: its training size), for builds
    that start from a checkpoint."""
    from edgedepth.checkpoint import load_checkpoint
    from edgedepth.export import export_from_checkpoint

    if size is None:
        size = tuple((load_checkpoint(checkpoint).get("config", {}).get("data", {}) or {}).get("size") or (192, 640))
    export_from_checkpoint(checkpoint, out, size=size, batch="dynamic")
    return out


def open_file(path: Path, *, device: str = "auto", threads: int | None = None) -> Runner:
    """A checkpoint at FP32: the reference (any H, W multiple of 32; the training size is the natural one)."""
    from edgedepth.backends.torch.runner import TorchRunner
    from edgedepth.checkpoint import load_checkpoint, load_depth_net

    net, _ = load_depth_net(path, map_location="cpu")
    size = (load_checkpoint(path).get("config", {}).get("data", {}) or {}).get("size")
    return TorchRunner(net, device=device, threads=threads, trained_size=tuple(size) if size else None,
                       cuda_graph=False, channels_last=False)
