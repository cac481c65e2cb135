#!/usr/bin/python3
"""PyTorch reference of a `cpu`-preset pretrain run (BYOL or SCRL), on the exact batches our
trainer used (dumped by tools/experiments/dump-views.js). Same network as tools/bench/step_torch.py
(ResNet-18, small-input stem, base width 8; heads 64 -> 512 -> 128, predictor 128 -> 512 -> 128),
same loss, LARS and EMA, with the preset's schedules: lr = peak * (k + 1) / 30 for k < 30, then
cosine to 0 at k = 300 (peak 0.45 * 32 / 256); EMA m = 1 - 0.03 * (cos(pi k / 300) + 1) / 2.
The online backbone uses torchvision's ResNet init (kaiming_normal fan_out, BN 1 / 0); heads use
nn.Linear's default; the target is initialised independently (seed + 1000).

Usage: /usr/bin/python3 tools/experiments/torch_reference.py --method byol|scrl
           [--batches DIR] [--out DIR] [--steps 300] [--seed 0] [--every 50] [--threads 1]
           [--width 8] [--batch 32] [--ema 0.97] [--warmup 30] [--total-steps N]
The regime runs' cross-check (experiments/regime/README.md): --width 16 --batch 64 --ema 0.99
--warmup 100 --total-steps 2000 --steps 500 on batches dumped with dump-views.js --batch 64.
Writes OUT/metrics.jsonl (loss per step) and OUT/ckpt-NNNNNNNN.safetensors (online backbone,
torchvision names, steps 0, 50, ..., 300).
"""
import argparse
import json
import math
import os
import struct
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from torchvision.ops import roi_align

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'bench'))
from step_torch import lars_step, loss_fn, mlp  # noqa: E402  (the benchmark's step: same heads, loss, LARS)


class BasicBlock(nn.Module):
    """torchvision's BasicBlock (same attribute names, so state_dict keys match)."""

    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.downsample = None
        if stride != 1 or cin != cout:
            self.downsample = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        idt = x if self.downsample is None else self.downsample(x)
        y = F.relu(self.bn1(self.conv1(x)))
        return F.relu(self.bn2(self.conv2(y)) + idt)


