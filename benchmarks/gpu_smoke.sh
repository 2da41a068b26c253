#!/usr/bin/env bash
# Everything that needs a GPU, in one pass that fits a short GPU loan (about 5 minutes on an H100/H200):
#   1. build the CPU and CUDA operators against the installed torch (setup.py, this GPU's architecture)
#   2. the tests that need a real GPU (CUDA kernels, training/eval/torch runner on CUDA)
#   3. the whole demo on the GPU: training with AMP and the fused CUDA kernels, eval, export, FP16 and
#      INT8 engines from the best backends present, bench, infer
#   4. the GPU benchmarks: torch backend (FP16 + CUDA graphs vs FP32 eager) and end-to-end inference
#   5. torch FP16 + CUDA-graph latency of edge_s, edge_l and ResNet-18 at 192x640 (issue 18; the proxy for
#      TensorRT on a Jetson Orin, where RT-MonoDepth-S runs at 364 FPS)
#   6. with ABLATION=1 only (it needs about an hour, longer than a short loan): the domain-adaptation ablation
#      at >= 5,000 steps, 3 seeds, on ResNet-18 and edge_l (benchmarks/gpu_ablation.sh)
# and one report, benchmarks/results/gpu_smoke_<gpu>.{md,json}, naming the GPU.
#
#   benchmarks/gpu_smoke.sh                      # on the GPU machine, from a checkout
#   DEVICE=cpu STEPS=20 benchmarks/gpu_smoke.sh  # rehearsal of the flow on a CPU (no report is kept)
#
# Env: OUT (default benchmarks/results), WORK (scratch, default a temp dir), STEPS (demo training steps,
#      default the demo config's), JOBS (compile jobs, default all cores), PY (default python3).
set -uo pipefail
cd "$(dirname "$0")/.."
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1 EDGEDEPTH_NO_PROGRESS=1
PY=${PY:-python3}
DEVICE=${DEVICE:-cuda}
OUT=${OUT:-benchmarks/results}
WORK=${WORK:-$(mktemp -d)}
JOBS=${JOBS:-$(nproc)}
mkdir -p "$OUT" "$WORK"
START=$(date +%s)
declare -A STATUS SECONDS_OF

step() {  # step NAME COMMAND...: run, time and record pass/fail; the script goes on after a failure
  local name=$1 t0=$(date +%s)
  shift
  echo "== $name: $*"
  if "$@" >"$WORK/$name.log" 2>&1; then STATUS[$name]=pass; else STATUS[$name]="FAIL (rc $?)"; fi
  SECONDS_OF[$name]=$(( $(date +%s) - t0 ))
  tail -n 15 "$WORK/$name.log"
  echo "== $name: ${STATUS[$name]} in ${SECONDS_OF[$name]} s"
}

if [[ $DEVICE == cuda ]]; then
  GPU=$(nvidia-smi --query-gpu=name --format=csv,noheader | head -1)
  ARCH=$($PY -c 'import torch; p = torch.cuda.get_device_capability(); print(f"{p[0]}.{p[1]}")')
else
  GPU="CPU rehearsal"
  ARCH=""
fi
TAG=$(echo "$GPU" | tr -c 'A-Za-z0-9\n' '_' | sed 's/_*$//')

step build env EDGEDEPTH_BUILD_CUDA=$([[ $DEVICE == cuda ]] && echo 1 || echo 0) TORCH_CUDA_ARCH_LIST="$ARCH" \
  MAX_JOBS=$JOBS $PY setup.py build_ext --inplace
step info $PY -m edgedepth info --json
if [[ $DEVICE == cuda ]]; then
  # the real-GPU tests (the fake-CUDA ones are CI's); CI=1 turns a missing CUDA kernel into a failure
  step tests env CI=1 $PY -m pytest -q -p no:cacheprovider -rs tests/kernels/test_ops_cuda.py \
    tests/train/test_on_cuda.py::test_every_ablation_variant_trains_on_a_real_gpu \
    tests/backends/torch/test_runner.py::test_fp16_cuda_graph_on_a_real_gpu
