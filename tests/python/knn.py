"""Reference for nml-tune's k-NN classifier: DINOv2's weighted k-NN rule
(eval/knn.py), written here from its description with torch: rows
L2-normalised, cosine similarity to every training row, the top k vote for
their labels with weight exp(similarity / T), argmax of the summed votes.

Usage: knn.py FEATURES.parquet K T|uniform
Trains on split `train`, predicts split `test`; prints `predicted=` (comma
separated class ids, in row order) and `balanced=` (scikit-learn's
balanced_accuracy_score). With `uniform`, the prediction is scikit-learn's
KNeighborsClassifier (cosine distance, brute force, uniform weights) instead.
"""
import sys

import numpy as np
import pyarrow.parquet as pq
import torch
import torch.nn.functional as F
from sklearn.metrics import balanced_accuracy_score

path, k, t = sys.argv[1], int(sys.argv[2]), sys.argv[3]
table = pq.read_table(path)
x = torch.from_numpy(np.stack(table.column("feature").to_numpy(zero_copy_only=False)).astype(np.float32))
y = torch.tensor(table.column("label").to_pylist())
split = np.array(table.column("split").to_pylist())
train, test = torch.from_numpy(split == "train"), torch.from_numpy(split == "test")
xtr, ytr = F.normalize(x[train], dim=1), y[train]
xte, yte = F.normalize(x[test], dim=1), y[test]
classes = int(y.max()) + 1
if t == "uniform":
    from sklearn.neighbors import KNeighborsClassifier

    knn = KNeighborsClassifier(n_neighbors=k, metric="cosine", algorithm="brute", weights="uniform")
    knn.fit(x[train].numpy(), ytr.numpy())
    predicted = torch.from_numpy(knn.predict(x[test].numpy()))
    print("predicted=" + ",".join(str(int(p)) for p in predicted))
    print(f"balanced={balanced_accuracy_score(yte.numpy(), predicted.numpy()):.9f}")
    sys.exit(0)
t = float(t)
sims = xte @ xtr.T
top, index = sims.topk(k, dim=1, largest=True, sorted=True)
neighbours = ytr[index]
one_hot = F.one_hot(neighbours, classes).float()
probs = (one_hot * (top / t).exp().unsqueeze(-1)).sum(1)
predicted = probs.argmax(1)
print("predicted=" + ",".join(str(int(p)) for p in predicted))
print(f"balanced={balanced_accuracy_score(yte.numpy(), predicted.numpy()):.9f}")
