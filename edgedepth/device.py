"""The one place that asks what hardware this process runs on: CUDA GPU, CPU model and CPU features.

Importing this module needs neither torch nor a GPU library (the deploy half uses it); each probe
imports what it needs when called and answers None/empty where the answer cannot be had. torch is
optional here (:func:`installed_torch`); ``torch_device`` of training lives in ``edgedepth.torch_device``.
``root`` lets tests point the file probes at a fake filesystem.
"""
from __future__ import annotations

import contextlib
import importlib
import platform
import re
from pathlib import Path
from typing import Any


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
    torch = installed_torch()
    if torch is None or not torch.cuda.is_available():
        return None
    major, minor = torch.cuda.get_device_capability(0)
    return {"name": torch.cuda.get_device_name(0), "compute_capability": f"{major}.{minor}"}


def installed(module: str):
    """The module ``module`` where it is installed, else None (optional dependencies: torch, onnxruntime, openvino)."""
    try:
        return importlib.import_module(module)
    except ImportError:
        return None


def installed_torch():
    """The torch module where it is installed, else None: the deploy half uses torch when it is there
    (to probe the GPU, for device buffers), never needs it, and loads it by name through this one door."""
    return installed("torch")


def machine() -> dict[str, Any]:
    """What ``--backend auto`` decides on: the GPU (or None), CPU model, vendor and features."""
    return {"gpu": cuda_device(), "cpu": cpu_model(), "cpu_vendor": cpu_vendor(), "cpu_features": list(cpu_features())}
