"""Reference attributions for tests/test_attribution.cpp, written plainly in PyTorch on the
random-weight BagNet-9 of make_fixtures.py (functional reference network, bagnet_reference.py):
saliency, input x gradient, Integrated Gradients (Gauss-Legendre, numpy's nodes), SmoothGrad,
Grad-CAM at layer4 (pytorch-grad-cam's recipe) and occlusion (captum's sliding windows, mean
colour, divided by the window area).

    /usr/bin/python3 tests/python/make_attribution_fixtures.py FIXTURE_DIR
"""
import os
import sys
from collections import OrderedDict

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bagnet_reference as ref  # noqa: E402

Q = 9
TARGET = 3


def logit(sd, x):
    return ref.pooled_logits(sd, x, Q)[:, TARGET]


def grad(sd, x):
    x = x.clone().requires_grad_(True)
    (g,) = torch.autograd.grad(logit(sd, x).sum(), x)
    return g


def integrated_gradients(sd, x, b, steps):
    nodes, weights = np.polynomial.legendre.leggauss(steps)
    alphas, weights = (nodes + 1) / 2, weights / 2
    total = torch.zeros_like(x)
    for a, w in zip(alphas, weights):
        total += float(w) * grad(sd, b + float(a) * (x - b))
    return (x - b) * total


def grad_cam(sd, x):
    x = x.clone().requires_grad_(True)
    f = ref.features(sd, x, Q)
    y = F.linear(f.mean(dim=(2, 3)), sd["fc.weight"], sd["fc.bias"])[:, TARGET].sum()
    (g,) = torch.autograd.grad(y, f)
    cam = F.relu((g.mean(dim=(2, 3), keepdim=True) * f).sum(1, keepdim=True))
    return F.interpolate(cam.detach(), size=x.shape[2:], mode="bilinear", align_corners=False)


def occlusion(sd, x, window, stride):
    h, w = x.shape[2:]

    def starts(n):
        s = list(range(0, n - window + 1, stride))
        if s[-1] + window < n:
            s.append(n - window)
        return s

    with torch.no_grad():
        f = logit(sd, x).item()
        total = torch.zeros(h, w, dtype=torch.float64)
        count = torch.zeros(h, w, dtype=torch.float64)  # noqa: E501
        for r in starts(h):
            for c in starts(w):
                xo = x.clone()
                xo[:, :, r:r + window, c:c + window] = 0
                drop = f - logit(sd, xo).item()
                total[r:r + window, c:c + window] += drop / (window * window)
                count[r:r + window, c:c + window] += 1
    return (total / count).view(1, 1, h, w)


def main(out):
    # Float64 throughout: these random networks amplify rounding, and float32 input gradients of
    # the same network differ by a few percent between summation orders (PyTorch's own float32
    # and float64 saliency maps differ by 5% of their maximum here).
    sd = {k: (v.double() if v.is_floating_point() else v) for k, v in torch.load(os.path.join(out, "bagnet9.pt")).items()}
    gen = torch.Generator().manual_seed(7)
    x = torch.randn(1, 3, 40, 44, generator=gen, dtype=torch.float64)
    b = torch.full_like(x, -1.5)
    io = OrderedDict(x=x, baseline=b)
    io["saliency"] = grad(sd, x)
    io["input_x_gradient"] = x * io["saliency"]
    io["ig16"] = integrated_gradients(sd, x, b, 16)
    noise = torch.normal(0.0, 1.0, size=(8,) + tuple(x.shape[1:]), generator=torch.Generator().manual_seed(11),
                         dtype=torch.float64)
    io["smoothgrad"] = torch.stack([grad(sd, x + 0.3 * n[None])[0] for n in noise]).mean(0, keepdim=True)
    io["grad_cam"] = grad_cam(sd, x)
    io["occlusion_8_4"] = occlusion(sd, x, 8, 4)
    tmp = os.path.join(out, "attribution_io.pt.tmp")
    torch.save(io, tmp)
    os.replace(tmp, os.path.join(out, "attribution_io.pt"))


if __name__ == "__main__":
    main(sys.argv[1])