fi
step demo $PY -m edgedepth demo --device "$DEVICE" --out "$WORK/demo" ${STEPS:+--steps $STEPS} --frames 96
step torch_backend $PY benchmarks/torch_backend_bench.py --checkpoint "$WORK/demo/model.pt" --device "$DEVICE" \
  --size 192x640 --batches 1,8 $([[ $DEVICE == cuda ]] && echo "--iterations 200" || echo "--iterations 3 --warmup 1 --accuracy-samples 2") \
  --out "$WORK/torch_backend"
step infer_bench $PY benchmarks/infer_bench.py --model "$WORK/demo/model.engine" --device "$DEVICE" \
  --frames $([[ $DEVICE == cuda ]] && echo 150 || echo 12) \
  --out "$WORK/infer_bench"

# Training samples/s at 64x192 (render cache vs rendering on the fly); BASELINE=DIR adds an older tree
# (e.g. `git archive 512c02a | tar -x -C DIR`) to compare against in the same run (issue 14's 4x goal).
step train_speed $PY benchmarks/train_speed.py --device "$DEVICE" \
  $([[ $DEVICE == cuda ]] && echo "--batch 16 --steps 200 --warmup 20" || echo "--batch 2 --steps 3 --warmup 1") \
  ${BASELINE:+--baseline "$BASELINE" --baseline-label "${BASELINE_LABEL:-baseline}"} \
  --out-dir "$([[ $DEVICE == cuda ]] && echo "$OUT" || echo "$WORK")" --out-name "train_speed_${TAG,,}"

# The three networks at 192x640 on the torch backend (random-weight checkpoints: latency does not depend on them).
for NET in edge_s edge_l resnet18; do
  step "ckpt_$NET" $PY -m edgedepth train model.encoder=$NET model.semantic_backbone=$NET train.steps=1 "data.size=[64,192]" \
    data.train_length=8 data.test_length=4 train.ckpt_every=0 train.tensorboard=false train.device="$DEVICE" \
    train.out="$WORK/ckpt_$NET" --overwrite
  step "torch_$NET" $PY benchmarks/torch_backend_bench.py --checkpoint "$WORK/ckpt_$NET/model.pt" --device "$DEVICE" --size 192x640 \
    --batches 1 $([[ $DEVICE == cuda ]] && echo "--iterations 300" || echo "--iterations 3 --warmup 1 --accuracy-samples 2") \
    --out "$([[ $DEVICE == cuda ]] && echo "$OUT/torch_backend_${NET}_${TAG,,}" || echo "$WORK/torch_backend_$NET")"
done

if [[ ${ABLATION:-0} == 1 ]]; then
  step ablation env DEVICE="$DEVICE" OUT="$OUT" TAG="${TAG,,}" PY="$PY" benchmarks/gpu_ablation.sh
fi

# One report: the GPU, every step's status and time, the demo's numbers and both benchmarks.
REPORT=$OUT/gpu_smoke_$TAG
[[ $DEVICE == cuda ]] || REPORT=$WORK/gpu_smoke_rehearsal
STEPS_JSON=$(for k in "${!STATUS[@]}"; do printf '{"step":"%s","status":"%s","seconds":%s}\n' "$k" "${STATUS[$k]}" "${SECONDS_OF[$k]}"; done)
$PY benchmarks/gpu_smoke_report.py --gpu "$GPU" --work "$WORK" --out "$REPORT" --total-seconds $(( $(date +%s) - START )) \
  --steps "$STEPS_JSON" --command "DEVICE=$DEVICE ${STEPS:+STEPS=$STEPS }benchmarks/gpu_smoke.sh"
echo "report: $REPORT.md ($(( $(date +%s) - START )) s in all)"
for k in "${!STATUS[@]}"; do [[ ${STATUS[$k]} == pass ]] || exit 1; done
