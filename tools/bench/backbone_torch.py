#!/usr/bin/python3
"""PyTorch reference for tools/bench/backbone.js: torchvision ResNet images/s, forward
(eval, no_grad) and forward+backward (train mode, loss = C5.mean()). Prints one JSON line.

Usage: /usr/bin/python3 tools/bench/backbone_torch.py '<json config>'
  config: {"depths": [18, 50], "configs": [[8, 224], [32, 64]], "reps": 2, "warmup": 1,
           "modes": ["forward", "forward+backward"]}
"""
import json
import platform
import resource
import sys
import time

import torch
import torchvision


def c5(model, x):
    x = model.maxpool(model.relu(model.bn1(model.conv1(x))))
    return model.layer4(model.layer3(model.layer2(model.layer1(x))))


def timed(fn, reps, warmup):
    for _ in range(warmup):
        fn()
    t0 = time.perf_counter()
    for _ in range(reps):
        fn()
    return (time.perf_counter() - t0) / reps


def main():
    cfg = json.loads(sys.argv[1])
    torch.manual_seed(0)
    results = []
    for depth in cfg['depths']:
        model = getattr(torchvision.models, 'resnet{}'.format(depth))()
        for batch, size in cfg['configs']:
            x = torch.randn(batch, 3, size, size)

            def forward():
                model.eval()
                with torch.no_grad():
                    c5(model, x)

            def train_step():
                model.train()
                model.zero_grad()
                c5(model, x).mean().backward()

            for mode, fn in [('forward', forward), ('forward+backward', train_step)]:
                if mode not in cfg.get('modes', [mode]):
                    continue
                sec = timed(fn, cfg['reps'], cfg.get('warmup', 1))
                results.append({'depth': depth, 'batch': batch, 'size': size, 'mode': mode, 'imagesPerSec': batch / sec})
    print(json.dumps({'torch': torch.__version__, 'torchvision': torchvision.__version__,
                      'threads': torch.get_num_threads(), 'results': results, 'python': platform.python_version(),
                      'maxRssKb': resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}))


if __name__ == '__main__':
    main()
