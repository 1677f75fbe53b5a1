"""PyTorch baseline for `cargo bench -p nml-features`: the same extraction
path as nml-features on the same manifest, with the usual Python stack.

Reads the manifest with pyarrow, decodes each PNG with PIL, normalises,
runs ResNet-20 (akamaster layout, tests/python/resnet_cifar.py) in eval mode
under no_grad in batches, and writes the pooled features with pyarrow.
Prints `images_per_sec=X` (best of --repeats).
"""
import argparse
import io
import os
import sys
import time

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import torch
from PIL import Image

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "tests", "python"))
from resnet_cifar import ResNet20  # noqa: E402

parser = argparse.ArgumentParser()
parser.add_argument("--manifest", required=True)
parser.add_argument("--out", required=True)
parser.add_argument("--threads", type=int, default=torch.get_num_threads())
parser.add_argument("--batch", type=int, default=256)
parser.add_argument("--repeats", type=int, default=3)
args = parser.parse_args()
torch.set_num_threads(args.threads)

model = ResNet20(10).eval()
features = {}
model.linear.register_forward_hook(lambda m, i, o: features.__setitem__("f", i[0]))
mean = torch.tensor([0.5, 0.5, 0.5]).view(1, 3, 1, 1)
std = torch.tensor([0.25, 0.25, 0.25]).view(1, 3, 1, 1)


def run():
    table = pq.read_table(args.manifest, columns=["index", "split", "label", "image"])
    images = table.column("image").to_pylist()
    out = []
    with torch.no_grad():
        for start in range(0, len(images), args.batch):
            chunk = images[start : start + args.batch]
            pixels = np.stack([np.asarray(Image.open(io.BytesIO(b)).convert("RGB")) for b in chunk])
            x = torch.from_numpy(pixels).permute(0, 3, 1, 2).float() / 255
            model((x - mean) / std)
            out.append(features["f"].numpy())
    f = np.concatenate(out)
    vectors = pa.FixedSizeListArray.from_arrays(pa.array(f.reshape(-1), pa.float32()), f.shape[1])
    pq.write_table(
        pa.table({"index": table.column("index"), "split": table.column("split"), "label": table.column("label"), "feature": vectors}),
        args.out,
    )
    return len(images)


run()
best = 0.0
for _ in range(args.repeats):
    start = time.perf_counter()
    n = run()
    best = max(best, n / (time.perf_counter() - start))
print(f"images_per_sec={best:.1f}")
