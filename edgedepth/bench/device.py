"""Describe the machine a benchmark ran on: CPU, GPU, library versions and, on Jetson, the board state.

Every probe is tolerant: a file that is missing, a tool that is not installed or a library that
does not import gives ``None`` rather than an error, because a benchmark must still run.
``root`` lets tests point the file probes at a fake filesystem.
"""
from __future__ import annotations

import contextlib
import glob
import importlib
import os
import platform
import re
import shutil
import subprocess
import sys
from pathlib import Path

from edgedepth.device import cpu_features, cpu_model, cuda_device, installed_torch

# L4T release -> JetPack (NVIDIA's release tables; dusty-nv/jetson-containers l4t_version.py).
L4T_TO_JETPACK = {
    "36.4.3": "6.2", "36.4.0": "6.1", "36.3.0": "6.0", "36.2.0": "6.0 DP",
    "35.6.0": "5.1.4", "35.5.0": "5.1.3", "35.4.1": "5.1.2", "35.3.1": "5.1.1", "35.2.1": "5.1",
    "35.1.0": "5.0.2", "32.7.4": "4.6.4", "32.7.3": "4.6.3", "32.7.2": "4.6.2", "32.7.1": "4.6.1",
    "32.6.1": "4.6", "32.5.1": "4.5.1", "32.5.0": "4.5",
}
LIBRARIES = ("numpy", "onnxruntime", "openvino", "tensorrt", "torch", "cv2")


def _read(path: Path) -> str | None:
    with contextlib.suppress(OSError, UnicodeDecodeError):
        return path.read_text().replace("\x00", "").strip()
    return None


def _run(cmd: list[str], timeout: float = 10.0) -> str | None:
    if shutil.which(cmd[0]) is None:
        return None
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
        if r.returncode == 0:
            return r.stdout
    return None


def cpu_threads() -> int:
    """CPUs this process may run on (affinity), which is what a benchmark can use."""
    with contextlib.suppress(AttributeError):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def _load_average() -> float | None:
    """1-minute load average: timings taken on a busy machine are slower, and a reader should know."""
    with contextlib.suppress(OSError, AttributeError):
        return round(os.getloadavg()[0], 2)
    return None


def library_versions() -> dict[str, str | None]:
    """Versions of the inference libraries that import here (None = not installed)."""
    out: dict[str, str | None] = {}
    for name in LIBRARIES:
        try:
            out["opencv" if name == "cv2" else name] = importlib.import_module(name).__version__
        except Exception:  # noqa: BLE001 - a broken install must not stop a benchmark
            out["opencv" if name == "cv2" else name] = None
    return out


def describe_gpu() -> dict | None:
    """Name, driver, CUDA and memory of GPU 0 from nvidia-smi and torch; None without a GPU."""
    gpu: dict = {}
    if smi := _run(["nvidia-smi", "--query-gpu=name,driver_version,memory.total",
                    "--format=csv,noheader,nounits"]):
        fields = [f.strip() for f in smi.splitlines()[0].split(",")]
        if len(fields) == 3:
            gpu.update(name=fields[0], driver=fields[1], memory_mb=float(fields[2]))
    with contextlib.suppress(Exception):
        if device := cuda_device():
            gpu.setdefault("name", device["name"])
            gpu["compute_capability"] = device["compute_capability"]
    with contextlib.suppress(Exception):
        torch = installed_torch()  # only to read the CUDA runtime it was built with, where it is installed
        if gpu and torch is not None and torch.cuda.is_available():
            gpu["cuda"] = torch.version.cuda
    return gpu or None


def parse_nv_tegra_release(text: str) -> dict | None:
    """``# R35 (release), REVISION: 3.1, ...`` -> ``{"l4t": "35.3.1", "jetpack": "5.1.1"}``."""
    m = re.search(r"#\s*R(\d+)\s*\(release\),\s*REVISION:\s*([\d.]+)", text)
    if not m:
        return None
    l4t = f"{m.group(1)}.{m.group(2)}"
    jetpack = L4T_TO_JETPACK.get(l4t)
    if jetpack is None and l4t.startswith("32.7."):
        jetpack = "4.6." + l4t.split(".")[2]  # every 32.7.x is JetPack 4.6.x
    return {"l4t": l4t, "jetpack": jetpack}


def parse_nvpmodel(text: str) -> dict | None:
    """``nvpmodel -q`` output (warnings may come first) -> ``{"mode": "MAXN", "id": 0}``."""
    lines = [ln.strip() for ln in text.splitlines()]
    for i, line in enumerate(lines):
        if m := re.match(r"NV Power Mode:\s*(.+)", line):
            mode_id = int(lines[i + 1]) if i + 1 < len(lines) and lines[i + 1].isdigit() else None
            return {"mode": m.group(1).strip(), "id": mode_id}
    return None


def clocks_locked(root: Path = Path("/")) -> bool | None:
    """True when every CPU core and the GPU run at a fixed frequency (what ``jetson_clocks`` sets).

    Read from sysfs (min == max) because ``jetson_clocks --show`` needs root. None if unreadable.
    """
    pairs = []
    for cpu in sorted(glob.glob(str(root / "sys/devices/system/cpu/cpu[0-9]*/cpufreq"))):
        pairs.append((_read(Path(cpu) / "scaling_min_freq"), _read(Path(cpu) / "scaling_max_freq")))
    for dev in glob.glob(str(root / "sys/class/devfreq/*")):
        if re.search(r"gpu|gv11b|ga10b|gp10b|gm20b", os.path.basename(dev)):
            pairs.append((_read(Path(dev) / "min_freq"), _read(Path(dev) / "max_freq")))
    pairs = [(lo, hi) for lo, hi in pairs if lo and hi]
    if not pairs:
        return None
    return all(lo == hi for lo, hi in pairs)


def describe_jetson(root: Path = Path("/")) -> dict | None:
    """Model, L4T/JetPack, power mode and clock state of a Jetson; None on other machines."""
    release = _read(root / "etc/nv_tegra_release")
    model = _read(root / "proc/device-tree/model")
    if release is None and not (model and "jetson" in model.lower()):
        return None
    info: dict = {"model": model}
    info.update(parse_nv_tegra_release(release or "") or {"l4t": None, "jetpack": None})
    info["power_mode"] = parse_nvpmodel(_run(["nvpmodel", "-q"]) or "") if root == Path("/") else None
    info["clocks_locked"] = clocks_locked(root)
    return info


def describe_device() -> dict:
    """Everything a reader needs to compare two benchmark runs (JSON-ready)."""
    return {
        "hostname": platform.node(),
        "os": f"{platform.system()} {platform.release()}",
        "machine": platform.machine(),
        "python": sys.version.split()[0],
        "cpu": {"model": cpu_model(), "features": list(cpu_features()), "threads": cpu_threads(),
                "load_average_1min": _load_average()},
        "gpu": describe_gpu(),
        "jetson": describe_jetson(),
        "versions": library_versions(),
    }
