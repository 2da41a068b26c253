#!/usr/bin/env bash
# Desktop/server GPU benchmark: TensorRT FP32/FP16/INT8 engines and ONNX Runtime on the same ONNX file,
# batches 1/2/4/8, GPU time with CUDA events (no copies) next to host time (with copies).
#
#   benchmarks/bench_desktop_gpu.sh [model.onnx]    # default: export the demo-sized model (192x640)
#   CHECKPOINT=runs/demo/model.pt benchmarks/bench_desktop_gpu.sh   # trained model: adds AbsRel
#
# Env: OUT (default benchmarks/results), NAME (default bench_gpu_<gpu name>), ITERATIONS (default 200),
#      BATCHES (default 1,2,4,8), WORK (scratch folder).
set -euo pipefail
EDGEDEPTH=${EDGEDEPTH:-python -m edgedepth}  # or the installed `edgedepth` command
cd "$(dirname "$0")/.."
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"  # also runs from a checkout that is not installed
OUT=${OUT:-benchmarks/results}
GPU=$(nvidia-smi --query-gpu=name --format=csv,noheader | head -1 | tr ' ' '_' || echo gpu)
NAME=${NAME:-bench_gpu_$GPU}
ITERATIONS=${ITERATIONS:-200}
BATCHES=${BATCHES:-1,2,4,8}
WORK=${WORK:-$(mktemp -d)}
mkdir -p "$OUT" "$WORK"

ONNX=${1:-$WORK/depth_192x640.onnx}
if [[ -z "${1:-}" ]]; then
  python benchmarks/export_bench_model.py "$ONNX" ${CHECKPOINT:+--checkpoint "$CHECKPOINT"}
fi

ENGINES=()
for p in fp32 fp16 int8; do
  CALIB=()
  [[ $p == int8 ]] && CALIB=(--calib synthetic)
  $EDGEDEPTH build-engine --onnx "$ONNX" --precision $p "${CALIB[@]}" --backend tensorrt \
      --max-batch 8 --out "$WORK/trt_$p.engine"
  ENGINES+=("$WORK/trt_$p.engine")
done

ACCURACY_ARGS=()
[[ -n "${CHECKPOINT:-}" ]] && ACCURACY_ARGS=(--accuracy-data synthetic-target --accuracy-samples 16)
$EDGEDEPTH bench --onnx "$ONNX" --device cuda --compare "${ENGINES[@]}" \
    --batch "$BATCHES" --iterations "$ITERATIONS" --warmup 20 "${ACCURACY_ARGS[@]}" \
    --json "$OUT/$NAME.json" --csv "$OUT/$NAME.csv" --markdown "$OUT/$NAME.md" --plot "$OUT/$NAME.png"

python benchmarks/infer_bench.py --model "$WORK/trt_fp16.engine" --frames 300 --out "$OUT/infer_bench_$GPU"
