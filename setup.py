"""Builds the compiled warp operators (edgedepth/lib/_C*.so) against the installed torch.

`pip install --no-build-isolation -e .` (or `python setup.py build_ext --inplace`) compiles the
CPU operators whenever torch imports, and the CUDA kernels too when `nvcc` is found, torch was
built with CUDA and a GPU is visible (EDGEDEPTH_BUILD_CUDA=1 forces them, 0 skips them). Without torch the pure-Python package
installs and edgedepth falls back to the reference warp. MAX_JOBS limits parallel compilation.
"""
from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

from setuptools import setup

ROOT = Path(__file__).parent
KERNELS = "kernels"


def _want_cuda(torch) -> bool:
    """EDGEDEPTH_BUILD_CUDA=1 forces the CUDA kernels, 0 skips them; unset, they are built when torch has
    CUDA, nvcc is found and a GPU is visible. A machine without a GPU (CI) often lacks the CUDA runtime
    libraries to link against; there the test suite compiles the .cu sources on their own instead."""
    wanted = os.environ.get("EDGEDEPTH_BUILD_CUDA", "auto")
    if wanted == "0" or torch.version.cuda is None:
        return False
    from torch.utils.cpp_extension import CUDA_HOME

    has_nvcc = CUDA_HOME is not None or shutil.which("nvcc") is not None
    if wanted == "1":
        return has_nvcc
    return has_nvcc and torch.cuda.is_available()


def _float_geometry_flag() -> list[str]:
    """EDGEDEPTH_CUDA_FLOAT_GEOMETRY=1: float32 geometry on CUDA (faster where FP64 is slow, e.g. Jetson)."""
    return ["-DEDGEDEPTH_CUDA_FLOAT_GEOMETRY"] if os.environ.get("EDGEDEPTH_CUDA_FLOAT_GEOMETRY") == "1" else []


def _extensions():
    try:
        import torch
        from torch.utils.cpp_extension import BuildExtension, CppExtension, CUDAExtension
    except ImportError:
        print("edgedepth: torch is not importable; installing without the compiled warp operators")
        return [], {}
    sources = [f"{KERNELS}/register.cpp", f"{KERNELS}/warp_cpu.cpp"]
    # The language standard comes from torch (C++20 for torch >= 2.10 headers). -fno-trapping-math
    # lets GCC vectorise loops with selects and divisions (we never enable floating-point traps);
    # it changes no result.
    cxx = ["-O3", "-fno-trapping-math"]
    # at::parallel_for is a header template: with PyTorch's OpenMP backend its `#pragma omp
    # parallel` is compiled into this library, and without -fopenmp every kernel runs on one thread.
    link = []
    if torch.backends.openmp.is_available() and sys.platform.startswith("linux"):
        cxx.append("-fopenmp")
        link.append("-fopenmp")
    if _want_cuda(torch):
        # Without a GPU torch cannot pick the architecture: default to Jetson Orin and Hopper.
        if not torch.cuda.is_available():
            os.environ.setdefault("TORCH_CUDA_ARCH_LIST", "8.7;9.0")
        arch = os.environ.get("TORCH_CUDA_ARCH_LIST")
        print(f"edgedepth: building CPU and CUDA operators (TORCH_CUDA_ARCH_LIST={arch or 'torch default'})")
        ext = CUDAExtension(
            "edgedepth.lib._C",
            sources + [f"{KERNELS}/warp_cuda.cu"],
            extra_compile_args={"cxx": cxx, "nvcc": ["-O3"] + _float_geometry_flag()},
            extra_link_args=link,
        )
    else:
        print("edgedepth: building the CPU operators (CUDA skipped: no GPU, no nvcc, CPU torch, or EDGEDEPTH_BUILD_CUDA=0)")
        ext = CppExtension("edgedepth.lib._C", sources, extra_compile_args={"cxx": cxx}, extra_link_args=link)
    # No Python module init: the library is loaded with torch.ops.load_library, not imported.
    return [ext], {"build_ext": BuildExtension.with_options(no_python_abi_suffix=True)}


ext_modules, cmdclass = _extensions()
setup(ext_modules=ext_modules, cmdclass=cmdclass)
