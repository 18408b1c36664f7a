#!/usr/bin/python3
"""AdaIN style-transfer benchmark (not a test): images/s at 224x224, in one run on the same random
weights and the same images, contenders alternated (rounds), each in its own process, each timed
from start to exit (weights loaded, images read and PNGs written):

1. stylize-datasets as it is (bethgelab/stylize-datasets stylize.py): one image at a time, the
   style image decoded, transformed and encoded for every content image, save_image to PNG;
2. a tuned PyTorch version: batches of content images, channels-last (and, as a further
   contender, the same in NCHW), torch.inference_mode,
   raised malloc thresholds (MALLOC_MMAP_THRESHOLD_/MALLOC_TRIM_THRESHOLD_), the style statistics
   of a repeated style reused (as bagnet-stylize does);
3. bagnet-stylize.

Stylized-ImageNet's setting: content 224x224, styles prepared at 224x224 (its paintings are
stored that way), one style per image, alpha 1. Every contender stylizes the same (content,
style) pairs: those of bagnet-stylize's manifest (seed 0), so style re-use is equal.

    /usr/bin/python3 scripts/bench_stylize.py [--build build] [--images 24] [--styles 200]
        [--rounds 2] [--threads 2] [--batch-size 8]

Weights: random, written by tests/python/make_stylize_fixtures.py (official shapes).
"""
import argparse
import csv
import os
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# The network of naoto0804/pytorch-AdaIN (net.py) as both PyTorch contenders build it.
NET = r"""
import torch, torch.nn as nn
def vgg_net():
    L = [nn.Conv2d(3, 3, 1)]
    cfg = [(3, 64), (64, 64), 'M', (64, 128), (128, 128), 'M', (128, 256), (256, 256), (256, 256), (256, 256), 'M',
           (256, 512), (512, 512), (512, 512), (512, 512), 'M', (512, 512), (512, 512), (512, 512), (512, 512)]
    for c in cfg:
        if c == 'M':
            L.append(nn.MaxPool2d(2, 2, 0, ceil_mode=True))
        else:
            L += [nn.ReflectionPad2d(1), nn.Conv2d(c[0], c[1], 3), nn.ReLU()]
    return nn.Sequential(*L)
def decoder_net():
    L = []
    for c in [(512, 256), 'U', (256, 256), (256, 256), (256, 256), (256, 128), 'U', (128, 128), (128, 64), 'U',
              (64, 64), (64, 3)]:
        if c == 'U':
            L.append(nn.Upsample(scale_factor=2, mode='nearest'))
        else:
            L += [nn.ReflectionPad2d(1), nn.Conv2d(c[0], c[1], 3), nn.ReLU()]
    return nn.Sequential(*L[:-1])
def calc_mean_std(feat, eps=1e-5):
    N, C = feat.size()[:2]
    var = feat.view(N, C, -1).var(dim=2) + eps
    return feat.view(N, C, -1).mean(dim=2).view(N, C, 1, 1), var.sqrt().view(N, C, 1, 1)
def adain(content, style_mean, style_std):
    size = content.size()
    m, s = calc_mean_std(content)
    return (content - m.expand(size)) / s.expand(size) * style_std.expand(size) + style_mean.expand(size)
def load(vgg_path, dec_path):
    vgg, dec = vgg_net(), decoder_net()
    vgg.load_state_dict(torch.load(vgg_path)); dec.load_state_dict(torch.load(dec_path))
    vgg = nn.Sequential(*list(vgg.children())[:31])
    return vgg.eval(), dec.eval()
"""

# 1. The stylize-datasets loop as it is: per content image, the style opened, transformed,
# encoded; one image per forward pass; save_image.
AS_IS = NET + r"""
import sys, csv, os, torch, torchvision.transforms as T
from PIL import Image
from torchvision.utils import save_image
vgg_path, dec_path, content_dir, style_dir, manifest, out, threads = sys.argv[1:8]
torch.set_num_threads(int(threads))
vgg, decoder = load(vgg_path, dec_path)
tf = T.Compose([T.ToTensor()])
for row in csv.DictReader(open(manifest)):
    content_img = Image.open(os.path.join(content_dir, row['content'])).convert('RGB')
    style_img = Image.open(os.path.join(style_dir, row['style'])).convert('RGB')
    content, style = tf(content_img).unsqueeze(0), tf(style_img).unsqueeze(0)
    with torch.no_grad():
        cf, sf = vgg(content), vgg(style)
        m, s = calc_mean_std(sf)
        output = decoder(adain(cf, m, s))
    path = os.path.join(out, row['output'])
    os.makedirs(os.path.dirname(path), exist_ok=True)
    save_image(output.cpu(), path, padding=0)
"""

# 2. Tuned: batches, channels-last, inference mode, style statistics reused.
TUNED = NET + r"""
import sys, csv, os, torch, numpy as np
from PIL import Image
vgg_path, dec_path, content_dir, style_dir, manifest, out, threads, batch, layout = sys.argv[1:10]
torch.set_num_threads(int(threads))
vgg, decoder = load(vgg_path, dec_path)
fmt = torch.channels_last if layout == 'channels_last' else torch.contiguous_format
vgg = vgg.to(memory_format=fmt); decoder = decoder.to(memory_format=fmt)
def read(p):
    return torch.from_numpy(np.asarray(Image.open(p).convert('RGB'))).permute(2, 0, 1).float().div(255)
rows = list(csv.DictReader(open(manifest)))
cache = {}
B = int(batch)
with torch.inference_mode():
    for k in range(0, len(rows), B):
        part = rows[k:k + B]
        x = torch.stack([read(os.path.join(content_dir, r['content'])) for r in part]).contiguous(memory_format=fmt)
        for r in part:
            if r['style'] not in cache:
                s = read(os.path.join(style_dir, r['style'])).unsqueeze(0).contiguous(memory_format=fmt)
                cache[r['style']] = calc_mean_std(vgg(s))
        m = torch.cat([cache[r['style']][0] for r in part]); s = torch.cat([cache[r['style']][1] for r in part])
        y = decoder(adain(vgg(x), m, s))
        y = y.mul(255).add_(0.5).clamp_(0, 255).permute(0, 2, 3, 1).to(torch.uint8).numpy()
        for r, img in zip(part, y):
            path = os.path.join(out, r['output'])
            os.makedirs(os.path.dirname(path), exist_ok=True)
            Image.fromarray(img).save(path)
"""


