"""An independent BagNet reference, written from the published facts (Brendel & Bethge,
ICLR 2019, and their reference implementation), functional style, straight from a state dict.

It shares no code with the C++ networks: the C++ test compares both on random weights.
"""
from collections import OrderedDict

import torch
import torch.nn.functional as F

BLOCKS = (3, 4, 6, 3)
WIDTHS = (64, 128, 256, 512)
STRIDES = (2, 2, 2, 1)
EXPANSION = 4
KERNEL3 = {9: (1, 1, 0, 0), 17: (1, 1, 1, 0), 33: (1, 1, 1, 1)}


def state_dict_shapes(q, num_classes=1000):
    """Key -> shape for BagNet-q, torchvision-style keys, in module order."""
    shapes = OrderedDict()

    def bn(prefix, c):
        shapes[prefix + ".weight"] = (c,)
        shapes[prefix + ".bias"] = (c,)
        shapes[prefix + ".running_mean"] = (c,)
        shapes[prefix + ".running_var"] = (c,)
        shapes[prefix + ".num_batches_tracked"] = ()

    shapes["conv1.weight"] = (64, 3, 1, 1)
    shapes["conv2.weight"] = (64, 64, 3, 3)
    bn("bn1", 64)
    inplanes = 64
    for s in range(4):
        w = WIDTHS[s]
        for b in range(BLOCKS[s]):
            p = "layer%d.%d" % (s + 1, b)
            k = 3 if b < KERNEL3[q][s] else 1
            shapes[p + ".conv1.weight"] = (w, inplanes, 1, 1)
            bn(p + ".bn1", w)
            shapes[p + ".conv2.weight"] = (w, w, k, k)
            bn(p + ".bn2", w)
            shapes[p + ".conv3.weight"] = (w * EXPANSION, w, 1, 1)
            bn(p + ".bn3", w * EXPANSION)
            if b == 0 and (STRIDES[s] != 1 or inplanes != w * EXPANSION):
                shapes[p + ".downsample.0.weight"] = (w * EXPANSION, inplanes, 1, 1)
                bn(p + ".downsample.1", w * EXPANSION)
            inplanes = w * EXPANSION
    shapes["fc.weight"] = (num_classes, inplanes)
    shapes["fc.bias"] = (num_classes,)
    return shapes


def random_state_dict(shapes, generator, fc_scale=4.0):
    """Random weights with random BatchNorm statistics, scaled so activations stay finite
    through 16 residual blocks and the logits spread over a few units."""
    sd = OrderedDict()
    for key, shape in shapes.items():
        if key.endswith("num_batches_tracked"):
            sd[key] = torch.tensor(7, dtype=torch.long)
        elif key.endswith("running_mean"):
            sd[key] = 0.1 * torch.randn(shape, generator=generator)
        elif key.endswith("running_var"):
            sd[key] = 0.5 + torch.rand(shape, generator=generator)
        elif key.endswith(".weight") and len(shape) == 1:  # BatchNorm gamma
            gamma = 0.5 + 0.5 * torch.rand(shape, generator=generator)
            if ".bn3" in key or "downsample" in key:
                gamma = gamma * 0.3
            sd[key] = gamma
        elif key.endswith(".bias") and not key.startswith("fc"):
            sd[key] = 0.1 * torch.randn(shape, generator=generator)
        elif len(shape) == 4:
            fan_in = shape[1] * shape[2] * shape[3]
            sd[key] = torch.randn(shape, generator=generator) * (2.0 / fan_in) ** 0.5
        elif key == "fc.weight":
            sd[key] = torch.randn(shape, generator=generator) * fc_scale / shape[1] ** 0.5
        elif key == "fc.bias":
            sd[key] = 0.1 * torch.randn(shape, generator=generator)
        else:
            raise KeyError(key)
    return sd


def _bn(sd, prefix, t, calibrate=None):
    if calibrate is not None:
        # Data-dependent statistics (perturbed), so every layer sees unit-scale activations
        # and the logits depend on the input, not only on the biases.
        g = calibrate
        sd[prefix + ".running_mean"] = t.mean((0, 2, 3)) + 0.05 * torch.randn(t.shape[1], generator=g)
        sd[prefix + ".running_var"] = t.var((0, 2, 3)) * (0.8 + 0.4 * torch.rand(t.shape[1], generator=g)) + 1e-3
    return F.batch_norm(t, sd[prefix + ".running_mean"], sd[prefix + ".running_var"], sd[prefix + ".weight"],
                        sd[prefix + ".bias"], training=False, momentum=0.0, eps=1e-5)


def features(sd, x, q, calibrate=None):
    y = F.conv2d(x, sd["conv1.weight"])
    y = F.conv2d(y, sd["conv2.weight"])  # 3x3, no padding
    y = F.relu(_bn(sd, "bn1", y, calibrate))
    for s in range(4):
        for b in range(BLOCKS[s]):
            p = "layer%d.%d" % (s + 1, b)
            stride = STRIDES[s] if b == 0 else 1
            k = 3 if b < KERNEL3[q][s] else 1
            assert sd[p + ".conv2.weight"].shape[-1] == k, p
            out = F.relu(_bn(sd, p + ".bn1", F.conv2d(y, sd[p + ".conv1.weight"]), calibrate))
            out = F.relu(_bn(sd, p + ".bn2", F.conv2d(out, sd[p + ".conv2.weight"], stride=stride), calibrate))
            out = _bn(sd, p + ".bn3", F.conv2d(out, sd[p + ".conv3.weight"]), calibrate)
            res = y
            if p + ".downsample.0.weight" in sd:
                res = _bn(sd, p + ".downsample.1", F.conv2d(y, sd[p + ".downsample.0.weight"], stride=stride), calibrate)
            # The residual is cropped at the bottom and right, not centred.
            dh, dw = res.shape[-2] - out.shape[-2], res.shape[-1] - out.shape[-1]
            res = res[:, :, : res.shape[-2] - dh, : res.shape[-1] - dw]
            y = F.relu(out + res)
    return y


def calibrate(sd, q, generator, size=48, batch=8):
    """Sets every BatchNorm's running statistics from a random batch (see _bn)."""
    with torch.no_grad():
        features(sd, torch.randn(batch, 3, size, size, generator=generator), q, calibrate=generator)


def pooled_logits(sd, x, q):
    f = features(sd, x, q)
    return F.linear(f.mean(dim=(2, 3)), sd["fc.weight"], sd["fc.bias"])


def logit_map(sd, x, q):
    f = features(sd, x, q)
    return F.linear(f.permute(0, 2, 3, 1), sd["fc.weight"], sd["fc.bias"]).permute(0, 3, 1, 2).contiguous()
