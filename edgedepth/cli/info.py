"""`edgedepth info [--json]`: versions, the active warp-kernel backend and where it was loaded from,
CUDA, ONNX Runtime and TensorRT availability. Works without torch (deploy-only installs)."""
from __future__ import annotations

import argparse
import importlib
import importlib.metadata
import json
import platform


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "info",
        help="show versions, the active kernel backend, CUDA, ONNX Runtime and TensorRT availability",
        description="Print what this installation can do: package versions, whether the fused warp operators "
        "are loaded (and from which file), CUDA devices, ONNX Runtime providers and TensorRT.",
    )
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.set_defaults(func=run)


def _version(dist: str) -> str | None:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


def _torch_section() -> dict:
    try:
        import torch
    except ImportError:
        return {"installed": False, "kernel_backend": "unavailable (torch not installed)"}
    from edgedepth.kernels import active_backend, ops

    cuda = torch.cuda.is_available()
    return {
        "installed": True,
        "version": torch.__version__,
        "built_with_cuda": torch.version.cuda,
        "cuda_available": cuda,
        "cuda_devices": [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())] if cuda else [],
        "kernel_backend": active_backend(),
        "kernel_library": str(ops.library_path()) if ops.library_path() else None,
        "kernel_library_error": ops.load_error(),
        "kernel_devices": [d for d in ("cpu", "cuda") if ops.has_kernel(d)],
        "kernel_cpu_threading": ops.cpu_threading(),
        "library_env": ops.LIBRARY_ENV,
    }


def _onnxruntime_section() -> dict:
    try:
        ort = importlib.import_module("onnxruntime")
    except ImportError:
        return {"installed": False}
    return {"installed": True, "version": ort.__version__, "providers": ort.get_available_providers()}


def _tensorrt_section() -> dict:
    from edgedepth.backends.tensorrt import require_tensorrt
    from edgedepth.errors import EngineError

    try:  # refuses a `tensorrt` folder holding only type stubs (tensorrt-stubs) too
        return {"installed": True, "version": require_tensorrt()}
    except EngineError:
        return {"installed": False}


def collect() -> dict:
    """The report as a dict (what `edgedepth info --json` prints)."""
    from edgedepth import __version__

    return {
        "edgedepth": __version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "numpy": _version("numpy"),
        "torch": _torch_section(),
        "torchvision": _version("torchvision"),
        "onnxruntime": _onnxruntime_section(),
        "tensorrt": _tensorrt_section(),
    }


def _yes(flag: bool) -> str:
    return "yes" if flag else "no"


def format_report(info: dict) -> str:
    t, ort, trt = info["torch"], info["onnxruntime"], info["tensorrt"]
    lines = [f"edgedepth {info['edgedepth']}  (python {info['python']}, {info['platform']})"]
    if t["installed"]:
        lines.append(f"torch          {t['version']} (CUDA build: {t['built_with_cuda'] or 'none'})")
        devices = ", ".join(t["cuda_devices"]) or "none"
        lines.append(f"CUDA available {_yes(t['cuda_available'])} (devices: {devices})")
        if t["kernel_backend"] == "fused":
            lines.append(f"warp kernels   fused ({', '.join(t['kernel_devices'])}) from {t['kernel_library']}")
            if t["kernel_cpu_threading"] == "single-threaded":
                lines.append("               CPU kernels single-threaded: the library was built without OpenMP; rebuild "
                             "with `pip install --no-build-isolation -e .`")
        else:
            lines.append(f"warp kernels   reference (plain PyTorch): {t['kernel_library_error']}")
            lines.append(f"               build with `pip install --no-build-isolation -e .` or set ${t['library_env']}")
    else:
        lines.append("torch          not installed (deploy-only install: engines and ONNX Runtime still work)")
    lines.append(f"torchvision    {info['torchvision'] or 'not installed'}")
    if ort["installed"]:
        lines.append(f"onnxruntime    {ort['version']} (providers: {', '.join(ort['providers'])})")
    else:
        lines.append("onnxruntime    not installed")
    lines.append(f"tensorrt       {trt['version'] if trt['installed'] else 'not installed'}")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    info = collect()
    print(json.dumps(info, indent=2) if args.json else format_report(info))
    return 0
