"""Checkpoints: one dict of tensors and plain values, written atomically, read with weights_only=True.

Layout: {"format": "edgedepth-checkpoint", "version": 1, "config": <resolved config dict>,
"models": {"depth": state_dict, "semantic": ..., "discriminator": ...}, "step": int, ...
(optimisers, schedulers, RNG states, metrics as the trainer needs)}.
"""
from __future__ import annotations

import io
import zipfile
from pathlib import Path
from typing import Any

import torch

from edgedepth.errors import CheckpointError
from edgedepth.utils.io import atomic_write_bytes

FORMAT = "edgedepth-checkpoint"
VERSION = 1


def _on_cpu(value: Any) -> Any:
    """``value`` with every tensor moved to the CPU, so a checkpoint written on a GPU loads anywhere."""
    if isinstance(value, torch.Tensor):
        return value.detach().cpu()
    if isinstance(value, dict):
        return {k: _on_cpu(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_on_cpu(v) for v in value)
    return value


def save_checkpoint(path: str | Path, state: dict[str, Any]) -> None:
    """Serialise ``state`` (plus format tags, tensors on the CPU) to ``path`` via a temporary file and a rename."""
    buf = io.BytesIO()
    torch.save(_on_cpu({"format": FORMAT, "version": VERSION, **state}), buf)
    atomic_write_bytes(path, buf.getvalue())


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Read a checkpoint written by :func:`save_checkpoint`; never unpickles arbitrary objects."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint '{path}' does not exist", fix="pass the .pt file written by `edgedepth train`")
    # torch.save writes a zip archive; anything else (random bytes, a truncated file, a text file) is damaged,
    # and torch.load would try it as a legacy pickle and blame unpickling.
    if not zipfile.is_zipfile(path):
        raise CheckpointError(
            f"checkpoint '{path}' cannot be read (truncated or corrupt)",
            why="it is not a PyTorch checkpoint archive (torch.save writes a zip file); it was cut short, damaged or is "
            "another kind of file",
            fix="use another checkpoint (training keeps the last few and the best), or train again",
        )
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except (RuntimeError, EOFError, zipfile.BadZipFile, OSError) as e:
        raise CheckpointError(
            f"checkpoint '{path}' cannot be read (truncated or corrupt)",
            why=str(e).splitlines()[0] if str(e) else type(e).__name__,
            fix="use another checkpoint (training keeps the last few and the best), or train again",
        ) from None
    except Exception as e:  # weights_only refuses pickled objects with an UnpicklingError
        raise CheckpointError(
            f"checkpoint '{path}' holds objects that are not plain tensors and values; refusing to unpickle it",
            why=str(e).splitlines()[0],
            fix="only load checkpoints written by edgedepth",
        ) from None
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise CheckpointError(
            f"'{path}' is not an edgedepth checkpoint",
            fix="pass the .pt file written by `edgedepth train` (model.pt, last.pt or best.pt)",
        )
    return state


def load_state_dict_checked(module: torch.nn.Module, state_dict: dict, *, what: str, path: str | Path) -> None:
    """Load weights, turning a shape/key mismatch into an error that says which checkpoint and why."""
    try:
        module.load_state_dict(state_dict)
    except RuntimeError as e:
        lines = [line.strip() for line in str(e).splitlines() if line.strip()]
        raise CheckpointError(
            f"checkpoint '{path}' does not fit the {what} network",
            why="; ".join(lines[1:4]) or lines[0],
            fix="the checkpoint was trained with another architecture: pass the matching model.* config, "
            "or use the config stored in the checkpoint",
        ) from None


def deployed_depth_weights(models: dict) -> dict | None:
    """The depth weights a checkpoint's ``models`` deploy: the weight average when training kept one (train.ema),
    else the last step's weights."""
    return models.get("depth_ema") or models.get("depth")


def load_depth_net(path: str | Path, map_location: str | torch.device = "cpu"):
    """The depth network of a checkpoint, in eval mode, with the model config it was trained with."""
    from edgedepth.config import ModelConfig, from_dict
    from edgedepth.models import build_depth_net_from_config

    state = load_checkpoint(path, map_location)
    try:
        model_cfg = from_dict(state["config"]["model"], ModelConfig)
        weights = deployed_depth_weights(state["models"])
        if weights is None:
            raise KeyError("depth")
    except (KeyError, TypeError):
        raise CheckpointError(f"checkpoint '{path}' has no depth network", fix="pass a checkpoint written by `edgedepth train`") from None
    net = build_depth_net_from_config(model_cfg)
    load_state_dict_checked(net, weights, what="depth", path=path)
    return net.eval(), model_cfg


def load_semantic_net(state: dict[str, Any], path: str | Path, model_cfg, depth_net):
    """The semantic network of a loaded checkpoint ``state`` in eval mode, or None when it has none.

    A shared S runs on the (already loaded) encoder of ``depth_net``, which S's state_dict leaves out."""
    from edgedepth.models import build_semantic_net_from_config

    weights = (state.get("models") or {}).get("semantic")
    if not weights:
        return None
    semantic_net = build_semantic_net_from_config(model_cfg, depth_net)
    load_state_dict_checked(semantic_net, weights, what="semantic", path=path)
    return semantic_net.eval()
