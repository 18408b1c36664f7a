#!/usr/bin/env python3
"""Reference results from PIL and torchvision for tests/test_image.cpp.

Usage: pil_reference.py JOBS

JOBS is a text file written by the C++ test, one job per line, fields separated by spaces
(paths must not contain spaces). Jobs run in order, so images made by `make` can be used by
later jobs:

  make KIND OUT WIDTH HEIGHT SEED   write a test image only PIL makes easily (see make_image)
  decode IMAGE OUT                  Image.open(IMAGE).convert('RGB')
  resize IMAGE W H FILTER OUT       ... .resize((W, H), Image.BILINEAR or Image.BICUBIC)
  pipeline IMAGE RESIZE CROP INTERP MODE MEAN STD OUT
                                    Image.open(IMAGE).convert(MODE) ('RGB' or 'L'), then
                                    Compose([Resize(RESIZE, INTERP), CenterCrop(CROP), ToTensor(),
                                    Normalize(MEAN, STD)]); RESIZE or CROP 0 leaves that step
                                    out; MEAN and STD are comma-separated decimals.

Outputs are little-endian raw files:
  uint8 images: int32 width, height, channels, then the HWC bytes;
  tensors:      int32 channels, height, width, then the CHW float32 values.

This is the pipeline the toolkit must reproduce exactly: torchvision 0.14 on Pillow 9.4
(Debian's python3-torchvision and python3-pil under /usr/bin/python3).
"""
import struct
import sys

import numpy as np
import torch
from PIL import Image
from torchvision import transforms
from torchvision.transforms import InterpolationMode

FILTERS = {"bilinear": Image.BILINEAR, "bicubic": Image.BICUBIC}


def write_u8(path, img):
    a = np.asarray(img, dtype=np.uint8)
    if a.ndim == 2:
        a = a[:, :, None]
    h, w, c = a.shape
    with open(path, "wb") as f:
        f.write(struct.pack("<3i", w, h, c))
        f.write(np.ascontiguousarray(a).tobytes())


def write_tensor(path, t):
    assert t.dtype == torch.float32 and t.dim() == 3
    c, h, w = t.shape
    with open(path, "wb") as f:
        f.write(struct.pack("<3i", c, h, w))
        f.write(t.contiguous().numpy().astype("<f4").tobytes())


def make_image(kind, out, w, h, seed):
    """Images in modes OpenCV cannot write: palettes, gray+alpha, 1-bit, and JPEG variants."""
    rng = np.random.default_rng(seed)
    rgb = Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8), "RGB")
    if kind == "palette":  # 'P' PNG, 256 colours
        rgb.quantize(256).save(out)
    elif kind == "palette-trns":  # 'P' PNG with a tRNS chunk (convert('RGB') ignores it)
        im = rgb.quantize(64)
        im.info["transparency"] = 3
        im.save(out, transparency=3)
    elif kind == "la":  # gray + alpha PNG
        la = rng.integers(0, 256, (h, w, 2), dtype=np.uint8)
        Image.fromarray(la, "LA").save(out)
    elif kind == "bilevel":  # 1-bit PNG
        rgb.convert("1").save(out)
    elif kind == "gif":
        rgb.quantize(256).save(out)
    elif kind == "jpeg-progressive":
        rgb.save(out, quality=90, progressive=True)
    elif kind == "jpeg-444":
        rgb.save(out, quality=92, subsampling=0)
    elif kind == "jpeg-gray":
        rgb.convert("L").save(out, quality=85)
    elif kind == "jpeg-exif-rotated":  # EXIF Orientation 6: PIL's open() does not rotate, nor may we
        exif = Image.Exif()
        exif[0x0112] = 6
        rgb.save(out, quality=90, exif=exif.tobytes())
    elif kind == "jpeg-cmyk":
        rgb.convert("CMYK").save(out, quality=90)
    else:
        raise SystemExit(f"unknown image kind {kind}")


def pipeline(path, resize, crop, interp, mode, mean, std):
    img = Image.open(path).convert(mode)
    steps = []
    if resize > 0:
        steps.append(transforms.Resize(resize, interpolation=InterpolationMode(interp)))
    if crop > 0:
        steps.append(transforms.CenterCrop(crop))
    steps += [transforms.ToTensor(), transforms.Normalize(mean, std)]
    return transforms.Compose(steps)(img)


def floats(text):
    return [float(v) for v in text.split(",")]


def main():
    if len(sys.argv) != 2:
        raise SystemExit(__doc__)
    with open(sys.argv[1]) as f:
        jobs = [line.split() for line in f if line.strip()]
    for job in jobs:
        kind, args = job[0], job[1:]
        if kind == "make":
            make_image(args[0], args[1], int(args[2]), int(args[3]), int(args[4]))
        elif kind == "decode":
            write_u8(args[1], Image.open(args[0]).convert("RGB"))
        elif kind == "resize":
            img = Image.open(args[0]).convert("RGB")
            write_u8(args[4], img.resize((int(args[1]), int(args[2])), FILTERS[args[3]]))
        elif kind == "pipeline":
            t = pipeline(args[0], int(args[1]), int(args[2]), args[3], args[4], floats(args[5]), floats(args[6]))
            write_tensor(args[7], t)
        else:
            raise SystemExit(f"unknown job {kind}")


if __name__ == "__main__":
    main()
