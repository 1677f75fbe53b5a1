"""numpy / scikit-learn baselines for `cargo bench -p nml-spectral`.

Usage: spectral.py FEATURES.npy

Times, on the float32 N×D matrix in FEATURES.npy (load excluded), the
official code's preprocessing (L2 rows, subtract each row's mean) followed by
(a) numpy.linalg.svd (singular values only) and (b) scikit-learn's
TruncatedSVD with n_components = D - 1 (the official `svd.py` asks for D;
scikit-learn requires fewer than D). Prints `numpy_seconds=…` and
`sklearn_seconds=…`.
"""
import sys
import time

import numpy as np
from sklearn.decomposition import TruncatedSVD

x = np.load(sys.argv[1])


def preprocess(x):
    x = x / np.linalg.norm(x, axis=1, keepdims=True)
    return x - x.mean(axis=1, keepdims=True)


start = time.perf_counter()
np.linalg.svd(preprocess(x), compute_uv=False)
print(f"numpy_seconds={time.perf_counter() - start:.3f}")
start = time.perf_counter()
TruncatedSVD(n_components=x.shape[1] - 1, random_state=0).fit(preprocess(x))
print(f"sklearn_seconds={time.perf_counter() - start:.3f}")
