"""Loads an nml-pretrain ResNet-20 checkpoint into a PyTorch module and
compares its outputs with the ones nml computed.

Usage: torch_resnet.py MODEL.safetensors REFERENCE.safetensors

MODEL is nml-pretrain's model.safetensors; REFERENCE holds `input` (the
normalised batch), and nml's `features` and `logits` for it; where it also
holds `features_bf16` and `logits_bf16` (nml under bfloat16 autocast, in
channels-last layout), they are compared with PyTorch's CPU recipe: the module
in `memory_format=torch.channels_last` under `torch.autocast("cpu", torch.bfloat16)`. The module is
akamaster/pytorch_resnet_cifar10's ResNet-20 (resnet_cifar.py).
"""
import json
import sys

import torch
from resnet_cifar import ResNet20
from safetensors import safe_open
from safetensors.torch import load_file


model_path, reference_path = sys.argv[1:3]
with safe_open(model_path, "pt") as f:
    description = json.loads(f.metadata()["nml"])
assert description["arch"] == "resnet20", description["arch"]
state = load_file(model_path)
model = ResNet20(description["classes"])
result = model.load_state_dict(state, strict=False)
assert not result.unexpected_keys, result.unexpected_keys
assert all(k.endswith("num_batches_tracked") for k in result.missing_keys), result.missing_keys
model.eval()
reference = load_file(reference_path)
with torch.no_grad():
    features = model.features(reference["input"])
    logits = model.linear(features)
for name, ours in [("features", features), ("logits", logits)]:
    theirs = reference[name]
    err = ((ours - theirs).norm() / theirs.norm()).item()
    assert err < 1e-4, f"{name}: relative error {err}"
    print(f"{name}: relative error {err:.2e}")
if "logits_bf16" in reference:
    # PyTorch's CPU recipe: autocast to bfloat16 (oneDNN's AMX/AVX-512 BF16
    # kernels where the CPU has them), the same libtorch as nml's.
    model = model.to(memory_format=torch.channels_last)
    x = reference["input"].contiguous(memory_format=torch.channels_last)
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        features = model.features(x)
        logits = model.linear(features)
    assert logits.dtype == torch.bfloat16, logits.dtype
    for name, ours in [("features_bf16", features.float()), ("logits_bf16", logits.float())]:
        theirs = reference[name]
        err = ((ours - theirs).norm() / theirs.norm()).item()
        # bfloat16 keeps 8 mantissa bits (relative step 2^-8 = 3.9e-3).
        assert err < 1e-2, f"{name}: relative error {err}"
        print(f"{name}: relative error {err:.2e}")
print("pytorch ok")
