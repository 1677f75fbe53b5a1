#!/usr/bin/env bash
# Runs the CUDA path on a GPU machine that has no Rust toolchain: only binaries
# built on the CPU machine (ci/gpu-bundle.sh) and that machine's own torch 2.11.0.
#
#   NML_GPU_TORCH_LIB  torch/lib folder to run against; default: the one
#                      `python3 -c 'import torch'` finds on the GPU machine.
#   BUNDLE             folder made by ci/gpu-bundle.sh; default: target/gpu-bundle
#   WORK               scratch folder; default: a new temporary folder
#
# Checks: the runtime sees and links CUDA; the torch crates' tests pass there;
# ResNet-20 pre-training on the quick synthetic corpus on the GPU (fp32 and
# bf16 autocast) and on the CPU, side by side. Prints a table; exits non-zero
# when any check fails. Takes about 2 minutes on an H100.
set -uo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
bundle=${BUNDLE:-$here/target/gpu-bundle}
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
  if "$@" >"$log" 2>&1; then results+=("$name|pass|$((SECONDS - start)) s"); else results+=("$name|FAIL|$((SECONDS - start)) s"); status=1; fi
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
    --out "$out" --batch-size 128 "$@"
}
train "pretrain resnet20 cuda (2 epochs, 312 steps)" "$work/cuda" --device cuda --epochs 2
train "pretrain resnet20 cuda bf16 (2 epochs)" "$work/amp" --device cuda --epochs 2 --amp
train "pretrain resnet20 cpu (1 epoch)" "$work/cpu" --device cpu --epochs 1

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
exit $status
