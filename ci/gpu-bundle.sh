#!/usr/bin/env bash
# Builds, on this CPU machine, everything ci/gpu-check.sh runs on a GPU machine:
# the stage binaries and the test executables of the crates that link libtorch.
# Release builds keep the bundle small enough to travel (debug code is ~10x larger).
# Output: target/gpu-bundle and target/gpu-bundle.tar.xz (carry the archive to the GPU machine).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo xtask setup
out=target/gpu-bundle
rm -rf "$out" && mkdir -p "$out/tests"
cargo build --release --locked --bins -p nml-torch -p nml-data -p nml-pretrain -p nml-features -p nml-tune
for bin in nml-doctor nml-data nml-pretrain nml-features nml-tune; do cp "target/release/$bin" "$out/"; done
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
strip --strip-all "$out"/nml-* "$out"/tests/*
# Compressed, the bundle travels well under the limit; gpu-check.sh unpacks it.
tar -C "$out" -cJf target/gpu-bundle.tar.xz .
du -sh "$out" target/gpu-bundle.tar.xz
