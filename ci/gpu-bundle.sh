#!/usr/bin/env bash
# Builds, on this CPU machine, everything ci/gpu-check.sh runs on a GPU machine:
# the torch binaries and the test executables of the crates that link libtorch.
# Output: target/gpu-bundle (carry it to the GPU machine with the working tree).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo xtask setup
out=target/gpu-bundle
rm -rf "$out" && mkdir -p "$out/tests"
cargo build --locked -p nml-torch --bin nml-doctor
cp target/debug/nml-doctor "$out/"
# Test executables of every crate that links libtorch.
cargo test --locked -p nml-torch --no-run --message-format=json 2>/dev/null \
  | python3 -c '
import json, sys, shutil
for line in sys.stdin:
    msg = json.loads(line)
    if msg.get("reason") == "compiler-artifact" and msg.get("executable") and msg["profile"]["test"]:
        package = msg["package_id"].split("#")[0].rstrip("/").split("/")[-1]
        shutil.copy(msg["executable"], sys.argv[1] + "/" + package + "." + msg["target"]["name"])
' "$out/tests"
# Debug info is not needed there and would not fit the transfer limit.
strip --strip-debug "$out"/nml-doctor "$out"/tests/*
du -sh "$out"
