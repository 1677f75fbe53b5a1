"""Logistic-regression baseline for nml-tune's linear probe: scikit-learn's
LogisticRegression (L-BFGS, to convergence) on the same feature table.

Usage: logreg.py FEATURES.parquet DOMAIN
Trains on split `train` and tests on split `test` of DOMAIN; prints `accuracy=X`.
"""
import sys

import numpy as np
import pyarrow.parquet as pq
from sklearn.linear_model import LogisticRegression

path, domain = sys.argv[1:3]
t = pq.read_table(path)
x = np.stack(t.column("feature").to_numpy(zero_copy_only=False)).astype(np.float64)
y = np.array(t.column("label").to_pylist())
split = np.array(t.column("split").to_pylist())
dom = np.array(t.column("domain").to_pylist())
train = (split == "train") & (dom == domain)
test = (split == "test") & (dom == domain)
model = LogisticRegression(max_iter=5000).fit(x[train], y[train])
print(f"accuracy={model.score(x[test], y[test]):.6f}")
