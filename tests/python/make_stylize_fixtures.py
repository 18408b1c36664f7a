"""Fixtures of the AdaIN tests (bagnet-stylize), made at test time; nothing is downloaded.

The reference below is written from the method's description (issue 11; Huang & Belongie,
ICCV 2017; the networks of naoto0804/pytorch-AdaIN as Stylized-ImageNet and stylize-datasets
use them), not from the toolkit's code:
  - encoder: 1x1 conv 3->3, then VGG-19's 3x3 convs up to relu4_1, each after reflection
    padding 1, with ReLU; 2x2 max pooling, stride 2, ceil_mode. Keys are those of the full
    Sequential (0.weight, 2.weight, ... up to relu5_4, 53 modules); only the first 31 are used;
  - decoder: reflection padding + 3x3 conv + ReLU, nearest upsampling x2 before the 2nd, 6th and
    8th convolution, no ReLU after the last;
  - AdaIN: std = sqrt(unbiased var + 1e-5); output = decoder(alpha * adain + (1 - alpha) * f_c);
  - inputs: ToTensor (RGB / 255); outputs saved with torchvision's save_image.

Run with Debian's /usr/bin/python3 (python3-torch, python3-torchvision):
    /usr/bin/python3 tests/python/make_stylize_fixtures.py OUT_DIR
"""
import os
import sys
from collections import OrderedDict

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torchvision import transforms
from torchvision.utils import save_image

VERSION = "1"

# (Sequential index, in, out, kernel) of every convolution of the normalised VGG-19 file.
VGG = [(0, 3, 3, 1), (2, 3, 64, 3), (5, 64, 64, 3), (9, 64, 128, 3), (12, 128, 128, 3),
       (16, 128, 256, 3), (19, 256, 256, 3), (22, 256, 256, 3), (25, 256, 256, 3),
       (29, 256, 512, 3), (32, 512, 512, 3), (35, 512, 512, 3), (38, 512, 512, 3),
       (42, 512, 512, 3), (45, 512, 512, 3), (48, 512, 512, 3), (51, 512, 512, 3)]
POOL_AFTER = {5, 12, 25}
LAST_USED = 29  # relu4_1 is module 30
DECODER = [(1, 512, 256), (5, 256, 256), (8, 256, 256), (11, 256, 256), (14, 256, 128),
           (18, 128, 128), (21, 128, 64), (25, 64, 64), (28, 64, 3)]
UPSAMPLE_BEFORE = {5, 18, 25}


def conv_params(gen, cin, cout, k):
    # He-normal weights, so that random features neither vanish nor explode through 10 layers.
    w = torch.randn(cout, cin, k, k, generator=gen) * (2.0 / (cin * k * k)) ** 0.5
    b = torch.randn(cout, generator=gen) * 0.05
    return w, b


def encoder(sd, x):
    for i, cin, cout, k in VGG:
        if i > LAST_USED:
            break
        w, b = sd["%d.weight" % i], sd["%d.bias" % i]
        if k == 1:
            x = F.conv2d(x, w, b)
            continue
        x = F.relu(F.conv2d(F.pad(x, (1, 1, 1, 1), mode="reflect"), w, b))
        if i in POOL_AFTER:
            x = F.max_pool2d(x, 2, 2, 0, ceil_mode=True)
    return x


def decoder(sd, x):
    for i, cin, cout in DECODER:
        if i in UPSAMPLE_BEFORE:
            x = F.interpolate(x, scale_factor=2, mode="nearest")
        x = F.conv2d(F.pad(x, (1, 1, 1, 1), mode="reflect"), sd["%d.weight" % i], sd["%d.bias" % i])
        if i != 28:
            x = F.relu(x)
    return x


def mean_std(f, eps=1e-5):
    n, c = f.shape[:2]
    flat = f.reshape(n, c, -1)
    return flat.mean(2).view(n, c, 1, 1), (flat.var(2) + eps).sqrt().view(n, c, 1, 1)


def adain(fc, fs):
    cm, cs = mean_std(fc)
    sm, ss = mean_std(fs)
    return (fc - cm) / cs * ss + sm


def stylize(vsd, dsd, content, style, alpha):
    fc, fs = encoder(vsd, content), encoder(vsd, style)
    t = adain(fc, fs)
    return decoder(dsd, alpha * t + (1 - alpha) * fc)


def save(obj, path, legacy=False):
    tmp = path + ".tmp"
    torch.save(obj, tmp, _use_new_zipfile_serialization=not legacy)
    os.replace(tmp, path)