class ResNet18Small(nn.Module):
    """ResNet-18, CIFAR-style stem (3x3 stride-1 conv1, no max-pool), base width w; torchvision names."""

    def __init__(self, w):
        super().__init__()
        self.conv1 = nn.Conv2d(3, w, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(w)
        cin = w
        for i, cout in enumerate([w, 2 * w, 4 * w, 8 * w]):
            stride = 1 if i == 0 else 2
            setattr(self, f'layer{i + 1}', nn.Sequential(BasicBlock(cin, cout, stride), BasicBlock(cout, cout, 1)))
            cin = cout
        self.dim = cin
        # torchvision.models.ResNet's init (zero_init_residual=False)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode='fan_out', nonlinearity='relu')
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.constant_(m.weight, 1)
                nn.init.constant_(m.bias, 0)

    def forward(self, x):
        x = F.relu(self.bn1(self.conv1(x)))
        return self.layer4(self.layer3(self.layer2(self.layer1(x))))


def lr_at(k, peak, warmup, total):
    if k < warmup:
        return peak * (k + 1) / warmup
    if k >= total:
        return 0.0
    return peak * (1 + math.cos(math.pi * (k - warmup) / (total - warmup))) / 2


def momentum_at(k, base, total):
    k = min(k, total)
    return 1 - (1 - base) * (math.cos(math.pi * k / total) + 1) / 2


def read_batch(path):
    buf = open(path, 'rb').read()
    B, S, P, _ = struct.unpack_from('<4i', buf, 0)
    off = 16
    n = B * S * S * 3
    v1 = np.frombuffer(buf, '<f4', n, off); off += 4 * n
    v2 = np.frombuffer(buf, '<f4', n, off); off += 4 * n
    boxes = np.frombuffer(buf, '<f4', 8 * P, off).reshape(2 * P, 4); off += 32 * P
    idx = np.frombuffer(buf, '<i4', 2 * P, off)
    x = torch.from_numpy(np.concatenate([v1, v2]).reshape(2 * B, S, S, 3)).permute(0, 3, 1, 2).contiguous()
    rois = torch.cat([torch.from_numpy(idx.astype(np.float32))[:, None], torch.from_numpy(boxes.copy())], 1)
    return x, rois, B, P


def write_safetensors(path, state_dict):
    header, blobs, off = {}, [], 0
    for name, t in state_dict.items():
        t = t.detach().cpu().contiguous()
        if t.dtype == torch.int64:
            dtype, data = 'I64', t.numpy().astype('<i8').tobytes()
        else:
            dtype, data = 'F32', t.float().numpy().astype('<f4').tobytes()
        header[name] = {'dtype': dtype, 'shape': list(t.shape), 'data_offsets': [off, off + len(data)]}
        blobs.append(data)
        off += len(data)
    h = json.dumps(header, separators=(',', ':')).encode()
    h += b' ' * ((8 - len(h) % 8) % 8)
    with open(path, 'wb') as f:
        f.write(struct.pack('<Q', len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)


REPO = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..'))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--method', choices=['byol', 'scrl'], required=True)
    ap.add_argument('--batches', default=os.path.join(REPO, 'runs', 'results', 'torch-ref', 'batches'))
    ap.add_argument('--out', default=None)
    ap.add_argument('--steps', type=int, default=300)
    ap.add_argument('--warmup', type=int, default=30)
    ap.add_argument('--total-steps', type=int, default=0,
                    help='length of the lr / EMA schedules (default: --steps); a longer run stopped at --steps')
    ap.add_argument('--seed', type=int, default=0)
    ap.add_argument('--every', type=int, default=50)
    ap.add_argument('--threads', type=int, default=1)
    ap.add_argument('--width', type=int, default=8)
    ap.add_argument('--hidden', type=int, default=512)
    ap.add_argument('--dim', type=int, default=128)
    ap.add_argument('--base-lr', type=float, default=0.45)
    ap.add_argument('--batch', type=int, default=32)
    ap.add_argument('--wd', type=float, default=1e-6)
    ap.add_argument('--ema', type=float, default=0.97)
    args = ap.parse_args()
    total = args.total_steps or args.steps
    out = args.out or os.path.join(REPO, 'runs', 'results', 'torch-ref', f'{args.method}-s{args.seed}')
    os.makedirs(out, exist_ok=True)
    torch.set_num_threads(args.threads)
    peak = args.base_lr * args.batch / 256
    stride = 8  # C5 stride with the small-input stem

    torch.manual_seed(args.seed)
    online = nn.ModuleDict({'backbone': ResNet18Small(args.width)})
    dim = online['backbone'].dim
    online['projector'] = mlp(dim, args.hidden, args.dim)
    online['predictor'] = mlp(args.dim, args.hidden, args.dim)
    torch.manual_seed(args.seed + 1000)
    target = nn.ModuleDict({'backbone': ResNet18Small(args.width), 'projector': mlp(dim, args.hidden, args.dim)})
    online.train()
    target.train()
    for p in target.parameters():
        p.requires_grad_(False)
    params = [(p, p.dim() == 1) for p in online.parameters()]  # 1-D: biases and BN, excluded by role
    state = {}

    def embed(backbone, x, rois):
        c5 = backbone(x)
        if args.method == 'byol':
            return c5.mean(dim=(2, 3))
        return roi_align(c5, rois, output_size=1, spatial_scale=1.0 / stride, sampling_ratio=-1, aligned=False).flatten(1)

    def save(step):
        write_safetensors(os.path.join(out, f'ckpt-{step:08d}.safetensors'), online['backbone'].state_dict())

    metrics = open(os.path.join(out, 'metrics.jsonl'), 'w')
    save(0)
    t0 = time.perf_counter()
    for k in range(args.steps):
        x, rois, B, P = read_batch(os.path.join(args.batches, f'batch-{k:04d}.bin'))
        lr = lr_at(k, peak, args.warmup, total)
        m = momentum_at(k, args.ema, total)
        R = P if args.method == 'scrl' else B
        if R == 0:
            rec = {'step': k + 1, 'loss': 0.0, 'lr': lr, 'momentum': m, 'boxPairs': 0, 'skipped': True}
        else:
            with torch.no_grad():
                z = target['projector'](embed(target['backbone'], x, rois))
            q = online['predictor'](online['projector'](embed(online['backbone'], x, rois)))
            loss = (loss_fn(q[:R], z[R:]) + loss_fn(q[R:], z[:R])).mean()
            online.zero_grad(set_to_none=True)
            loss.backward()
            lars_step(params, state, lr, wd=args.wd)
            with torch.no_grad():
                for name in ('backbone', 'projector'):
                    for t, o in zip(target[name].parameters(), online[name].parameters()):
                        t.mul_(m).add_(o, alpha=1 - m)
            rec = {'step': k + 1, 'loss': float(loss), 'lr': lr, 'momentum': m, 'boxPairs': P if args.method == 'scrl' else 0}
        metrics.write(json.dumps(rec) + '\n')
        metrics.flush()
        if (k + 1) % args.every == 0 or k + 1 == args.steps:
            save(k + 1)
            print(f'[torch-ref] {args.method} step {k + 1} loss {rec["loss"]:.4f} {time.perf_counter() - t0:.1f} s', flush=True)
    metrics.close()
    print(json.dumps({'method': args.method, 'steps': args.steps, 'seconds': round(time.perf_counter() - t0, 1), 'out': out}))


if __name__ == '__main__':
    main()
