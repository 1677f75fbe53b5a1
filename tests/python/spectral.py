"""numpy reference for nml-spectral: singular values and metrics of a feature table.

Usage: spectral.py FEATURES.parquet SPLIT

For each centring option (row, column, none) after L2 row normalisation,
prints one JSON line {"center": ..., "sigma": [...], "sve": ..., "lsvr": ...}
computed with numpy.linalg.svd in float64.
"""
import json
import sys

import numpy as np
import pyarrow.parquet as pq

path, split = sys.argv[1:3]
table = pq.read_table(path)
splits = np.array(table.column("split").to_pylist())
features = np.stack(table.column("feature").to_numpy(zero_copy_only=False)).astype(np.float64)
x = features[splits == split]
x = x / np.linalg.norm(x, axis=1, keepdims=True)
for center in ["row", "column", "none"]:
    if center == "row":
        m = x - x.mean(axis=1, keepdims=True)
    elif center == "column":
        m = x - x.mean(axis=0, keepdims=True)
    else:
        m = x
    sigma = np.linalg.svd(m, compute_uv=False)
    p = sigma / sigma.sum()
    nz = p[p > 0]
    print(json.dumps({"center": center, "sigma": sigma.tolist(), "sve": float(-(nz * np.log(nz)).sum()), "lsvr": float(p[0])}))
