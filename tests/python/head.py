"""An nml-tune head (head.json + head.safetensors) as a PyTorch module, checked
against nml's own predictions: prints the largest differences as JSON.

usage: head.py HEAD_DIR FEATURES.parquet PREDICTIONS.parquet
"""
import json
import sys

import numpy as np
import pyarrow.parquet as pq
import torch
from safetensors.torch import load_file


class Head(torch.nn.Module):
    """LP: a linear classifier on f; MLP/NMTune: z = s * mlp(f) + f (or mlp(f)), then the classifier."""

    def __init__(self, record):
        super().__init__()
        d, c = record["dim"], len(record["class_names"])
        self.mlp = None
        if record["method"] != "lp":
            self.mlp = torch.nn.Sequential(
                torch.nn.Linear(d, 4 * d), torch.nn.BatchNorm1d(4 * d), torch.nn.ReLU(), torch.nn.Linear(4 * d, d)
            )
            self.scale = torch.nn.Parameter(torch.ones(1, d)) if record["residual"] else None
        self.classifier = torch.nn.Linear(d, c)

    def forward(self, f):
        z = f
        if self.mlp is not None:
            h = self.mlp(f)
            z = h if self.scale is None else self.scale * h + f
        return self.classifier(z), z


def load(folder):
    record = json.load(open(f"{folder}/head.json"))
    head = Head(record)
    missing, unexpected = head.load_state_dict(load_file(f"{folder}/head.safetensors"), strict=False)
    assert not unexpected and all(k.endswith("num_batches_tracked") for k in missing), (missing, unexpected)
    return head.eval(), record


if __name__ == "__main__":
    head, record = load(sys.argv[1])
    f = torch.tensor(np.stack(pq.read_table(sys.argv[2]).column("feature").to_pylist()), dtype=torch.float32)
    p = pq.read_table(sys.argv[3])
    with torch.no_grad():
        logits, z = head(f)
    probs = torch.softmax(logits, -1).numpy()
    ours_p = np.stack(p.column("probabilities").to_pylist())
    ours_z = np.stack(p.column("z").to_pylist())
    print(json.dumps({
        "probabilities": float(np.abs(probs - ours_p).max()),
        "z": float(np.abs(z.numpy() - ours_z).max()),
        "predicted_agree": bool((probs.argmax(1) == np.array(p.column("predicted").to_pylist())).all()),
    }))
