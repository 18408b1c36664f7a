"""Makes the comparison networks' test fixtures at test time (nothing is downloaded): torchvision
0.14's own AlexNet, VGG-16, VGG-16-BN, GoogLeNet, ResNet-152 and DenseNet-169 with random
weights, their logits for random inputs at 224x224 and 160x192 (eval mode), and the
checkpoints.

Formats, to keep disk and time in bounds (VGG-16's random weights alone are 528 MB): the three
big files (vgg16, vgg16_bn, resnet152: 230-530 MB) are saved once each, alternating the two
torch.save formats; alexnet (233 MB) in the zip format; the small ones (googlenet, densenet169)
in both. GoogLeNet's files keep the auxiliary classifiers (as the official file does);
DenseNet's legacy file has the old key names (denselayer1.norm.1) of the official file.

Run with Debian's /usr/bin/python3 (python3-torch, python3-torchvision):
    /usr/bin/python3 tests/python/make_comparison_fixtures.py OUT_DIR
"""
import json
import os
import re
import sys
import time
from collections import OrderedDict

import torch
import torchvision

VERSION = "2"  # bump when fixtures change, so stale ones are remade

# name -> (constructor, formats)
NETWORKS = OrderedDict([
    ("alexnet", (lambda: torchvision.models.alexnet(), ["zip"])),
    ("vgg16", (lambda: torchvision.models.vgg16(), ["zip"])),
    ("vgg16_bn", (lambda: torchvision.models.vgg16_bn(), ["legacy"])),
    # As torchvision.models.googlenet(weights=...) builds it before loading: aux heads present,
    # transform_input on.
    ("googlenet", (lambda: torchvision.models.googlenet(aux_logits=True, transform_input=True,
                                                       init_weights=True), ["zip", "legacy"])),
    ("resnet152", (lambda: torchvision.models.resnet152(), ["zip"])),
    ("densenet169", (lambda: torchvision.models.densenet169(), ["zip", "legacy"])),
    # The registry's configurable VGG-like CNN (cnn_fashion_mnist), written here in plain PyTorch.
    ("cnn_fashion_mnist", (lambda: vgg_like_from_registry("cnn_fashion_mnist"), ["zip"])),
])


class VGGLike(torch.nn.Module):
    """3x3 convolutions (padding 1), BatchNorm, ReLU, 2x2 max-pools ("M"), global average pooling,
    fc: the registry's "vgg" architecture."""

    def __init__(self, channels, in_channels, num_classes):
        super().__init__()
        layers, c = [], in_channels
        for v in channels:
            if v == "M":
                layers.append(torch.nn.MaxPool2d(2, 2))
            else:
                layers += [torch.nn.Conv2d(c, v, 3, padding=1), torch.nn.BatchNorm2d(v), torch.nn.ReLU(inplace=True)]
                c = v
        self.features = torch.nn.Sequential(*layers)
        self.fc = torch.nn.Linear(c, num_classes)

    def forward(self, x):
        return self.fc(self.features(x).mean((2, 3)))


def vgg_like_from_registry(name):
    here = os.path.dirname(os.path.abspath(__file__))
    with open(os.path.join(here, "..", "..", "configs", "models.json")) as f:
        row = next(m for m in json.load(f)["models"] if m["name"] == name)
    return VGGLike(row["config"]["channels"], row["config"]["in_channels"], row["num_classes"])


def save(obj, path, legacy=False):
    tmp = path + ".tmp"
    torch.save(obj, tmp, _use_new_zipfile_serialization=not legacy)
    os.replace(tmp, path)


def calibrate(net, gen, in_channels=3):
    """BatchNorm statistics from a random batch (then perturbed), so that the logits depend on
    the input rather than on the biases alone (as make_fixtures.py does for ResNet-50)."""
    bns = [m for m in net.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    if not bns:
        return
    with torch.no_grad():
        for m in bns:
            m.reset_running_stats()
            m.momentum = None
        net.train()
        net(torch.randn(4, in_channels, 112, 112, generator=gen))
        for name, b in net.named_buffers():
            if name.endswith("running_var"):
                b.mul_(0.8 + 0.4 * torch.rand(b.shape, generator=gen))
            if name.endswith("running_mean"):
                b.add_(0.1 * torch.randn(b.shape, generator=gen))


def old_densenet_keys(sd):
    # The inverse of torchvision's _load_state_dict regex: norm1 -> norm.1, conv2 -> conv.2.
    pattern = re.compile(r"^(.*denselayer\d+\.(?:norm|relu|conv))([12])\.(weight|bias|running_mean|running_var)$")
    out = OrderedDict()
    for k, v in sd.items():
        m = pattern.match(k)
        out[m.group(1) + "." + m.group(2) + "." + m.group(3) if m else k] = v
    return out


def make(out, name, gen):
    build, formats = NETWORKS[name]
    torch.manual_seed(1000 + list(NETWORKS).index(name))
    net = build()
    gray = name == "cnn_fashion_mnist"
    calibrate(net, gen, 1 if gray else 3)
    net.eval()
    sd = net.state_dict()
    for fmt in formats:
        data = sd
        if name == "densenet169" and fmt == "legacy":
            data = old_densenet_keys(sd)
            assert data.keys() != sd.keys()
        save(data, os.path.join(out, "%s_%s.pth" % (name, fmt)), legacy=(fmt == "legacy"))
    with torch.no_grad():
        # Fashion-MNIST's 28x28 for the small CNN; 224 for the ImageNet ones; then another size.
        x = torch.randn(2, 1, 28, 28, generator=gen) if gray else torch.randn(2, 3, 224, 224, generator=gen)
        x_ns = torch.randn(1, 1, 36, 44, generator=gen) if gray else torch.randn(1, 3, 160, 192, generator=gen)
        io = OrderedDict(x_224=x, logits_224=net(x), x_ns=x_ns, logits_ns=net(x_ns))
    save(io, os.path.join(out, name + "_io.pt"))


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    stamp = os.path.join(out, "comparison_VERSION")
    current = os.path.exists(stamp) and open(stamp).read() == VERSION
    torch.set_num_threads(2)
    for i, name in enumerate(NETWORKS):
        files = [name + "_io.pt"] + ["%s_%s.pth" % (name, fmt) for fmt in NETWORKS[name][1]]
        if current and all(os.path.exists(os.path.join(out, f)) for f in files):
            continue
        t = time.time()
        make(out, name, torch.Generator().manual_seed(12 + i))  # one seed per network: made alone
        print("%s: %.1f s" % (name, time.time() - t), flush=True)
    with open(stamp, "w") as f:
        f.write(VERSION)


if __name__ == "__main__":
    main()
