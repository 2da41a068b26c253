"""``torch_device``: the torch device of a run (training, evaluation, the torch backend); needs torch."""
from __future__ import annotations

import torch

from edgedepth.errors import ConfigError


def torch_device(name: str, local_rank: int = 0):
    """A ``torch.device`` for "auto" (the GPU of this rank when torch sees one), "cpu", "cuda" or "cuda:N".

    Asking for CUDA where torch sees no GPU is a ConfigError (not a crash at the first tensor).
    """
    if name == "auto":
        return torch.device(f"cuda:{local_rank}") if torch.cuda.is_available() else torch.device("cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise ConfigError(f"unknown device '{name}'", fix="pass auto, cpu, cuda or cuda:N") from None
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise ConfigError(f"device '{name}' was asked but torch sees no CUDA GPU",
                              why=f"torch {torch.__version__} (CUDA build: {torch.version.cuda or 'none'})",
                              fix="use device cpu, or install a CUDA build of torch on a machine with an NVIDIA GPU")
        if device.index is None:
            device = torch.device(f"cuda:{local_rank}")
    elif device.type != "cpu":
        raise ConfigError(f"device '{name}' is not supported", fix="pass auto, cpu, cuda or cuda:N")
    return device
