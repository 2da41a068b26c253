#!/usr/bin/env bash
# The edge-network speed reports on this CPU (issue 18), one after the other on an otherwise idle machine:
#   1. edge_bench.py: edge_s, edge_l and ResNet-18 at 192x640, every CPU engine, interleaved rounds;
#   2. the demo (trains edge_l at 128x384 and builds its INT8 engine), unless RUN holds one already;
#   3. infer_bench.py on the demo's engine (128x384) and on the same network exported at 192x640
#      (INT8, calibrated on synthetic images), engine-only against end to end in every output mode;
#   4. the live-source latency on the 192x640 engine.
# Usage: bash benchmarks/bench_edge_cpu.sh            (RUN=runs/demo THREADS=2 ROUNDS=100 to change)
set -euo pipefail
cd "$(dirname "$0")/.."
RUN=${RUN:-runs/demo}
THREADS=${THREADS:-2}
ROUNDS=${ROUNDS:-100}
RESULTS=benchmarks/results

python benchmarks/edge_bench.py --threads "$THREADS" --rounds "$ROUNDS"

if [ ! -f "$RUN/model.engine" ]; then
  edgedepth demo --out "$RUN" --threads "$THREADS"
fi
python benchmarks/infer_bench.py --model "$RUN/model.engine" --frames 400 --rounds 4 --threads "$THREADS" \
  --out "$RESULTS/infer_bench_cpu"

wide="$RUN/edge_l_192x640"
mkdir -p "$wide"
if [ ! -f "$wide/model.engine" ]; then
  edgedepth export --checkpoint "$RUN/model.pt" --out "$wide/model.onnx" --size 192x640
  edgedepth build-engine --onnx "$wide/model.onnx" --precision int8 --calib synthetic --out "$wide/model.engine"
fi
python benchmarks/infer_bench.py --model "$wide/model.engine" --frames 240 --rounds 4 --threads "$THREADS" \
  --out "$RESULTS/infer_bench_edge_l_192x640_cpu"
python benchmarks/infer_bench.py --model "$wide/model.engine" --only live --threads "$THREADS" \
  --out "$RESULTS/infer_bench_live_cpu"
