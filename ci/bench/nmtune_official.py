"""PyTorch baseline for `cargo bench -p nml-tune`: the official NMTune training
loop (MLP D->4D->D with residual scale, BatchNorm, classifier; CE + consistency
+ covariance + top-k SVD terms with weights 1.0/0.04/0.001; AdamW lr 1e-3,
wd 1e-4; per-step cosine) on cached features, single view, on the CPU.

`--precision bf16` runs the head under `torch.autocast("cpu", torch.bfloat16)`
with the loss terms (covariance, SVD) in float32.

Usage: nmtune_official.py --dim D [--rows N] [--threads T] [--precision fp32|bf16]
Prints `samples_per_sec=X` for one epoch at batch 64 after a warm-up.
"""
import argparse
import math
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

parser = argparse.ArgumentParser()
parser.add_argument("--dim", type=int, required=True)
parser.add_argument("--rows", type=int, default=4096)
parser.add_argument("--classes", type=int, default=10)
parser.add_argument("--threads", type=int, default=torch.get_num_threads())
parser.add_argument("--precision", choices=["fp32", "bf16"], default="fp32")
args = parser.parse_args()
torch.set_num_threads(args.threads)
torch.manual_seed(0)
D = args.dim


class Head(nn.Module):
    def __init__(self):
        super().__init__()
        self.mlp = nn.Sequential(nn.Linear(D, 4 * D), nn.BatchNorm1d(4 * D), nn.ReLU(), nn.Linear(4 * D, D))
        self.scale = nn.Parameter(torch.ones(1, D))
        self.classifier = nn.Linear(D, args.classes)

    def forward(self, f):
        z = self.scale * self.mlp(f) + f
        return z, self.classifier(z)


def losses(z, f, logits, y):
    ce = F.cross_entropy(logits, y)
    mse = F.mse_loss(F.normalize(z, dim=1), F.normalize(f, dim=1).detach())
    zc = z - z.mean(dim=0)
    c = zc.T @ zc / (z.shape[0] - 1)
    cov = (c.pow(2).sum() - torch.diagonal(c).pow(2).sum()) / D
    s = torch.linalg.svdvals(z)
    svd = -(s / s.sum())[:5].sum() / 5
    return ce + 1.0 * mse + 0.04 * cov + 0.001 * svd


features = torch.randn(args.rows, D)
labels = torch.randint(0, args.classes, (args.rows,))
head = Head()
opt = torch.optim.AdamW(head.parameters(), lr=1e-3, weight_decay=1e-4)
steps = args.rows // 64


def epoch(step0):
    perm = torch.randperm(args.rows)
    for i in range(steps):
        idx = perm[i * 64:(i + 1) * 64]
        f, y = features[idx], labels[idx]
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=args.precision == "bf16"):
            z, logits = head(f)
        loss = losses(z.float(), f, logits.float(), y)
        for g in opt.param_groups:
            g["lr"] = 1e-3 * 0.5 * (1 + math.cos(math.pi * (step0 + i) / (2 * steps)))
        opt.zero_grad()
        loss.backward()
        opt.step()


epoch(0)
start = time.perf_counter()
epoch(steps)
print(f"samples_per_sec={steps * 64 / (time.perf_counter() - start):.1f}")
