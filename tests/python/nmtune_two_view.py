"""PyTorch reference for one official two-view NMTune step (src/models/nml_tune.py).

Usage: nmtune_two_view.py

Builds the NMTune head (Linear D->4D, BatchNorm1d in train mode, ReLU,
Linear 4D->D, residual z = s * h(f) + f, classifier) with parameters from a
closed formula, and a weak and a strong batch of frozen features (B x D).
As the official loop: Z = head([f_w; f_s]) over 2B rows, CE over both views
with labels duplicated, consistency MSE(normalize(z_s), normalize(f_w)),
top-5 singular-value term of the uncentred Z (loss -= w * mean(s[:5] / sum s)),
covariance of the centred Z with divisor 2B - 1, off-diagonal squares / D.
Prints one JSON object: the parameters, the inputs, each unweighted term,
the total loss with the README weights (1.0, 0.04, 0.001) and the gradient
of the total with respect to every parameter.
crates/nml-tune/tests/it/two_view.rs loads the same parameters and compares.
"""
import json

import torch
import torch.nn.functional as F

B, D, C = 6, 4, 3
H = 4 * D


def formula(shape, a, b):
    n = 1
    for s in shape:
        n *= s
    i = torch.arange(n, dtype=torch.float64)
    return (0.5 * torch.sin(a * i + b) + 0.1 * torch.cos(0.37 * i)).view(*shape).float()


params = {
    "mlp.0.weight": formula((H, D), 0.9, 0.1),
    "mlp.0.bias": formula((H,), 1.3, 0.2) * 0.2,
    "mlp.1.weight": 1.0 + formula((H,), 0.7, 0.3) * 0.3,
    "mlp.1.bias": formula((H,), 0.5, 0.4) * 0.2,
    "mlp.3.weight": formula((D, H), 1.1, 0.5) * 0.5,
    "mlp.3.bias": formula((D,), 0.3, 0.6) * 0.2,
    "scale": 1.0 + formula((1, D), 0.8, 0.7) * 0.2,
    "classifier.weight": formula((C, D), 1.7, 0.8),
    "classifier.bias": formula((C,), 0.6, 0.9) * 0.1,
}
for p in params.values():
    p.requires_grad_(True)

f_w = formula((B, D), 0.45, 1.0) * 2.0
f_s = f_w + 0.3 * formula((B, D), 1.9, 1.1)
labels = torch.tensor([0, 1, 2, 1, 0, 2])

x = torch.cat([f_w, f_s], dim=0)
h = F.linear(x, params["mlp.0.weight"], params["mlp.0.bias"])
h = F.batch_norm(h, None, None, params["mlp.1.weight"], params["mlp.1.bias"], training=True, eps=1e-5)
h = F.linear(F.relu(h), params["mlp.3.weight"], params["mlp.3.bias"])
z = params["scale"] * h + x
logits = F.linear(z, params["classifier.weight"], params["classifier.bias"])

ce = F.cross_entropy(logits, torch.cat([labels, labels], dim=0))
z_w, z_s = z.chunk(2)
consistency = F.mse_loss(F.normalize(z_s, dim=1), F.normalize(f_w.detach(), dim=1))
_, s, _ = torch.svd(z)
s = s / torch.sum(s)
svd = -torch.mean(s[:5])
zc = z - z.mean(dim=0)
cov = zc.T @ zc / (zc.size(0) - 1)
off = cov.pow(2).sum() - torch.diagonal(cov).pow(2).sum()
covariance = off / zc.size(1)

total = ce + 1.0 * consistency + 0.001 * svd + 0.04 * covariance
names = list(params)
grads = torch.autograd.grad(total, [params[n] for n in names])

print(json.dumps({
    "params": {n: {"shape": list(p.shape), "values": p.detach().flatten().tolist()} for n, p in params.items()},
    "weak": f_w.flatten().tolist(),
    "strong": f_s.flatten().tolist(),
    "labels": labels.tolist(),
    "batch": B,
    "dim": D,
    "classes": C,
    "cross_entropy": ce.item(),
    "consistency": consistency.item(),
    "covariance": covariance.item(),
    "svd": svd.item(),
    "total": total.item(),
    "grads": {n: g.flatten().tolist() for n, g in zip(names, grads)},
}))