def make_images(d, n_content, n_styles):
    import numpy as np
    from PIL import Image
    rng = np.random.RandomState(0)
    yy, xx = np.mgrid[0:224, 0:224]

    def img():
        a = np.stack([127 + 100 * np.sin(rng.uniform(0.01, 0.2) * xx + rng.uniform(0.01, 0.2) * yy + rng.uniform(0, 6))
                      for _ in range(3)], -1) + rng.normal(0, 20, (224, 224, 3))
        return Image.fromarray(np.clip(a, 0, 255).astype(np.uint8))

    for i in range(n_content):
        p = os.path.join(d, "content", "n%08d" % (i % 4), "img%03d.png" % i)
        os.makedirs(os.path.dirname(p), exist_ok=True)
        img().save(p)
    os.makedirs(os.path.join(d, "styles"))
    for i in range(n_styles):
        img().save(os.path.join(d, "styles", "painting%04d.png" % i))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    ap.add_argument("--images", type=int, default=24)
    ap.add_argument("--styles", type=int, default=200)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch-size", type=int, default=8)
    a = ap.parse_args()
    tool = os.path.join(a.build, "bagnet-stylize")
    d = tempfile.mkdtemp(prefix="bench_stylize_")
    try:
        subprocess.run([sys.executable, os.path.join(ROOT, "tests", "python", "make_stylize_fixtures.py"),
                        os.path.join(d, "weights")], check=True)
        vgg, dec = os.path.join(d, "weights", "adain_vgg.pth"), os.path.join(d, "weights", "adain_decoder.pth")
        make_images(d, a.images, a.styles)
        content, styles = os.path.join(d, "content"), os.path.join(d, "styles")
        tool_cmd = [tool, "-q", "--content", content, "--styles", styles, "--vgg", vgg, "--decoder", dec,
                    "--content-size", "0", "--style-size", "0", "--threads", str(a.threads),
                    "--batch-size", str(a.batch_size), "--overwrite"]
        # The pairs every contender makes: bagnet-stylize's assignment.
        subprocess.run(tool_cmd + ["-o", os.path.join(d, "out_tool")], check=True)
        manifest = os.path.join(d, "out_tool", "manifest.csv")
        n = len(list(csv.DictReader(open(manifest))))
        malloc = dict(os.environ, MALLOC_MMAP_THRESHOLD_=str(1 << 30), MALLOC_TRIM_THRESHOLD_=str(1 << 30))
        contenders = {
            "stylize-datasets as is": ([sys.executable, "-c", AS_IS, vgg, dec, content, styles, manifest,
                                        os.path.join(d, "out_asis"), str(a.threads)], None),
            "tuned PyTorch": ([sys.executable, "-c", TUNED, vgg, dec, content, styles, manifest,
                               os.path.join(d, "out_tuned"), str(a.threads), str(a.batch_size), "channels_last"],
                              malloc),
            # The same without channels-last (faster or slower depending on the CPU and oneDNN).
            "tuned PyTorch NCHW": ([sys.executable, "-c", TUNED, vgg, dec, content, styles, manifest,
                                    os.path.join(d, "out_tuned_nchw"), str(a.threads), str(a.batch_size), "nchw"],
                                   malloc),
            "bagnet-stylize": (tool_cmd + ["-o", os.path.join(d, "out_tool")], None),
        }
        times = {k: [] for k in contenders}
        for r in range(a.rounds):
            for name, (cmd, env) in contenders.items():
                t = time.perf_counter()
                subprocess.run(cmd, check=True, env=env, stdout=subprocess.DEVNULL)
                times[name].append(time.perf_counter() - t)
                print("round %d %-24s %.1f s" % (r + 1, name, times[name][-1]), file=sys.stderr)
        best = {k: n / min(v) for k, v in times.items()}
        print("images/s at 224x224 (%d images, %d styles, %d threads, batch %d; best of %d rounds, start to exit):"
              % (n, a.styles, a.threads, a.batch_size, a.rounds))
        for k, v in best.items():
            print("  %-24s %6.2f images/s  (%s s)" % (k, v, ", ".join("%.1f" % t for t in times[k])))
        print("  bagnet-stylize / tuned PyTorch: %.2fx (channels-last), %.2fx (NCHW); / stylize-datasets: %.2fx"
              % (best["bagnet-stylize"] / best["tuned PyTorch"], best["bagnet-stylize"] / best["tuned PyTorch NCHW"],
                 best["bagnet-stylize"] / best["stylize-datasets as is"]))
        rate = best["bagnet-stylize"]
        print("  estimated at this rate: SIN val (50,000) %.1f h, SIN train (1,281,167) %.0f h"
              % (50000 / rate / 3600, 1281167 / rate / 3600))
    finally:
        shutil.rmtree(d, ignore_errors=True)


if __name__ == "__main__":
    main()