def random_image(rng, w, h):
    # Smooth colour fields plus noise: images with structure, so that features have spread.
    yy, xx = np.mgrid[0:h, 0:w]
    img = np.zeros((h, w, 3))
    for c in range(3):
        fx, fy, ph = rng.uniform(0.02, 0.2), rng.uniform(0.02, 0.2), rng.uniform(0, 6.3)
        img[..., c] = 127 + 100 * np.sin(fx * xx + fy * yy + ph)
    img += rng.normal(0, 20, img.shape)
    return Image.fromarray(np.clip(img, 0, 255).astype(np.uint8), "RGB")


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    stamp = os.path.join(out, "STYLIZE_VERSION")
    if os.path.exists(stamp) and open(stamp).read() == VERSION:
        return
    gen = torch.Generator().manual_seed(20190101)
    rng = np.random.RandomState(11)

    vsd = OrderedDict()
    for i, cin, cout, k in VGG:
        vsd["%d.weight" % i], vsd["%d.bias" % i] = conv_params(gen, cin, cout, k)
    dsd = OrderedDict()
    for i, cin, cout in DECODER:
        dsd["%d.weight" % i], dsd["%d.bias" % i] = conv_params(gen, cin, cout, 3)

    # Content and style images; odd, non-square sizes where ceil_mode and the decoder's 8x grid
    # matter (97x131 comes out 104x136).
    img_dir = os.path.join(out, "stylize_images")
    os.makedirs(img_dir, exist_ok=True)
    sizes = {"content_a": (131, 97), "content_b": (64, 48), "content_c": (45, 61),
             "style_a": (80, 100), "style_b": (57, 33)}
    imgs = {}
    for name, (w, h) in sizes.items():
        imgs[name] = random_image(rng, w, h)
        imgs[name].save(os.path.join(img_dir, name + ".png"))

    # The last convolution scaled so that outputs spread over [0, 1]: the PNG test then sees
    # every rounding case, and clamping at both ends.
    with torch.no_grad():
        t = transforms.ToTensor()
        c = t(imgs["content_a"]).unsqueeze(0)
        s = t(imgs["style_a"]).unsqueeze(0)
        y = stylize(vsd, dsd, c, s, 1.0)
        scale = 0.3 / y.std()
        dsd["28.weight"] = dsd["28.weight"] * scale
        dsd["28.bias"] = (dsd["28.bias"] - y.mean(dim=(0, 2, 3)).view(-1)) * scale + 0.5

    save(vsd, os.path.join(out, "adain_vgg.pth"))
    save(vsd, os.path.join(out, "adain_vgg_legacy.pth"), legacy=True)
    save(dsd, os.path.join(out, "adain_decoder.pth"))
    save(dsd, os.path.join(out, "adain_decoder_legacy.pth"), legacy=True)
    # Only the 31 modules used (what some re-exports hold).
    save(OrderedDict((k, v) for k, v in vsd.items() if int(k.split(".")[0]) <= LAST_USED),
         os.path.join(out, "adain_vgg_relu4_1.pth"))

    io = OrderedDict()
    pairs = [("a", "content_a", "style_a", 1.0), ("b", "content_b", "style_b", 0.6),
             ("c", "content_c", "style_a", 0.3)]
    png_dir = os.path.join(out, "stylize_reference")
    os.makedirs(png_dir, exist_ok=True)
    with torch.no_grad():
        for tag, cname, sname, alpha in pairs:
            c = transforms.ToTensor()(imgs[cname]).unsqueeze(0)
            s = transforms.ToTensor()(imgs[sname]).unsqueeze(0)
            fc, fs = encoder(vsd, c), encoder(vsd, s)
            t = adain(fc, fs)
            y = decoder(dsd, alpha * t + (1 - alpha) * fc)
            io["content_" + tag], io["style_" + tag] = c, s
            io["fc_" + tag], io["fs_" + tag], io["adain_" + tag], io["out_" + tag] = fc, fs, t, y
            io["alpha_" + tag] = torch.tensor([alpha])
            # torchvision's save_image, then the decoded pixels.
            path = os.path.join(png_dir, tag + ".png")
            save_image(y, path, padding=0)
            io["png_" + tag] = torch.from_numpy(np.array(Image.open(path).convert("RGB")))
        # A batch of equal-size contents with different styles (the batched path).
        cb = torch.cat([transforms.ToTensor()(random_image(rng, 40, 36)).unsqueeze(0) for _ in range(3)])
        sb = [transforms.ToTensor()(imgs[n]).unsqueeze(0) for n in ("style_a", "style_b", "style_a")]
        fb = encoder(vsd, cb)
        tb = torch.cat([adain(fb[k:k + 1], encoder(vsd, sb[k])) for k in range(3)])
        io["batch_content"], io["batch_adain"], io["batch_out"] = cb, tb, decoder(dsd, tb)

    # Stylized-ImageNet's style preparation: largest centre square, thumbnail to 224 with
    # Image.ANTIALIAS (Lanczos) as Pillow 5 did it (a plain resize; see README).
    big = random_image(rng, 301, 263)
    big.save(os.path.join(img_dir, "style_big.png"))
    n = min(big.size)
    left, top = int((big.size[0] - n) / 2), int((big.size[1] - n) / 2)
    sq = big.crop((left, top, left + n, top + n)).resize((224, 224), Image.LANCZOS)
    io["square_thumbnail"] = torch.from_numpy(np.array(sq))
    save(io, os.path.join(out, "adain_io.pt"))

    with open(stamp, "w") as f:
        f.write(VERSION)


if __name__ == "__main__":
    main()
