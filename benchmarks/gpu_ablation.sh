#!/usr/bin/env bash
# The domain-adaptation ablation at a converged budget on a GPU (issue 19): 2,500 shared source-only steps +
# 2,500 per variant (5,000 in all), seeds 0 1 2, at 64x192, batch 4, on ResNet-18 and on edge_l, then the
# learning curves of edge_l to 5,000 steps. About an hour on an H100/H200: benchmarks/gpu_smoke.sh runs it with
# ABLATION=1 only. The recipe is the CPU ablations' (da_ablation*.md: the defaults, temporal views as the stereo
# view's fallback). Reports go to $OUT/da_ablation_gpu_<net>_<tag>.{md,json,png} and $OUT/da_curve_gpu_edge_l_<tag>.*.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-python3}
DEVICE=${DEVICE:-cuda}
OUT=${OUT:-benchmarks/results}
TAG=${TAG:-gpu}
WARM=${WARM:-2500}
STEPS=${STEPS:-2500}
for NET in resnet18:0.0003 edge_l:0.001; do
  name=${NET%%:*} lr=${NET##*:}
  $PY benchmarks/da_ablation.py --warm-start "$WARM" --steps "$STEPS" --seeds 0 1 2 --jobs 1 --threads 4 --test-length 64 \
    --name "da_ablation_gpu_${name}_${TAG}" --runs-dir "runs/gpu_ablation_$name" --out "$OUT" \
    model.encoder="$name" optim.lr="$lr" data.views=both loss.view_fallback=true train.device="$DEVICE"
done
$PY benchmarks/da_ablation.py --curve 250 500 1000 2000 5000 --seeds 0 1 2 --jobs 1 --threads 4 --test-length 64 \
  --name "da_curve_gpu_edge_l_${TAG}" --runs-dir runs/gpu_curve_edge_l --out "$OUT" \
  model.encoder=edge_l optim.lr=0.001 data.views=both loss.view_fallback=true train.device="$DEVICE"
