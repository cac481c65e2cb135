#!/usr/bin/python3
"""PyTorch side of tools/bench/detection-step.js: one FCOS fine-tuning step (forward in training
mode, torchvision's FCOS targets and losses, backward, global-norm clip 10, SGD momentum 0.9 with
weight decay on conv weights), timed on the same images and boxes as ours.

The model is tools/experiments/fcos_torch.py's build_fcos (torchvision 0.14's FCOS around the
small-input ResNet-18 and an FPN on C3-C5, GroupNorm head), the network `scrl eval detection`
reproduces. Usage: detection_step_torch.py SPEC.json, where SPEC has data (a COCO folder),
indices, width, fpn, headConvs, steps, warmup, threads. Prints one JSON line.
"""
import json
import os
import resource
import sys
import time

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, '..', 'experiments'))
from fcos_torch import build_fcos, load_split  # noqa: E402


def main():
    spec = json.load(open(sys.argv[1]))
    torch.set_num_threads(spec['threads'])
    torch.manual_seed(0)
    train, _, cats = load_split(spec['data'], 0.0001, 0)
    batch = [train[i] for i in spec['indices']]
    side = batch[0]['image'].shape[1]
    results = {}
    for width in spec['widths']:
        model, _ = build_fcos(side, len(cats), width, spec['fpn'], spec['headConvs'])
        decay = [q for n, q in model.named_parameters() if q.ndim == 4 and n.endswith('weight')]
        no_decay = [q for n, q in model.named_parameters() if not (q.ndim == 4 and n.endswith('weight'))]
        opt = torch.optim.SGD([{'params': decay, 'weight_decay': 1e-4}, {'params': no_decay, 'weight_decay': 0.0}],
                              lr=0.001, momentum=0.9)
        model.train()
        images = [s['image'] for s in batch]
        targets = [{'boxes': s['boxes'], 'labels': s['labels']} for s in batch]

        def step():
            losses = model(images, targets)
            loss = sum(losses.values())
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 10.0)
            opt.step()
            return loss.item()

        for _ in range(spec['warmup']):
            step()
        t0 = time.perf_counter()
        for _ in range(spec['steps']):
            step()
        sec = (time.perf_counter() - t0) / spec['steps']
        results[str(width)] = {'secondsPerStep': sec, 'imagesPerSecond': len(batch) / sec,
                               'parameters': sum(q.numel() for q in model.parameters())}
    print(json.dumps({'torch': torch.__version__, 'threads': torch.get_num_threads(), 'python': sys.version.split()[0],
                      'maxRssKb': resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, 'results': results}))


if __name__ == '__main__':
    main()
