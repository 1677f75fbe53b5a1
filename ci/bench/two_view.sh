#!/usr/bin/env bash
# Two-view NMTune on cached augmented views (K = 2, 4, 8, 16) against the
# encoder in the loop (`nml-tune --encoder`), on the real-models benchmark's
# vision task: published MobileNetV2 (ImageNet-1k) on PACS at 96 px, heads
# trained on photo (train split), tested on photo (ID) and art_painting,
# cartoon, sketch (OOD). Three head seeds each; wall time of each variant
# (extraction included for the cached ones). Prints a markdown table.
#
#   DATA    folder with pacs.parquet and models/ (default ../shared/data)
#   SEEDS   head seeds (default 0,1,2)
#   KS      cached view counts (default "2 4 8 16")
#   WORK    scratch folder (default: a new temporary folder)
#   BIN     folder of the nml binaries (default target/debug; `cargo build --bins` first)
set -euo pipefail
cd "$(dirname "$0")/../.."
DATA=${DATA:-../shared/data}
SEEDS=${SEEDS:-0,1,2}
KS=${KS:-2 4 8 16}
WORK=${WORK:-$(mktemp -d)}
BIN=${BIN:-target/debug}
weights="$DATA/models/mobilenet_v2_imagenet.safetensors"
manifest="$DATA/pacs.parquet"
backbone=(--arch mobilenet-v2 --input-size 96)
evals() {
  for d in photo art_painting cartoon sketch; do echo --eval "$d=$1:test:$d"; done
}
tune() { # name, extra args...
  local name=$1; shift
  local start end
  start=$(date +%s.%N)
  "$BIN/nml-tune" --method nmtune --train-domain photo --seeds "$SEEDS" --out "$WORK/$name" -q "$@"
  end=$(date +%s.%N)
  echo "$name $(echo "$end - $start" | bc)" >> "$WORK/times"
}
: > "$WORK/times"
"$BIN/nml-features" extract --checkpoint "$weights" "${backbone[@]}" --manifest "$manifest" \
  --cache "$WORK/cache" --out "$WORK/eval.parquet" -q
tune single-view --train "$WORK/eval.parquet" $(evals "$WORK/eval.parquet")
for k in $KS; do
  start=$(date +%s.%N)
  "$BIN/nml-features" extract --checkpoint "$weights" "${backbone[@]}" --manifest "$manifest" \
    --views "$k" --cache "$WORK/cache" --out "$WORK/views-$k.parquet" -q
  end=$(date +%s.%N)
  echo "extract-$k $(echo "$end - $start" | bc)" >> "$WORK/times"
  tune "cached-k$k" --two-view --train "$WORK/views-$k.parquet" $(evals "$WORK/views-$k.parquet")
done
tune encoder --encoder "$weights" "${backbone[@]}" --manifest "$manifest" $(evals "$WORK/eval.parquet")
"${PYTHON:-.venv/bin/python}" ci/bench/two_view_table.py "$WORK" $KS
