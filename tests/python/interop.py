"""Cross-checks nml's Parquet files with pyarrow and pandas, both ways.

Usage: interop.py MANIFEST FEATURES OUT_MANIFEST OUT_FEATURES

Reads the manifest and feature table that tests/it/interop.rs wrote with
nml-core, asserts the documented schema and values, then writes a manifest
and a feature table with pandas for the Rust side to read back.
"""
import json
import sys

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

manifest_path, features_path, out_manifest, out_features = sys.argv[1:5]

# --- the manifest nml-core wrote ---
table = pq.read_table(manifest_path)
expected = {
    "index": pa.int64(),
    "split": pa.string(),
    "label": pa.int64(),
    "label_name": pa.string(),
    "image": pa.binary(),
    "image_format": pa.string(),
    "text": pa.string(),
    "domain": pa.string(),
    "noisy_label": pa.int64(),
}
for name, dtype in expected.items():
    field = table.schema.field(name)
    assert field.type == dtype, f"{name}: {field.type} != {dtype}"
meta = {k.decode(): v.decode() for k, v in table.schema.metadata.items()}
assert json.loads(meta["nml.class_names"]) == ["cat", "dog", "fox"], meta
assert meta["nml.schema_version"] == "1", meta
assert meta["nml.seed"] == "11", meta

df = pd.read_parquet(manifest_path)
n = len(df)
assert n == 50, n
assert list(df["index"]) == list(range(n))
assert list(df["label"]) == [i % 3 for i in range(n)]
assert list(df["label_name"]) == [["cat", "dog", "fox"][i % 3] for i in range(n)]
assert df["image"][7] == bytes([7, 8, 9]), df["image"][7]
assert df["text"][3] == "sample 3"

# --- the feature table nml-core wrote ---
ftable = pq.read_table(features_path)
ftype = ftable.schema.field("feature").type
assert pa.types.is_fixed_size_list(ftype) and ftype.list_size == 4, ftype
assert ftype.value_type == pa.float32(), ftype
feats = np.stack(ftable.column("feature").to_numpy(zero_copy_only=False))
assert feats.shape == (50, 4) and feats.dtype == np.float32, (feats.shape, feats.dtype)
assert np.array_equal(feats, np.arange(200, dtype=np.float32).reshape(50, 4) / 8)
fmeta = {k.decode(): v.decode() for k, v in ftable.schema.metadata.items()}
assert fmeta["nml.feature_dim"] == "4", fmeta

# --- files written by pandas, for nml-core to read ---
out = pd.DataFrame(
    {
        "index": np.arange(20, dtype=np.int64),
        "split": ["train"] * 15 + ["test"] * 5,
        "label": np.arange(20, dtype=np.int64) % 2,
        "label_name": [["neg", "pos"][i % 2] for i in range(20)],
        "text": [f"sentence {i}" for i in range(20)],
    }
)
out.to_parquet(out_manifest, index=False)
emb = pd.DataFrame(
    {
        "index": np.arange(20, dtype=np.int64),
        "split": ["train"] * 15 + ["test"] * 5,
        "label": np.arange(20, dtype=np.int64) % 2,
        "feature": [np.full(3, i, dtype=np.float64) for i in range(20)],
    }
)
emb.to_parquet(out_features, index=False)
print("interop ok")
