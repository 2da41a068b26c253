"""The torch "engine": the checkpoint's depth-network weights (a plain state_dict, read back with
``torch.load(weights_only=True)``) plus the model config; precision, graphs and memory format are
applied when it is opened, on the device it runs on."""
from __future__ import annotations

import io
from pathlib import Path
from typing import Any

from edgedepth.backends.base import BuildRequest, Built
from edgedepth.errors import EngineError


def _checked_net(request: BuildRequest):
    """The checkpoint's depth network, after checking it is the network the ONNX was exported from."""
    from edgedepth.checkpoint import load_depth_net

    if request.checkpoint is None:
        raise EngineError(
            "the torch backend builds from the training checkpoint, and none was found",
            why=f"'{request.onnx.path}' does not name a checkpoint that lies next to it unchanged",
            fix="pass --checkpoint model.pt (the file `edgedepth export` exported from)",
        )
    net, model_cfg = load_depth_net(request.checkpoint)
    onnx = request.onnx
    if (abs(net.min_depth - onnx.min_depth) > 1e-6 or abs(net.max_depth - onnx.max_depth) > 1e-6
            or onnx.metadata.get("encoder", net.encoder_name) != net.encoder_name):
        raise EngineError(
            f"checkpoint '{request.checkpoint}' does not match '{onnx.path}'",
            why=f"checkpoint: {net.encoder_name}, depth {net.min_depth}..{net.max_depth} m; ONNX: "
            f"{onnx.metadata.get('encoder')}, depth {onnx.min_depth}..{onnx.max_depth} m",
            fix="pass the checkpoint the ONNX was exported from",
        )
    return net, model_cfg


def build(request: BuildRequest) -> Built:
    import torch

    from edgedepth.backends.torch.runner import PRECISIONS
    from edgedepth.config import to_dict
    from edgedepth.device import cpu_model, cuda_device

    if request.precision not in PRECISIONS:
        raise EngineError(f"the torch backend runs {' or '.join(PRECISIONS)}, not {request.precision}",
                          fix="use --backend onnxruntime (or tensorrt on a GPU) for INT8")
    net, model_cfg = _checked_net(request)
    buf = io.BytesIO()
    torch.save({"model": to_dict(model_cfg), "depth": net.state_dict()}, buf)
    gpu = cuda_device()
    device: dict[str, Any] = {"name": gpu["name"] if gpu else cpu_model(), "compute_capability": None}
    info = request.onnx
    batch_range = [1, None] if info.dynamic_batch else [info.input_shape[0]] * 2
    options = {"checkpoint": Path(request.checkpoint).name, "cuda_graph": True, "channels_last": True,
               "fp32_head": request.precision == "fp16"}
    return Built(info, buf.getvalue(), torch.__version__, device, options, batch_range)
