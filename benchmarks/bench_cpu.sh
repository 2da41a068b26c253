#!/usr/bin/env bash
# CPU benchmark of the demo-sized depth model (ResNet-18, 192x640): ONNX file vs ONNX Runtime engines
# (FP32, INT8), batches 1/2/4, then end-to-end inference on a video file.
#
#   benchmarks/bench_cpu.sh                       # random-weight model: latency only
#   CHECKPOINT=runs/demo/model.pt benchmarks/bench_cpu.sh   # trained model: adds AbsRel (accuracy plot)
#
# Env: OUT (results folder, default benchmarks/results), THREADS (default: all), ITERATIONS (default 20),
#      BATCHES (default 1,2,4), NAME (file prefix, default bench_cpu), WORK (scratch folder for models).
set -euo pipefail
EDGEDEPTH=${EDGEDEPTH:-python -m edgedepth}  # or the installed `edgedepth` command
cd "$(dirname "$0")/.."
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"  # also runs from a checkout that is not installed
OUT=${OUT:-benchmarks/results}
NAME=${NAME:-bench_cpu}
ITERATIONS=${ITERATIONS:-20}
BATCHES=${BATCHES:-1,2,4}
WORK=${WORK:-$(mktemp -d)}
THREAD_ARGS=()
[[ -n "${THREADS:-}" ]] && THREAD_ARGS=(--threads "$THREADS")
mkdir -p "$OUT" "$WORK"

ONNX="$WORK/depth_192x640.onnx"
python benchmarks/export_bench_model.py "$ONNX" ${CHECKPOINT:+--checkpoint "$CHECKPOINT"}

$EDGEDEPTH build-engine --onnx "$ONNX" --precision fp32 --backend onnxruntime --out "$WORK/fp32.engine"
$EDGEDEPTH build-engine --onnx "$ONNX" --precision int8 --calib synthetic --backend onnxruntime \
    --out "$WORK/int8.engine"

ACCURACY_ARGS=()
[[ -n "${CHECKPOINT:-}" ]] && ACCURACY_ARGS=(--accuracy-data synthetic-target --accuracy-samples 8)
$EDGEDEPTH bench --onnx "$ONNX" --compare "$WORK/fp32.engine" "$WORK/int8.engine" \
    --batch "$BATCHES" --iterations "$ITERATIONS" --warmup 3 "${THREAD_ARGS[@]}" "${ACCURACY_ARGS[@]}" \
    --json "$OUT/$NAME.json" --csv "$OUT/$NAME.csv" --markdown "$OUT/$NAME.md" --plot "$OUT/$NAME.png"

python benchmarks/infer_bench.py --model "$WORK/fp32.engine" --frames 40 "${THREAD_ARGS[@]}" \
    --out "$OUT/infer_bench_cpu"
