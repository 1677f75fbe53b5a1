#!/usr/bin/env bash
# Runs the CUDA path on a GPU machine that has no Rust toolchain: only binaries
# built on the CPU machine (ci/gpu-bundle.sh) and that machine's own torch 2.11.0.
#
#   NML_GPU_TORCH_LIB  torch/lib folder to run against; default: the one
#                      `python3 -c 'import torch'` finds on the GPU machine.
#   BUNDLE             folder made by ci/gpu-bundle.sh; default: target/gpu-bundle,
#                      unpacked from target/gpu-bundle.tar.xz when only the archive is there
#   WORK               scratch folder; default: a new temporary folder
#
# Checks: the runtime sees and links CUDA; the torch crates' tests pass there;
# ResNet-20 pre-training on the quick synthetic corpus on the GPU (fp32 and
# bf16 autocast) and on the CPU, contrastive (CLIP-style) pre-training on the
# corpus's captions on the GPU, four runs sharing the GPU and one at batch 512
# (the rates docs/throughput.toml lacks); feature extraction of a downstream task on
# the GPU and the CPU; NMTune on those features on the GPU and the CPU, whose
# accuracies must agree within 2 points (parity). Prints tables; exits
# non-zero when any check fails. Takes about 3 minutes on an H100.
set -uo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
bundle=${BUNDLE:-$here/target/gpu-bundle}
if [ ! -x "$bundle/nml-doctor" ] && [ -f "$here/target/gpu-bundle.tar.xz" ]; then
  mkdir -p "$bundle" && tar -C "$bundle" -xJf "$here/target/gpu-bundle.tar.xz"
fi
work=${WORK:-$(mktemp -d)}
lib=${NML_GPU_TORCH_LIB:-$(python3 -c 'import os, torch; print(os.path.join(os.path.dirname(torch.__file__), "lib"))' 2>/dev/null)}
if [ -z "$lib" ] || [ ! -e "$lib/libtorch_cpu.so" ]; then
  echo "gpu-check: no torch/lib found (set NML_GPU_TORCH_LIB)" >&2
  exit 2
fi
export LD_LIBRARY_PATH="$lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
status=0
results=()
check() { # name, command...
  local name=$1; shift
  local log; log=$(mktemp)
  local start=$SECONDS
  "$@" >"$log" 2>&1
  case $? in
    0) results+=("$name|pass|$((SECONDS - start)) s") ;;
    3) results+=("$name|skipped (python3 there lacks pyarrow/numpy)|-") ;;
    *) results+=("$name|FAIL|$((SECONDS - start)) s"); status=1 ;;
  esac
  echo "== $name: $*"; tail -n 25 "$log"; rm -f "$log"
}
# The last epoch's images/s and clean test accuracy of a pre-training run.
last_epoch() { tail -n 1 "$1/metrics.csv" | awk -F, '{printf "%.0f img/s, test acc %.3f", $7, $6}'; }

