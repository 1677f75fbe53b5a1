"""Initial parameter statistics of each architecture's PyTorch reference.

Usage: init_stats.py ARCH CLASSES

ARCH is one of resnet20 (akamaster/pytorch_resnet_cifar10, whose
`_weights_init` applies kaiming_normal_ to every Conv2d and Linear weight),
preact-resnet18 (kuangliu/pytorch-cifar: PyTorch's default initialisation,
plus nml's final `bn`), resnet18, resnet50 and mobilenet-v2 (torchvision's
modules, built with their own initialisation). Prints one JSON object:
for every parameter, its numel, mean and standard deviation (population),
and whether it is constant (and its value).
crates/nml-models/tests/init.rs builds nml's network and compares.
"""
import json
import sys

import torch
import torch.nn as nn
import torch.nn.init as init

from resnet_cifar import ResNet20


class PreActBlock(nn.Module):
    def __init__(self, in_planes, planes, stride):
        super().__init__()
        self.bn1 = nn.BatchNorm2d(in_planes)
        self.conv1 = nn.Conv2d(in_planes, planes, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        if stride != 1 or in_planes != planes:
            self.shortcut = nn.Sequential(nn.Conv2d(in_planes, planes, 1, stride, bias=False))


class PreActResNet18(nn.Module):
    def __init__(self, num_classes):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, 3, 1, 1, bias=False)
        in_planes = 64
        for i, (planes, stride) in enumerate([(64, 1), (128, 2), (256, 2), (512, 2)]):
            blocks = []
            for j in range(2):
                blocks.append(PreActBlock(in_planes, planes, stride if j == 0 else 1))
                in_planes = planes
            setattr(self, f"layer{i + 1}", nn.Sequential(*blocks))
        self.bn = nn.BatchNorm2d(512)
        self.linear = nn.Linear(512, num_classes)


def akamaster(m):
    if isinstance(m, (nn.Linear, nn.Conv2d)):
        init.kaiming_normal_(m.weight)


def build(arch, classes):
    if arch == "resnet20":
        model = ResNet20(classes)
        model.apply(akamaster)
        return model
    if arch == "preact-resnet18":
        return PreActResNet18(classes)
    import torchvision
    if arch == "resnet18":
        return torchvision.models.resnet18(num_classes=classes)
    if arch == "resnet50":
        return torchvision.models.resnet50(num_classes=classes)
    if arch == "mobilenet-v2":
        return torchvision.models.mobilenet_v2(num_classes=classes)
    raise SystemExit(f"unknown architecture {arch}")


arch, classes = sys.argv[1], int(sys.argv[2])
torch.manual_seed(0)
model = build(arch, classes)
stats = {}
for name, p in model.named_parameters():
    x = p.detach().double().flatten()
    constant = bool((x == x[0]).all())
    stats[name] = {
        "numel": x.numel(),
        "mean": x.mean().item(),
        "std": x.std(unbiased=False).item(),
        "constant": x[0].item() if constant else None,
    }
print(json.dumps(stats))
