"""PyTorch side of tools/bench/augment.js: SCRL's two-view pipeline with torchvision transforms
on PIL images (as the reference does it) plus box-pair sampling, single process, 1 thread.

Prints one JSON line: {"decode": {...}, "predecoded": {...}} with images/s and CPU s/image.
With --serve it instead answers lines "<decode|predecoded> <n>" on stdin with one JSON line
each, so that tools/bench/augment.js can interleave short runs of both sides.
"""
import sys
import argparse
import io
import json
import math
import os
import platform
import random
import resource
import time

import torch
import torchvision.transforms as T
import torchvision.transforms.functional as F
from PIL import Image, ImageOps

S = 224
MEAN, STD = [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]
BICUBIC = T.InterpolationMode.BICUBIC


class ResizeBlur:
    """The reference's default blur: shrink by 1.1/1.2/1.5 (bicubic) and resize back."""

    def __call__(self, img):
        f = random.choice([1.1, 1.2, 1.5])
        w, h = img.size
        img = F.resize(img, [int(h // f), int(w // f)], interpolation=BICUBIC)
        return F.resize(img, [h, w], interpolation=BICUBIC)


class Solarize:
    def __call__(self, img):
        return ImageOps.solarize(img, 128)


def make_view(p_blur, p_solarize):
    tail = T.Compose([
        T.RandomApply([T.ColorJitter(0.4, 0.4, 0.2, 0.1)], p=0.8),
        T.RandomGrayscale(p=0.2),
        T.RandomApply([ResizeBlur()], p=p_blur),
        T.RandomApply([Solarize()], p=p_solarize),
        T.ToTensor(),
        T.Normalize(MEAN, STD),
    ])

    def view(img):
        i, j, h, w = T.RandomResizedCrop.get_params(img, [0.2, 1.0], [3 / 4, 4 / 3])
        img = F.resized_crop(img, i, j, h, w, [S, S], BICUBIC)
        flipped = bool(torch.rand(1) < 0.5)
        if flipped:
            img = F.hflip(img)
        return tail(img), (i, j, h, w, flipped)

    return view


def iou(a, c):
    iw = min(a[2], c[2]) - max(a[0], c[0]); ih = min(a[3], c[3]) - max(a[1], c[1])
    if iw <= 0 or ih <= 0:
        return 0.0
    inter = iw * ih
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (c[2] - c[0]) * (c[3] - c[1]) - inter)


def box_pairs(g1, g2, min_size=32, K=10, thr=0.5, tries=50):
    """docs/scrl-reference.md section 2 (geometry tuples: top, left, height, width, flipped)."""
    l = max(g1[1], g2[1]); r = min(g1[1] + g1[3], g2[1] + g2[3])
    t = max(g1[0], g2[0]); b = min(g1[0] + g1[2], g2[0] + g2[2])
    if l >= r or t >= b:
        return []
    s1 = (S / g1[3], S / g1[2]); s2 = (S / g2[3], S / g2[2])
    sx, sy = min(s1[0], s2[0]), min(s1[1], s2[1])
    W, H = round((r - l) * sx), round((b - t) * sy)
    if W <= min_size or H <= min_size:
        return []

    def to_view(bx, by, bw, bh, g, s):
        x1 = bx / sx * s[0] + (l - g[1]) * s[0]; x2 = x1 + bw / sx * s[0]
        y1 = by / sy * s[1] + (t - g[0]) * s[1]; y2 = y1 + bh / sy * s[1]
        if g[4]:
            x1, x2 = S - x2, S - x1
        return [x1, y1, x2, y2]

    acc, out = [], []
    for _ in range(K):
        for _t in range(tries):
            dw = random.randint(1, W // min_size); dh = random.randint(1, H // min_size)
            gw, gh = W / dw, H / dh
            gx = random.randint(0, dw - 1); gy = random.randint(0, dh - 1)
            bw = random.randint(min_size, math.floor(gw)); bh = random.randint(min_size, math.floor(gh))
            bx = random.randint(0, math.floor(gw - bw)) + math.floor(gx * gw)
            by = random.randint(0, math.floor(gh - bh)) + math.floor(gy * gh)
            b1 = to_view(bx, by, bw, bh, g1, s1); b2 = to_view(bx, by, bw, bh, g2, s2)
            if not acc or all(iou(b1, a) < thr for a in acc):
                break
        acc.append(b1)
        clip = lambda q: [max(0, q[0]), max(0, q[1]), min(S, q[2]), min(S, q[3])]
        out.append((clip(b1), clip(b2)))
    return out


class Runner:
    def __init__(self, blobs):
        self.view1, self.view2 = make_view(1.0, 0.0), make_view(0.1, 0.2)
        self.blobs = blobs
        self.pre = [Image.open(io.BytesIO(b)).convert('RGB') for b in blobs]
        for im in self.pre:
            im.load()
        self.k = 0

    def run(self, n, decode):
        pairs = 0
        t0, c0 = time.perf_counter(), time.process_time()
        for _ in range(n):
            k = self.k
            self.k += 1
            if decode:
                img = Image.open(io.BytesIO(self.blobs[k % len(self.blobs)])).convert('RGB')
            else:
                img = self.pre[k % len(self.pre)]
            x1, g1 = self.view1(img)
            x2, g2 = self.view2(img)
            pairs += len(box_pairs(g1, g2))
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
        return {'images': n, 'wall_s': wall, 'cpu_s': cpu, 'images_per_s': n / wall, 'cpu_s_per_image': cpu / n,
                'pairs': pairs,
                'maxRssKb': resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--dir', required=True)
    ap.add_argument('--images', type=int, default=200)
    ap.add_argument('--warmup', type=int, default=16)
    ap.add_argument('--serve', action='store_true')
    args = ap.parse_args()
    torch.set_num_threads(1)
    random.seed(0)
    torch.manual_seed(0)
    files = sorted(f for f in os.listdir(args.dir) if f.endswith('.jpg'))
    blobs = [open(os.path.join(args.dir, f), 'rb').read() for f in files]
    runner = Runner(blobs)
    runner.run(args.warmup, True)
    info = {'torch': torch.__version__, 'torchvision': __import__('torchvision').__version__, 'pil': Image.__version__,
            'python': platform.python_version()}
    if args.serve:
        print(json.dumps({'ready': True, **info}), flush=True)
        for line in sys.stdin:
            mode, n = line.split()
            print(json.dumps(runner.run(int(n), mode == 'decode')), flush=True)
        return
    out = {'decode': runner.run(args.images, True), 'predecoded': runner.run(args.images, False), **info}
    print(json.dumps(out))


if __name__ == '__main__':
    main()
