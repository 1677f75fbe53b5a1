#!/usr/bin/env bash
# Runs a whole study on a machine with no Rust toolchain, from the binaries
# ci/gpu-bundle.sh built on the CPU machine (stage binaries, nml-doctor and
# xtask itself), against that machine's own torch 2.11.0:
#
#   bash ci/gpu-study.sh BENCHMARK PROFILE      e.g. cifar10-pacs gpu, real-models full
#
#   BUNDLE      folder made by ci/gpu-bundle.sh; default target/gpu-bundle, unpacked
#               from target/gpu-bundle.tar.xz when only the archive is there
#   OUT         where the results go; default $OUT if set (the device tool's), else ./gpu-study
#   STUDY       the study's own folder (features, checkpoints: large); default $OUT/study.
#               A rerun with the same STUDY resumes where the last one stopped.
#   LIMIT       wall-clock seconds the study may run (default 480); on expiry the
#               study is stopped (every step process with it), what finished is kept,
#               and the script exits 124: run it again to resume
#   DEVICE      --device of the study (default cuda); JOBS its --jobs (steps at once
#               per GPU; default 4); DEVICES its --devices (default: every visible GPU)
#   HEAD_DEVICE --head-device: where heads train; default cpu for the gpu profile (it is
#               sized with small heads on the machine's cores beside the GPU), else DEVICE
#   DATA_DIR    --data-dir for cifar10-pacs and real-models (default: ../shared/data)
#   NML_GPU_TORCH_LIB  torch/lib folder; default the one `python3 -c 'import torch'` finds
#
# Leaves under $OUT: REPORT.md, figures/, results/*.parquet, run.json (every
# step's key and wall time), timings.txt (this script's stage lines and total,
# then the estimate), estimate.txt (reproduce --dry-run's estimate for this
# machine, made before the run) and study.log (the study's whole log). Exits
# with the study's status.
set -uo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
if [ $# -ne 2 ]; then
  echo "usage: ci/gpu-study.sh BENCHMARK PROFILE (e.g. cifar10-pacs gpu)" >&2
  exit 2
fi
benchmark=$1 profile=$2
bundle=${BUNDLE:-$here/target/gpu-bundle}
if [ ! -x "$bundle/xtask" ] && [ -f "$here/target/gpu-bundle.tar.xz" ]; then
  mkdir -p "$bundle" && tar -C "$bundle" -xJf "$here/target/gpu-bundle.tar.xz"
fi
for bin in xtask nml-doctor nml-data nml-noise nml-pretrain nml-features nml-spectral nml-tune nml-report; do
  if [ ! -x "$bundle/$bin" ]; then
    echo "gpu-study: BUNDLE=$bundle has no $bin (build it with ci/gpu-bundle.sh)" >&2
    exit 2
  fi
done
out=${OUT:-$here/gpu-study}
study=${STUDY:-$out/study}
limit=${LIMIT:-480}
case $limit in '' | *[!0-9]*) echo "gpu-study: LIMIT=$limit is not a number of seconds" >&2; exit 2 ;; esac
lib=${NML_GPU_TORCH_LIB:-$(python3 -c 'import os, torch; print(os.path.join(os.path.dirname(torch.__file__), "lib"))' 2>/dev/null)}
if [ -z "$lib" ] || [ ! -e "$lib/libtorch_cpu.so" ]; then
  echo "gpu-study: no torch/lib found (set NML_GPU_TORCH_LIB)" >&2
  exit 2
fi
# xtask takes LIBTORCH as the user's libtorch (no virtualenv is made), and
# NML_BIN_DIR as binaries to use as they are (nothing is built).
export LIBTORCH=$(dirname "$lib")
export LD_LIBRARY_PATH="$lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
export NML_BIN_DIR=$bundle
[ -f "$bundle/COMMIT" ] && export NML_GIT_COMMIT=$(cat "$bundle/COMMIT")
args=(reproduce --benchmark "$benchmark" --profile "$profile" --device "${DEVICE:-cuda}"
  --jobs "${JOBS:-4}" --out "$study")
[ -n "${DEVICES:-}" ] && args+=(--devices "$DEVICES")
if [ "$profile" = gpu ]; then head_device=${HEAD_DEVICE:-cpu}; else head_device=${HEAD_DEVICE:-${DEVICE:-cuda}}; fi
args+=(--head-device "$head_device")
case $benchmark in
  cifar10-pacs | real-models) args+=(--data-dir "${DATA_DIR:-$here/../shared/data}") ;;
esac
mkdir -p "$out"
# The throughput model's estimate for this machine first (docs/throughput.toml).
"$bundle/xtask" "${args[@]}" --dry-run 2>&1 | sed -n '/^estimate on/,$p' >"$out/estimate.txt"
start=$SECONDS
echo "gpu-study: $bundle/xtask ${args[*]} (limit ${limit}s)" | tee "$out/study.log"
cat "$out/estimate.txt" | tee -a "$out/study.log"
# timeout signals its whole process group: the study and every step it started.
timeout --signal=TERM --kill-after=20 "$limit" "$bundle/xtask" "${args[@]}" 2>&1 | tee -a "$out/study.log"
status=${PIPESTATUS[0]}
wall=$((SECONDS - start))
{
  grep -E '^reproduce: (stage .* finished|[0-9]+ steps)' "$out/study.log"
  echo "gpu-study: exit $status after ${wall}s (limit ${limit}s)"
  cat "$out/estimate.txt"
} >"$out/timings.txt"
for f in REPORT.md run.json; do
  [ -f "$study/$f" ] && cp "$study/$f" "$out/"
done
for d in figures results; do
  if [ -d "$study/$d" ]; then rm -rf "${out:?}/$d" && cp -r "$study/$d" "$out/"; fi
done
cat "$out/timings.txt"
if [ "$status" -eq 124 ] || [ "$status" -eq 137 ]; then
  echo "gpu-study: stopped at the ${limit}s limit; run the same command again to resume (STUDY=$study)" >&2
fi
exit "$status"
