"""PyTorch reference values for nml-tune's loss terms (the official NMTune code's formulas).

Usage: nmtune_losses.py

Builds fixed z (8x6) and f (8x6) from a closed formula, then prints one JSON
object with the consistency, covariance and dominant-singular-value (k=3)
terms and the gradients of the covariance and SVD terms with respect to z.
tests/it/losses.rs builds the same inputs and compares.
"""
import json

import torch
import torch.nn.functional as F

B, D = 8, 6
i = torch.arange(B * D, dtype=torch.float64).view(B, D)
z = (torch.sin(0.7 * i) + 0.05 * i / (B * D) + (i % 5) * 0.1).float().requires_grad_(True)
f = torch.cos(0.3 * i).float()

consistency = F.mse_loss(F.normalize(z, dim=1), F.normalize(f, dim=1).detach())

zc = z - z.mean(dim=0)
c = zc.T @ zc / (B - 1)
off = c.pow(2).sum() - torch.diagonal(c).pow(2).sum()
covariance = off / D
(grad_cov,) = torch.autograd.grad(covariance, z, retain_graph=True)

s = torch.linalg.svdvals(z)
p = s / s.sum()
svd = -p[:3].sum() / 3
(grad_svd,) = torch.autograd.grad(svd, z)

print(json.dumps({
    "consistency": consistency.item(),
    "covariance": covariance.item(),
    "svd": svd.item(),
    "grad_cov": grad_cov.flatten().tolist(),
    "grad_svd": grad_svd.flatten().tolist(),
}))