check "doctor (cuda required)" "$bundle/nml-doctor" --device cuda --require-cuda --size 2048
for t in "$bundle"/tests/*; do
  check "tests $(basename "$t")" "$t" --test-threads=4
done
check "quick synthetic corpus" "$bundle/nml-data" synth --preset quick --out "$work/bench"
train() { # name, out, extra args...
  local name=$1 out=$2; shift 2
  check "$name" "$bundle/nml-pretrain" --train "$work/bench/pretrain.parquet" --arch resnet20 \
    --out "$out" "$@"
}
train "pretrain resnet20 cuda (2 epochs, 312 steps)" "$work/cuda" --device cuda --epochs 2 --batch-size 128
train "pretrain resnet20 cuda bf16 (2 epochs)" "$work/amp" --device cuda --epochs 2 --amp --batch-size 128
train "pretrain resnet20 cpu (1 epoch)" "$work/cpu" --device cpu --epochs 1 --batch-size 128
train "pretrain resnet20 contrastive cuda (2 epochs, captions)" "$work/clip" --device cuda --epochs 2 \
  --objective contrastive --batch-size 128
# What docs/throughput.toml needs next: several runs sharing one GPU (its `concurrency`: their
# summed images/s over one run's), and one run at a larger batch.
concurrent() {
  local pids=() k
  for k in 1 2 3 4; do
    "$bundle/nml-pretrain" --train "$work/bench/pretrain.parquet" --arch resnet20 --out "$work/par-$k" \
      --batch-size 128 --device cuda --epochs 1 --seed "$k" >"$work/par-$k.log" 2>&1 &
    pids+=($!)
  done
  for k in "${pids[@]}"; do wait "$k" || return 1; done
}
check "pretrain resnet20 cuda, 4 runs at once (1 epoch each)" concurrent
train "pretrain resnet20 cuda batch 512 (1 epoch)" "$work/b512" --device cuda --epochs 1 --batch-size 512

# Feature extraction of task 0 (four domains) with the CUDA-trained backbone, on each device.
extract() { # device
  check "extract features $1" "$bundle/nml-features" extract --checkpoint "$work/cuda" \
    --manifest "$work/bench/task-0.parquet" --cache "$work/cache-$1" --device "$1" --batch-size 512 \
    --out "$work/features-$1.parquet"
}
extract cuda
extract cpu
# NMTune on the same features on each device: accuracies must agree (parity), and the speed is shown.
tune() { # device
  check "nmtune $1 (3 seeds)" "$bundle/nml-tune" --train "$work/features-cpu.parquet" --method nmtune \
    --eval photo="$work/features-cpu.parquet:test:photo" --eval sketch="$work/features-cpu.parquet:test:sketch" \
    --seeds 0,1,2 --device "$1" --out "$work/tune-$1"
}
tune cuda
tune cpu
# Extraction must agree across devices too (same backbone, eval mode). CUDA convolutions run in
# TF32 by default (10-bit mantissa), so agreement is ~1e-3 relative, not bit-equal.
check "features cuda ≈ cpu (max abs diff ≤ 1% of max abs value)" python3 -c "
import sys
try:
    import pyarrow.parquet as pq, numpy as np
except ImportError:
    sys.exit(3)
a = np.stack(pq.read_table(sys.argv[1]).column('feature').to_numpy(zero_copy_only=False))
b = np.stack(pq.read_table(sys.argv[2]).column('feature').to_numpy(zero_copy_only=False))
d = float(np.abs(a - b).max()) / float(np.abs(b).max()); print('max abs diff / max abs value', d); sys.exit(0 if d < 1e-2 else 1)
" "$work/features-cuda.parquet" "$work/features-cpu.parquet"
check "nmtune accuracy cuda = cpu (within 2 points)" python3 -c "
import json, sys
acc = lambda p: {s['eval']: s['accuracy_mean'] for s in json.load(open(p))['summary']}
g, c = acc(sys.argv[1]), acc(sys.argv[2]); print('cuda', g, 'cpu', c)
sys.exit(0 if all(abs(g[k] - c[k]) <= 0.02 for k in c) else 1)
" "$work/tune-cuda/summary.json" "$work/tune-cpu/summary.json"

echo
echo "| check | result | time |"
echo "|---|---|---|"
for r in "${results[@]}"; do IFS='|' read -r a b c <<<"$r"; echo "| $a | $b | $c |"; done
echo
echo "| pre-training (ResNet-20, batch 128, 32x32) | last epoch |"
echo "|---|---|"
for run in cuda amp cpu; do
  [ -f "$work/$run/metrics.csv" ] && echo "| $run | $(last_epoch "$work/$run") |"
done
[ -f "$work/b512/metrics.csv" ] && echo "| cuda, batch 512 | $(last_epoch "$work/b512") |"
if [ -f "$work/par-4/metrics.csv" ]; then
  echo "| cuda, 4 runs at once (summed) | $(for k in 1 2 3 4; do tail -n 1 "$work/par-$k/metrics.csv"; done | awk -F, '{s += $7} END {printf "%.0f img/s", s}') |"
fi
[ -f "$work/clip/metrics.csv" ] && echo "| contrastive cuda (batch 128) | $(tail -n 1 "$work/clip/metrics.csv" | awk -F, '{printf "%.0f img/s, zero-shot acc %.3f", $7, $5}') |"
echo
echo "| NMTune (3 seeds, task 0) | photo (ID) | sketch (OOD) |"
echo "|---|---:|---:|"
for d in cuda cpu; do
  [ -f "$work/tune-$d/summary.json" ] && python3 -c "
import json, sys
s = {x['eval']: x for x in json.load(open(sys.argv[1]))['summary']}
f = lambda k: '%.1f ± %.1f' % (100 * s[k]['accuracy_mean'], 100 * s[k]['accuracy_std'])
print('| %s | %s | %s |' % (sys.argv[2], f('photo'), f('sketch')))
" "$work/tune-$d/summary.json" "$d"
done
exit $status
