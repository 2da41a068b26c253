#!/usr/bin/env bash
# Jetson benchmark (Orin, Xavier, Nano): TensorRT FP16 and INT8 engines built ON the device, power and
# energy per frame from tegrastats, the board state (model, L4T/JetPack, nvpmodel mode, clocks) recorded.
#
#   sudo nvpmodel -m 0 && sudo jetson_clocks      # optional: max performance, locked clocks (recorded either way)
#   benchmarks/bench_jetson.sh model.onnx         # the ONNX from `edgedepth export` (export on any machine)
#
# Env: OUT (default benchmarks/results), NAME (default bench_jetson_<model>), ITERATIONS (default 300),
#      BATCHES (default 1,2,4), DURATION (seconds per batch; replaces ITERATIONS; long runs give steadier power).
set -euo pipefail
EDGEDEPTH=${EDGEDEPTH:-python -m edgedepth}  # or the installed `edgedepth` command
cd "$(dirname "$0")/.."
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"  # also runs from a checkout that is not installed
ONNX=${1:?usage: benchmarks/bench_jetson.sh model.onnx}
OUT=${OUT:-benchmarks/results}
BOARD=$(tr -d '\0' < /proc/device-tree/model 2>/dev/null | tr ' ' '_' || echo jetson)
NAME=${NAME:-bench_jetson_$BOARD}
BATCHES=${BATCHES:-1,2,4}
STOP=(--iterations "${ITERATIONS:-300}")
[[ -n "${DURATION:-}" ]] && STOP=(--duration "$DURATION")
WORK=${WORK:-$(mktemp -d)}
mkdir -p "$OUT" "$WORK"
command -v tegrastats >/dev/null || echo "note: tegrastats not found, power will not be measured" >&2

# Engines are built here: a TensorRT plan only runs on the GPU and TensorRT version that built it.
$EDGEDEPTH build-engine --onnx "$ONNX" --precision fp16 --backend tensorrt --max-batch 4 --out "$WORK/fp16.engine"
$EDGEDEPTH build-engine --onnx "$ONNX" --precision int8 --calib synthetic --backend tensorrt --max-batch 4 \
    --out "$WORK/int8.engine"

$EDGEDEPTH bench --engine "$WORK/fp16.engine" --compare "$WORK/int8.engine" \
    --batch "$BATCHES" "${STOP[@]}" --warmup 50 \
    --json "$OUT/$NAME.json" --csv "$OUT/$NAME.csv" --markdown "$OUT/$NAME.md" --plot "$OUT/$NAME.png"

python benchmarks/infer_bench.py --model "$WORK/int8.engine" --frames 300 --out "$OUT/infer_bench_$BOARD"
