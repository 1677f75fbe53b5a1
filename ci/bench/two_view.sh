#!/usr/bin/env bash
# Two-view NMTune on cached augmented views (K = 2, 4, 8, 16) against the
# encoder in the loop (`nml-tune --encoder`), on the real-models benchmark's
# vision task: published MobileNetV2 (ImageNet-1k) on PACS at 96 px, heads
# trained on photo (train split), tested on photo (ID) and art_painting,
# cartoon, sketch (OOD). Head seeds SEEDS for every variant; the wall time of
# each (its extraction of the training rows' views included for the cached
# ones; the eval tables, shared by all, are extracted once). Prints a
# markdown table (ci/bench/two_view_table.py).
#
#   DATA    folder with pacs.parquet and models/ (default ../shared/data)
#   SEEDS   head seeds (default 0,1,2)
#   KS      cached view counts (default "2 4 8 16")
#   EPOCHS  head epochs (default 30, the official schedule)
#   WORK    scratch folder (default: a new temporary folder)
#   BIN     folder of the nml binaries (default target/debug; `cargo build --bins` first)
set -euo pipefail
cd "$(dirname "$0")/../.."
DATA=${DATA:-../shared/data}
SEEDS=${SEEDS:-0,1,2}
KS=${KS:-2 4 8 16}
EPOCHS=${EPOCHS:-30}
WORK=${WORK:-$(mktemp -d)}
BIN=${BIN:-target/debug}
PYTHON=${PYTHON:-.venv/bin/python}
weights="$DATA/models/mobilenet_v2_imagenet.safetensors"
backbone=(--arch mobilenet-v2 --input-size 96)
echo "work: $WORK" >&2
# The training rows only (photo), so views are computed for the rows that train.
"$PYTHON" -c '
import sys, pyarrow.parquet as pq, pyarrow.compute as pc
t = pq.read_table(sys.argv[1])
pq.write_table(t.filter(pc.equal(t["domain"], "photo")), sys.argv[2])
' "$DATA/pacs.parquet" "$WORK/photo.parquet"
"$BIN/nml-features" extract --checkpoint "$weights" "${backbone[@]}" --manifest "$DATA/pacs.parquet" \
  --splits test --cache "$WORK/cache" --out "$WORK/eval.parquet" -q
evals=()
for d in photo art_painting cartoon sketch; do evals+=(--eval "$d=$WORK/eval.parquet:test:$d"); done
now() { date +%s.%N; }
: > "$WORK/times"
run() { # name, seconds already spent, nml-tune arguments...
  local name=$1 spent=$2 start
  shift 2
  start=$(now)
  "$BIN/nml-tune" --method nmtune --epochs "$EPOCHS" --seeds "$SEEDS" "${evals[@]}" --out "$WORK/$name" -q "$@"
  echo "$name $(echo "$(now) - $start + $spent" | bc)" >> "$WORK/times"
}
start=$(now)
"$BIN/nml-features" extract --checkpoint "$weights" "${backbone[@]}" --manifest "$WORK/photo.parquet" \
  --splits train --cache "$WORK/cache" --out "$WORK/train.parquet" -q
run single-view "$(echo "$(now) - $start" | bc)" --train "$WORK/train.parquet"
for k in $KS; do
  start=$(now)
  "$BIN/nml-features" extract --checkpoint "$weights" "${backbone[@]}" --manifest "$WORK/photo.parquet" \
    --splits train --views "$k" --cache "$WORK/cache" --out "$WORK/views-$k.parquet" -q
  run "cached-k$k" "$(echo "$(now) - $start" | bc)" --two-view --train "$WORK/views-$k.parquet"
done
run encoder 0 --encoder "$weights" "${backbone[@]}" --manifest "$WORK/photo.parquet"
"$PYTHON" ci/bench/two_view_table.py "$WORK" $KS
