#!/usr/bin/env bash
# Builds, on this CPU machine, everything ci/gpu-check.sh and ci/gpu-study.sh run on a
# GPU machine: the stage binaries, xtask (which drives a study), the commit they come
# from (COMMIT), and the test executables of the crates that link libtorch.
# Release builds keep the bundle small enough to travel (debug code is ~10x larger).
# Output: target/gpu-bundle and target/gpu-bundle.tar.xz (carry the archive to the GPU machine).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo xtask setup
out=target/gpu-bundle
rm -rf "$out" && mkdir -p "$out/tests"
cargo build --release --locked --bins -p nml-torch -p nml-data -p nml-noise -p nml-pretrain \
  -p nml-features -p nml-spectral -p nml-tune -p nml-report
for bin in nml-doctor nml-data nml-noise nml-pretrain nml-features nml-spectral nml-tune nml-report; do
  cp "target/release/$bin" "$out/"
done
# xtask links no libtorch; its own target dir, as `cargo xtask` uses.
cargo build --release --locked -p xtask --target-dir target/xtask
cp target/xtask/release/xtask "$out/"
commit=$(git rev-parse HEAD)
git diff --quiet HEAD -- . || commit="$commit (with uncommitted changes)"
echo "$commit" >"$out/COMMIT"
# The CUDA-relevant tests (nml-torch's integration tests: CUDA linked, bf16 autocast);
# the other crates' tests run on the CPU in CI and would only add transfer size.
cargo test --release --locked -p nml-torch --test it --no-run --message-format=json 2>/dev/null \
  | python3 -c '
import json, sys, shutil
for line in sys.stdin:
    msg = json.loads(line)
    if msg.get("reason") == "compiler-artifact" and msg.get("executable") and msg["profile"]["test"]:
        package = msg["package_id"].split("#")[0].rstrip("/").split("/")[-1]
        shutil.copy(msg["executable"], sys.argv[1] + "/" + package + "." + msg["target"]["name"])
' "$out/tests"
# Symbols and debug info are not needed there and would not fit the 64 MiB transfer limit.
strip --strip-all "$out"/nml-* "$out"/xtask "$out"/tests/*
# Compressed, the bundle travels well under the limit; gpu-check.sh unpacks it.
tar -C "$out" -cJf target/gpu-bundle.tar.xz .
du -sh "$out" target/gpu-bundle.tar.xz
