"""PyTorch baseline for `cargo bench -p nml-pretrain`: ResNet-20 (or the
`small` net) training throughput at batch 128 on 32x32 images, on the CPU, in
FP32 or in PyTorch's best CPU recipe (`--precision bf16 --channels-last`:
autocast to bfloat16 with FP32 weights, and channels-last memory format).

Measures the same two things as the Rust benchmark, with the same maths:
- model: forward, cross-entropy, backward and SGD (Nesterov, wd 5e-4) on a fixed batch;
- pipeline: the same plus per-batch u8 gather, random crop (pad 4) and flip on
  tensors and normalisation, as nml-pretrain's loader does.
Prints `model_images_per_sec=X` and `pipeline_images_per_sec=Y`.
"""
import argparse
import os
import sys
import time

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "tests", "python"))
from resnet_cifar import ResNet20, SmallNet  # noqa: E402

parser = argparse.ArgumentParser()
parser.add_argument("--threads", type=int, default=torch.get_num_threads())
parser.add_argument("--batch", type=int, default=128)
parser.add_argument("--steps", type=int, default=20)
parser.add_argument("--warmup", type=int, default=3)
parser.add_argument("--arch", choices=["resnet20", "small"], default="resnet20")
parser.add_argument("--precision", choices=["fp32", "bf16"], default="fp32")
parser.add_argument("--channels-last", action="store_true")
args = parser.parse_args()
fmt = torch.channels_last if args.channels_last else torch.contiguous_format
torch.set_num_threads(args.threads)
torch.manual_seed(0)

model = (ResNet20 if args.arch == "resnet20" else SmallNet)(10).to(memory_format=fmt)
model.train()
opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, nesterov=True, weight_decay=5e-4)
images = torch.randint(0, 256, (2048, 3, 32, 32), dtype=torch.uint8)
labels = torch.randint(0, 10, (2048,))
mean = torch.tensor([0.5, 0.5, 0.5]).view(1, 3, 1, 1)
std = torch.tensor([0.25, 0.25, 0.25]).view(1, 3, 1, 1)


def step(x, y):
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=args.precision == "bf16"):
        loss = F.cross_entropy(model(x.contiguous(memory_format=fmt)), y)
    opt.zero_grad()
    loss.backward()
    opt.step()


def batch(i):
    idx = torch.randint(0, images.shape[0], (args.batch,))
    x = images[idx].float() / 255
    padded = F.pad(x, (4, 4, 4, 4))
    dy = torch.randint(0, 9, (args.batch,))
    dx = torch.randint(0, 9, (args.batch,))
    rows = (dy[:, None] + torch.arange(32)[None]).view(-1, 32, 1)
    cols = (dx[:, None] + torch.arange(32)[None]).view(-1, 1, 32)
    b = torch.arange(args.batch).view(-1, 1, 1)
    x = padded[b, :, rows, cols].permute(0, 3, 1, 2).contiguous()
    flip = torch.rand(args.batch) < 0.5
    x = torch.where(flip.view(-1, 1, 1, 1), x.flip(3), x)
    return (x - mean) / std, labels[idx]


def measure(make):
    for i in range(args.warmup):
        step(*make(i))
    start = time.perf_counter()
    for i in range(args.steps):
        step(*make(i))
    return args.steps * args.batch / (time.perf_counter() - start)


fixed = batch(0)
print(f"model_images_per_sec={measure(lambda i: fixed):.1f}")
print(f"pipeline_images_per_sec={measure(batch):.1f}")
