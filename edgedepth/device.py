"""The one place that asks what hardware this process runs on: CUDA GPU, CPU model and CPU features.

Importing this module needs neither torch nor a GPU library (the deploy half uses it); each probe
imports what it needs when called and answers None/empty where the answer cannot be had.
``root`` lets tests point the file probes at a fake filesystem.
"""
from __future__ import annotations

import contextlib
import platform
import re
from pathlib import Path
from typing import Any

from edgedepth.errors import ConfigError

# CPU flags (as /proc/cpuinfo names them) that decide which CPU backend and precision is fastest.
CPU_FEATURES = ("avx2", "avx512f", "avx512_vnni", "avx_vnni", "avx512_bf16", "amx_tile", "amx_bf16", "amx_int8")
DEVICE_NAMES = ("auto", "cpu", "cuda")


def _cpuinfo(root: Path) -> str:
    with contextlib.suppress(OSError, UnicodeDecodeError):
        return (root / "proc/cpuinfo").read_text()
    return ""


def cpu_model(root: Path = Path("/")) -> str:
    """The CPU model ("AMD EPYC 7B13") where Linux says it, else the architecture."""
    text = _cpuinfo(root)
    for key in ("model name", "Hardware", "Processor", "cpu model"):
        if m := re.search(rf"^{key}\s*:\s*(.+)$", text, re.MULTILINE):
            return m.group(1).strip()
    return platform.processor() or platform.machine()


def cpu_features(root: Path = Path("/")) -> tuple[str, ...]:
    """The :data:`CPU_FEATURES` this CPU has (x86 flags; empty elsewhere)."""
    m = re.search(r"^flags\s*:\s*(.+)$", _cpuinfo(root), re.MULTILINE)
    flags = set(m.group(1).split()) if m else set()
    return tuple(f for f in CPU_FEATURES if f in flags)


def cpu_vendor(root: Path = Path("/")) -> str:
    """"intel", "amd", "arm" or "other"."""
    text = _cpuinfo(root)
    if "GenuineIntel" in text:
        return "intel"
    if "AuthenticAMD" in text:
        return "amd"
    return "arm" if platform.machine().lower() in ("aarch64", "arm64") else "other"


def cuda_device() -> dict[str, Any] | None:
    """Name and compute capability ("8.7") of CUDA device 0, or None when there is no GPU.

    cuda-python first (present wherever TensorRT is used without PyTorch, e.g. a Jetson deploy
    image), then torch; neither creates a CUDA context that the other would fight over.
    """
    try:
        from cuda.bindings import runtime as cudart
    except ImportError:
        cudart = None
    if cudart is not None:
        err, count = cudart.cudaGetDeviceCount()
        if err.value != 0 or count == 0:
            return None
        err, props = cudart.cudaGetDeviceProperties(0)
        if err.value != 0:
            return None
        name = props.name.decode(errors="replace").rstrip("\x00") if isinstance(props.name, bytes) else str(props.name)
        return {"name": name, "compute_capability": f"{props.major}.{props.minor}"}
    try:
        import torch
    except ImportError:
        return None
    if not torch.cuda.is_available():
        return None
    major, minor = torch.cuda.get_device_capability(0)
    return {"name": torch.cuda.get_device_name(0), "compute_capability": f"{major}.{minor}"}


def machine() -> dict[str, Any]:
    """What ``--backend auto`` decides on: the GPU (or None), CPU model, vendor and features."""
    return {"gpu": cuda_device(), "cpu": cpu_model(), "cpu_vendor": cpu_vendor(), "cpu_features": list(cpu_features())}


def torch_device(name: str, local_rank: int = 0):
    """A ``torch.device`` for "auto" (the GPU of this rank when torch sees one), "cpu", "cuda" or "cuda:N".

    Asking for CUDA where torch sees no GPU is a ConfigError (not a crash at the first tensor).
    """
    import torch

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
