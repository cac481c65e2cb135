#!/usr/bin/python3
"""PyTorch reference for tools/bench/step.js: one SCRL and one BYOL optimiser step (target
forward without gradient, online forward, loss, backward, LARS, EMA) with the same network,
batch, view size and box pairs as the TF.js side. Prints one JSON line.

Usage: /usr/bin/python3 tools/bench/step_torch.py <config.json>
  config: {"batch": 32, "size": 32, "baseWidth": 8, "hidden": 512, "out": 128, "stride": 8,
           "boxes": [[b, x1, y1, x2, y2], ...]  (rows over the stacked [view1; view2] batch),
           "pairs": P, "steps": 3, "warmup": 1, "threads": 1}
"""
import json
import platform
import resource
import math
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F
from torchvision.ops import roi_align


class BasicBlock(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.down = None
        if stride != 1 or cin != cout:
            self.down = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        idt = x if self.down is None else self.down(x)
        y = F.relu(self.bn1(self.conv1(x)))
        return F.relu(self.bn2(self.conv2(y)) + idt)


class ResNet18Small(nn.Module):
    """ResNet-18 with the CIFAR-style stem (3x3 stride-1 conv, no max-pool) and base width w."""

    def __init__(self, w):
        super().__init__()
        self.conv1 = nn.Conv2d(3, w, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(w)
        layers, cin = [], w
        for i, cout in enumerate([w, 2 * w, 4 * w, 8 * w]):
            stride = 1 if i == 0 else 2
            layers.append(nn.Sequential(BasicBlock(cin, cout, stride), BasicBlock(cout, cout, 1)))
            cin = cout
        self.layers = nn.Sequential(*layers)
        self.dim = cin

    def forward(self, x):
        return self.layers(F.relu(self.bn1(self.conv1(x))))


def mlp(cin, hidden, out):
    return nn.Sequential(nn.Linear(cin, hidden), nn.BatchNorm1d(hidden), nn.ReLU(inplace=True), nn.Linear(hidden, out, bias=False))


def loss_fn(q, z):
    return 2 - 2 * (F.normalize(q, dim=-1) * F.normalize(z, dim=-1)).sum(dim=-1)


@torch.no_grad()
def lars_step(params, state, lr, wd=1e-6, m=0.9, eta=1e-3):
    for p, excluded in params:
        g = p.grad
        trust = 1.0
        if not excluded:
            g = g + wd * p
            wn, gn = torch.norm(p), torch.norm(g)
            if wn > 0 and gn > 0:
                trust = eta * wn / gn
        v = state.get(p)
        v = lr * trust * g if v is None else m * v + lr * trust * g
        state[p] = v
        p.sub_(v)


def main():
    cfg = json.load(open(sys.argv[1]))
    torch.set_num_threads(cfg.get('threads', 1))
    torch.manual_seed(0)
    B, S, W = cfg['batch'], cfg['size'], cfg['baseWidth']
    online = nn.ModuleDict({'backbone': ResNet18Small(W)})
    dim = online['backbone'].dim
    online['projector'] = mlp(dim, cfg['hidden'], cfg['out'])
    online['predictor'] = mlp(cfg['out'], cfg['hidden'], cfg['out'])
    target = nn.ModuleDict({'backbone': ResNet18Small(W), 'projector': mlp(dim, cfg['hidden'], cfg['out'])})
    online.train()
    target.train()
    for p in target.parameters():
        p.requires_grad_(False)
    params = [(p, p.dim() == 1) for p in online.parameters()]  # 1-D: biases and BN, excluded
    state = {}
    x = torch.randn(2 * B, 3, S, S)
    rois = torch.tensor(cfg['boxes'], dtype=torch.float32)
    P = cfg['pairs']

    def embed(backbone, method):
        c5 = backbone(x)
        if method == 'byol':
            return c5.mean(dim=(2, 3))
        return roi_align(c5, rois, output_size=1, spatial_scale=1.0 / cfg['stride'], sampling_ratio=-1, aligned=False).flatten(1)

    def step(method):
        R = P if method == 'scrl' else B
        with torch.no_grad():
            z = target['projector'](embed(target['backbone'], method))
        q = online['predictor'](online['projector'](embed(online['backbone'], method)))
        loss = (loss_fn(q[:R], z[R:]) + loss_fn(q[R:], z[:R])).mean()
        online.zero_grad(set_to_none=True)
        loss.backward()
        lars_step(params, state, 0.05)
        with torch.no_grad():
            for name in ('backbone', 'projector'):
                for t, o in zip(target[name].parameters(), online[name].parameters()):
                    t.mul_(0.99).add_(o, alpha=0.01)
        return float(loss)

    results = {}
    for method in ('scrl', 'byol'):
        for _ in range(cfg.get('warmup', 1)):
            step(method)
        t0 = time.perf_counter()
        for _ in range(cfg['steps']):
            step(method)
        sec = (time.perf_counter() - t0) / cfg['steps']
        results[method] = {'secondsPerStep': sec, 'imagesPerSecond': B / sec}
    print(json.dumps({'torch': torch.__version__, 'threads': torch.get_num_threads(), 'results': results,
                      'python': platform.python_version(), 'maxRssKb': resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}))


if __name__ == '__main__':
    main()
