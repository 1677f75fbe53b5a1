"""PyTorch baseline for `cargo bench -p nml-features`: the same extraction
path as nml-features on the same manifest, with the usual Python stack.

Reads the manifest with pyarrow, decodes each PNG with PIL, normalises,
runs ResNet-20 (akamaster layout, tests/python/resnet_cifar.py) or
torchvision's MobileNetV2 in eval mode under no_grad in batches, and writes
the pooled features with pyarrow. `--precision bf16 --channels-last` is
PyTorch's best CPU recipe (autocast to bfloat16, channels-last module and
input). Prints `forward_images_per_sec=X` (the model alone on one decoded
batch, three batches after a warm-up) and `images_per_sec=Y` (the whole path,
best of --repeats).
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
parser.add_argument("--arch", choices=["resnet20", "mobilenet-v2"], default="resnet20")
parser.add_argument("--precision", choices=["fp32", "bf16"], default="fp32")
parser.add_argument("--channels-last", action="store_true")
args = parser.parse_args()
torch.set_num_threads(args.threads)
fmt = torch.channels_last if args.channels_last else torch.contiguous_format

if args.arch == "resnet20":
    model = ResNet20(10)
    head = model.linear
else:
    from torchvision.models import mobilenet_v2

    model = mobilenet_v2(num_classes=10)
    head = model.classifier
model = model.eval().to(memory_format=fmt)
features = {}
head.register_forward_hook(lambda m, i, o: features.__setitem__("f", i[0].float()))
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
            x = ((x - mean) / std).contiguous(memory_format=fmt)
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=args.precision == "bf16"):
                model(x)
            out.append(features["f"].numpy())
    f = np.concatenate(out)
    vectors = pa.FixedSizeListArray.from_arrays(pa.array(f.reshape(-1), pa.float32()), f.shape[1])
    pq.write_table(
        pa.table({"index": table.column("index"), "split": table.column("split"), "label": table.column("label"), "feature": vectors}),
        args.out,
    )
    return len(images)


def forward():
    """The model alone on one decoded batch of the manifest's image size."""
    first = pq.read_table(args.manifest, columns=["image"]).column("image")[0].as_py()
    side = Image.open(io.BytesIO(first)).size[0]
    x = torch.randint(0, 256, (args.batch, 3, side, side), dtype=torch.uint8).float() / 255
    x = ((x - mean) / std).contiguous(memory_format=fmt)
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=args.precision == "bf16"):
        model(x)
        start = time.perf_counter()
        for _ in range(3):
            model(x)
    return 3 * args.batch / (time.perf_counter() - start)


print(f"forward_images_per_sec={forward():.1f}")
run()
best = 0.0
for _ in range(args.repeats):
    start = time.perf_counter()
    n = run()
    best = max(best, n / (time.perf_counter() - start))
print(f"images_per_sec={best:.1f}")
