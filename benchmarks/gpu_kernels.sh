#!/usr/bin/env bash
# One pass on a CUDA machine: builds the operators with CUDA two ways (setup.py and CMake), runs the
# kernel tests (the CUDA ones included) against each build, then the warp benchmark on the GPU.
#
#   benchmarks/gpu_kernels.sh [OUT_DIR]      # OUT_DIR default benchmarks/results
#
# Env: ARCH (CMake CUDA architectures, default: the visible GPU's, e.g. 90), JOBS (default: all cores),
#      PYTEST_ARGS (extra pytest arguments, e.g. --deselect ...).
set -uo pipefail
cd "$(dirname "$0")/.."
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
OUT=${1:-benchmarks/results}
mkdir -p "$OUT"
PY=${PY:-python3}
JOBS=${JOBS:-$(nproc)}
ARCH=${ARCH:-$($PY -c 'import torch; p=torch.cuda.get_device_capability(); print(f"{p[0]}{p[1]}")')}
nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv | tee "$OUT/gpu_info.txt"
$PY -c 'import torch,sys; print("python", sys.version.split()[0], "torch", torch.__version__, "cuda", torch.version.cuda)' \
  | tee -a "$OUT/gpu_info.txt"
nvcc --version | tail -2 | tee -a "$OUT/gpu_info.txt"

t0=$(date +%s)
( EDGEDEPTH_BUILD_CUDA=1 TORCH_CUDA_ARCH_LIST="${ARCH:0:-1}.${ARCH: -1}" MAX_JOBS=$JOBS \
    $PY setup.py build_ext --inplace >"$OUT/build_setup.log" 2>&1; echo "setup.py build rc=$?" ) &
( cmake -S . -B /tmp/edgedepth_cmake -DCMAKE_CUDA_ARCHITECTURES="$ARCH" \
    -DCMAKE_PREFIX_PATH="$($PY -c 'import torch;print(torch.utils.cmake_prefix_path)')" >"$OUT/build_cmake.log" 2>&1 \
  && cmake --build /tmp/edgedepth_cmake -j "$JOBS" >>"$OUT/build_cmake.log" 2>&1; echo "cmake build rc=$?" ) &
wait
echo "builds took $(( $(date +%s) - t0 )) s"
grep -h "edgedepth: CUDA kernels" "$OUT/build_cmake.log" || tail -20 "$OUT/build_cmake.log"

echo "== kernel tests, setup.py build (edgedepth/lib/_C.so)"
CI=1 $PY -m pytest -q -p no:cacheprovider tests/kernels -rs --tb=short ${PYTEST_ARGS:-} 2>&1 | tee "$OUT/pytest_kernels_setup.log" | tail -25
echo "== CUDA kernel tests, CMake build"
CI=1 EDGEDEPTH_OPS_LIBRARY=/tmp/edgedepth_cmake/libedgedepth_ops.so \
  $PY -m pytest -q -p no:cacheprovider tests/kernels/test_ops_cuda.py -rs --tb=short 2>&1 \
  | tee "$OUT/pytest_kernels_cmake.log" | tail -6

echo "== warp benchmark on the GPU"
$PY benchmarks/warp_bench.py --device cuda --repeat 20 --out "$OUT/warp_bench_cuda" 2>&1 | tail -40
