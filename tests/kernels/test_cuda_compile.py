"""The CUDA kernels compile wherever nvcc is found, even on a machine without a GPU (they cannot run there)."""
import shutil
import subprocess
import sysconfig
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("nvcc") is None, reason="nvcc is not installed: the CUDA sources cannot be compiled here")
@pytest.mark.parametrize("defines", [[], ["-DEDGEDEPTH_CUDA_FLOAT_GEOMETRY"]], ids=["float64-geometry", "float32-geometry"])
def test_cuda_sources_compile_with_nvcc(tmp_path, defines):
    from torch.utils.cpp_extension import include_paths

    includes = [f"-I{p}" for p in include_paths()] + [f"-I{sysconfig.get_paths()['include']}"]
    cmd = [
        "nvcc", "-c", str(ROOT / "kernels" / "warp_cuda.cu"), "-o", str(tmp_path / "warp_cuda.o"),
        *includes, "-std=c++20", "-O1", "--expt-relaxed-constexpr", "-Xcompiler", "-fPIC",
        "-gencode=arch=compute_87,code=sm_87",  # Jetson Orin
        "-D__CUDA_NO_HALF_OPERATORS__", "-D__CUDA_NO_HALF_CONVERSIONS__", "-D__CUDA_NO_BFLOAT16_CONVERSIONS__",
        "-D__CUDA_NO_HALF2_OPERATORS__", "-DTORCH_API_INCLUDE_EXTENSION_H", "-DTORCH_EXTENSION_NAME=_C", *defines,
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-4000:]
    assert (tmp_path / "warp_cuda.o").stat().st_size > 0
