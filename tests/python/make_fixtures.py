"""Makes the test fixtures at test time (nothing is downloaded): random-weight BagNet-9/17/33
and ResNet-50 checkpoints in both torch.save formats (zip and legacy), plain and wrapped in
{'state_dict': ...} with 'module.' keys, plus inputs and reference outputs.

Run with Debian's /usr/bin/python3 (python3-torch, python3-torchvision):
    /usr/bin/python3 tests/python/make_fixtures.py OUT_DIR
"""
import os
import sys
from collections import OrderedDict

import numpy as np
import torch
import torchvision
from PIL import Image

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bagnet_reference as ref  # noqa: E402

VERSION = "4"  # bump when fixtures change, so stale ones are remade


def save(obj, path, legacy=False):
    tmp = path + ".tmp"
    torch.save(obj, tmp, _use_new_zipfile_serialization=not legacy)
    os.replace(tmp, path)


def wrapped(sd):
    return {"state_dict": OrderedDict(("module." + k, v) for k, v in sd.items()), "epoch": 42, "arch": "x"}


def bagnets(out, gen):
    for q in (9, 17, 33):
        sd = ref.random_state_dict(ref.state_dict_shapes(q), gen)
        ref.calibrate(sd, q, gen)
        save(sd, os.path.join(out, "bagnet%d.pt" % q))
        save(sd, os.path.join(out, "bagnet%d_legacy.pth.tar" % q), legacy=True)
        save(wrapped(sd), os.path.join(out, "bagnet%d_wrapped.pt" % q))
        save(wrapped(sd), os.path.join(out, "bagnet%d_wrapped_legacy.pth.tar" % q), legacy=True)
        io = OrderedDict()
        with torch.no_grad():
            for tag, shape in (("224", (2, 3, 224, 224)), ("ns", (3, 3, 45, 61)), ("q", (2, 3, q, q))):
                x = torch.randn(shape, generator=gen)
                io["x_" + tag] = x
                io["pooled_" + tag] = ref.pooled_logits(sd, x, q)
                io["map_" + tag] = ref.logit_map(sd, x, q)
        save(io, os.path.join(out, "bagnet%d_io.pt" % q))


def resnet(out, gen):
    torch.manual_seed(1234)
    net = torchvision.models.resnet50()
    # BatchNorm statistics from a random batch (then perturbed), so that the logits depend
    # on the input rather than on the biases alone.
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.reset_running_stats()
                m.momentum = None  # cumulative average over the calibration batch
        net.train()
        net(torch.randn(8, 3, 96, 96, generator=gen))
        for name, b in net.named_buffers():
            if name.endswith("running_var"):
                b.mul_(0.8 + 0.4 * torch.rand(b.shape, generator=gen))
        net.fc.weight.mul_(4.0)
    net.eval()
    sd = net.state_dict()
    save(sd, os.path.join(out, "resnet50.pt"))
    # The Stylized-ImageNet ResNet-50s of Geirhos et al. come like this: legacy format,
    # {'state_dict': ...}, 'module.' on every key.
    save(wrapped(sd), os.path.join(out, "resnet50_wrapped_legacy.pth.tar"), legacy=True)
    with torch.no_grad():
        x = torch.randn(2, 3, 224, 224, generator=gen)
        x_ns = torch.randn(1, 3, 160, 200, generator=gen)
        save(OrderedDict(x_224=x, logits_224=net(x), x_ns=x_ns, logits_ns=net(x_ns)),
             os.path.join(out, "resnet50_io.pt"))


def images(out, gen):
    """Images for the end-to-end pipeline (file -> torchvision preprocessing -> logits)."""
    rng = np.random.default_rng(7)
    d = os.path.join(out, "images")
    os.makedirs(d, exist_ok=True)
    # Smooth random images (noise upsampled) so resizing has real work to do.
    for name, (h, w) in (("a.png", (300, 400)), ("b.jpg", (375, 500)), ("c.png", (256, 256))):
        small = rng.integers(0, 256, size=(h // 8, w // 8, 3), dtype=np.uint8)
        img = Image.fromarray(small).resize((w, h), Image.BICUBIC)
        img.save(os.path.join(d, name), quality=90) if name.endswith("jpg") else img.save(os.path.join(d, name))
    Image.fromarray(rng.integers(0, 256, size=(224, 224, 3), dtype=np.uint8)).save(os.path.join(d, "stim224.png"))


def pipeline_reference(out):
    """Top-5 of bagnet33 (random weights above) through torchvision's own preprocessing."""
    import json
    from torchvision import transforms as T
    sd = torch.load(os.path.join(out, "bagnet33.pt"))
    norm = T.Normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])
    full = T.Compose([T.Resize(256), T.CenterCrop(224), T.ToTensor(), norm])
    asis = T.Compose([T.ToTensor(), norm])
    d = os.path.join(out, "images")
    result = {}
    for name in sorted(os.listdir(d)):
        img = Image.open(os.path.join(d, name)).convert("RGB")
        entry = {}
        for mode, tf in (("resize", full), ("no_resize", asis)):
            with torch.no_grad():
                logits = ref.pooled_logits(sd, tf(img).unsqueeze(0), 33)[0]
            p = torch.softmax(logits, 0)
            top = torch.topk(p, 5)
            entry[mode] = {"index": top.indices.tolist(), "probability": top.values.tolist(),
                           "logit": logits[top.indices].tolist()}
        result[name] = entry
    with open(os.path.join(out, "pipeline_reference.json"), "w") as f:
        json.dump(result, f, indent=1)


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    stamp = os.path.join(out, "VERSION")
    if os.path.exists(stamp) and open(stamp).read() == VERSION:
        print("fixtures up to date in", out)
        return
    torch.set_num_threads(os.cpu_count())
    gen = torch.Generator().manual_seed(20190506)
    bagnets(out, gen)
    resnet(out, gen)
    images(out, gen)
    pipeline_reference(out)
    with open(stamp, "w") as f:
        f.write(VERSION)
    print("fixtures written to", out)


if __name__ == "__main__":
    main()
