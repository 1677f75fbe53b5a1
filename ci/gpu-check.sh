#!/usr/bin/env bash
# Runs the CUDA path on a GPU machine that has no Rust toolchain: only binaries
# built on the CPU machine (ci/gpu-bundle.sh) and that machine's own torch 2.11.0.
#
#   NML_GPU_TORCH_LIB  torch/lib folder to run against; default: the one
#                      `python3 -c 'import torch'` finds on the GPU machine.
#   BUNDLE             folder made by ci/gpu-bundle.sh; default: target/gpu-bundle
#
# Prints a short table and exits non-zero when any check fails.
set -uo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
bundle=${BUNDLE:-$here/target/gpu-bundle}
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
  if "$@" >"$log" 2>&1; then results+=("$name|pass"); else results+=("$name|FAIL"); status=1; fi
  echo "== $name: $*"; cat "$log"; rm -f "$log"
}
check "doctor (cuda required)" "$bundle/nml-doctor" --device cuda --require-cuda --size 2048
check "doctor (cpu)" "$bundle/nml-doctor" --device cpu --size 512
for t in "$bundle"/tests/*; do
  check "tests $(basename "$t")" "$t" --test-threads=1
done
echo
echo "| check | result |"
echo "|---|---|"
for r in "${results[@]}"; do echo "| ${r%%|*} | ${r##*|} |"; done
exit $status
