#!/usr/bin/python3
"""PyTorch oracle for `scrl eval detection`: torchvision 0.14's FCOS trained on exactly our scenes,
with the same split and schedule, scored by our own COCO evaluator.

Model: torchvision.models.detection.FCOS around a small-input ResNet-18 (3x3 stride-1 stem, no
max-pool, base width --width; tools/experiments/torch_reference.py's ResNet18Small, torchvision
init) and torchvision.ops.FeaturePyramidNetwork on C3-C5 (--fpn channels, no extra levels), so
the levels have strides 2, 4, 8 at 64 px; anchor sizes = strides (one per location);
FCOSHead with --head-convs GroupNorm(32) conv layers. torchvision's own label assignment
(centre sampling radius 1.5, scale ranges 4 and 8 anchor sizes), losses and post-processing
(score = sqrt(p_class * p_centreness) > --score-thresh, top 1000 per level, class-aware NMS 0.6,
100 per image). Images stay 64 px (min_size = max_size = the image side).

Data: a COCO folder written by `scrl data generate` / the CLI's built-in scenes cache
(`.scrl-cache/scenes-1000x64-seed0`), images in annotations.json order; the last --val fraction
(rounded, at least one) is the test set, as `scrl eval detection` splits it.

Ablations: --no-gn (no GroupNorm in the head), --center-sampling 0 (every location inside a box,
the original FCOS rule), --lr-schedule step (10x drops at 2/3 and 8/9, the old default).

Schedule (as @scrl/eval's fineTuneDetection): SGD momentum 0.9, weight decay --wd on conv weights
only (not biases or norm parameters), gradient global-norm clip --clip (0: off), lr = --lr times a
linear warmup factor from --warmup-factor to 1 over --warmup steps, times cosine decay
0.5 * (1 + cos(pi * k / steps)); batches of --batch images drawn epoch by epoch in a shuffled
order, each flipped horizontally with probability 0.5.

Usage: /usr/bin/python3 tools/experiments/fcos_torch.py --data DIR --out DIR [--steps 1500]
          [--batch 16] [--lr 0.01] [--warmup 100] [--width 16] [--fpn 32] [--head-convs 2]
          [--seed 0] [--threads 1] [--val 0.2] [--train-limit N]
          [--init BACKBONE.safetensors [--rescale-conv-norms]] [--detector-init WEIGHTS.json]
          [--freeze-backbone] [--sweep-val F]

--freeze-backbone trains only the FPN and the head: the ResNet's weights (convolutions and
BatchNorm scale/shift) stay as initialised, BatchNorm keeps normalising with batch statistics
(training mode, as in full fine-tuning), so a random backbone is not handicapped by stale
running statistics. --sweep-val F holds out the last F of the (possibly --train-limit'ed)
training images as a validation split and scores on it instead of the test split: the test
images are never seen, so a learning rate chosen on it is fair (tools/experiments/oracle_detection.py).
Writes OUT/detections.json (COCO results on the test images), OUT/metrics.jsonl (losses per
step), OUT/summary.json (config, timing, and the COCO stats from
tools/experiments/score-detections.js when node is available).
"""
import argparse
import json
import math
import os
import random
import subprocess
import sys
import time
from collections import OrderedDict

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from PIL import Image
from torchvision.models.detection import FCOS
from torchvision.models.detection.anchor_utils import AnchorGenerator
from torchvision.models.detection.fcos import FCOSHead
from torchvision.ops import FeaturePyramidNetwork

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from torch_reference import ResNet18Small  # noqa: E402  (same network as our cpu-preset reference)


class SmallResNetFpn(nn.Module):
    """C3-C5 of the small-input ResNet-18 into an FPN; what FCOS expects of a backbone."""

    def __init__(self, width, channels):
        super().__init__()
        self.body = ResNet18Small(width)
        self.fpn = FeaturePyramidNetwork([2 * width, 4 * width, 8 * width], channels)
        self.out_channels = channels

    def forward(self, x):
        b = self.body
        x = F.relu(b.bn1(b.conv1(x)))
        c2 = b.layer1(x)
        c3 = b.layer2(c2)
        c4 = b.layer3(c3)
        c5 = b.layer4(c4)
        return self.fpn(OrderedDict([('p3', c3), ('p4', c4), ('p5', c5)]))


def read_torchvision_safetensors(path):
    """A torchvision-named .safetensors file (`scrl export`, tools/experiments/supervised-backbone.js):
    {name: tensor}, F32 and I64 entries (BatchNorm's num_batches_tracked)."""
    import struct
    buf = open(path, 'rb').read()
    n = struct.unpack_from('<Q', buf, 0)[0]
    header = json.loads(buf[8:8 + n].decode('utf8'))
    header.pop('__metadata__', None)
    out = {}
    for name, e in header.items():
        dtype = {'F32': np.float32, 'I64': np.int64}.get(e['dtype'])
        if dtype is None:
            raise ValueError(f'{path}: tensor {name} has dtype {e["dtype"]}; expected F32 or I64')
        b, t = e['data_offsets']
        out[name] = torch.from_numpy(np.frombuffer(buf[8 + n + b:8 + n + t], dtype=dtype).copy()).reshape(e['shape'])
    return out


def load_backbone(body, path, rescale_conv_norms=False, seed=0):
    """Loads a torchvision-named ResNet into `body` (ResNet18Small; an `fc` entry is ignored). With
    rescale_conv_norms, each convolution weight is then scaled to the Frobenius norm of the same
    convolution in a fresh torchvision init (seed `seed`): function-preserving under BatchNorm in
    training mode, it undoes the weight-norm growth of pretraining (as @scrl/eval's rescaleConvNorms)."""
    state = {k: v for k, v in read_torchvision_safetensors(path).items() if not k.startswith('fc.')}
    missing, unexpected = body.load_state_dict(state, strict=False)
    if missing or unexpected:
        raise ValueError(f'{path}: missing {missing[:5]}, unexpected {unexpected[:5]} (a small-input ResNet-18 of this width?)')
    if rescale_conv_norms:
        torch.manual_seed(seed)
        fresh = ResNet18Small(body.conv1.out_channels)
        fresh_state = fresh.state_dict()
        with torch.no_grad():
            for name, q in body.named_parameters():
                if q.ndim == 4:
                    q.mul_(fresh_state[name].norm() / q.norm())


def build_fcos(side, num_classes, width, fpn, head_convs, score_thresh=0.05, center_sampling=1.5, no_gn=False):
    """torchvision's FCOS around SmallResNetFpn for side x side images; returns (model, strides)."""
    backbone = SmallResNetFpn(width, fpn)
    with torch.no_grad():
        strides = [side // f.shape[-1] for f in backbone(torch.zeros(1, 3, side, side)).values()]
    anchors = AnchorGenerator(tuple((s,) for s in strides), ((1.0,),) * len(strides))
    head = FCOSHead(fpn, 1, num_classes, num_convs=head_convs)
    if no_gn:
        for tower in (head.classification_head.conv, head.regression_head.conv):
            for i, m in enumerate(tower):
                if isinstance(m, nn.GroupNorm):
                    tower[i] = nn.Identity()
    model = FCOS(backbone, num_classes, min_size=side, max_size=side, anchor_generator=anchors, head=head,
                 score_thresh=score_thresh, center_sampling_radius=center_sampling if center_sampling > 0 else math.inf)
    return model, strides


def load_split(data, val_fraction, train_limit):
    coco = json.load(open(os.path.join(data, 'annotations.json')))
    cats = [c['id'] for c in coco['categories']]
    cat_index = {c: i for i, c in enumerate(cats)}
    by_image = {}
    for a in coco['annotations']:
        by_image.setdefault(a['image_id'], []).append(a)
    samples = []
    for im in coco['images']:
        arr = np.asarray(Image.open(os.path.join(data, im['file_name'])).convert('RGB'), dtype=np.float32) / 255.0
        boxes, labels = [], []
        for a in by_image.get(im['id'], []):
            if a.get('iscrowd', 0):
                continue
            x, y, w, h = a['bbox']
            boxes.append([x, y, x + w, y + h])
            labels.append(cat_index[a['category_id']])
        samples.append({
            'id': im['id'],
            'image': torch.from_numpy(arr).permute(2, 0, 1).contiguous(),
            'boxes': torch.tensor(boxes, dtype=torch.float32).reshape(-1, 4),
            'labels': torch.tensor(labels, dtype=torch.int64),
        })
    n_val = max(1, round(len(samples) * val_fraction))
    train, val = samples[: len(samples) - n_val], samples[len(samples) - n_val:]
    if train_limit:
        train = train[:train_limit]
    return train, val, cats


def lr_at(k, a):
    f = 1.0
    if k < a.warmup:
        alpha = k / a.warmup
        f = a.warmup_factor * (1 - alpha) + alpha
    if a.lr_schedule == 'step':
        return a.lr * f * 0.1 ** sum(k >= math.floor(d * a.steps) for d in (2 / 3, 8 / 9))
    return a.lr * f * 0.5 * (1 + math.cos(math.pi * k / a.steps))


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--data', required=True)
    p.add_argument('--out', required=True)
    p.add_argument('--val', type=float, default=0.2)
    p.add_argument('--train-limit', type=int, default=0)
    p.add_argument('--steps', type=int, default=1500)
    p.add_argument('--batch', type=int, default=16)
    p.add_argument('--lr', type=float, default=0.01)
    p.add_argument('--warmup', type=int, default=100)
    p.add_argument('--warmup-factor', type=float, default=0.001)
    p.add_argument('--wd', type=float, default=1e-4)
    p.add_argument('--clip', type=float, default=10.0)
    p.add_argument('--width', type=int, default=16)
    p.add_argument('--fpn', type=int, default=32)
    p.add_argument('--head-convs', type=int, default=2)
    p.add_argument('--no-gn', action='store_true', help='drop the GroupNorm of the head towers (ablation)')
    p.add_argument('--center-sampling', type=float, default=1.5, help='centre sampling radius in strides; 0 = off (ablation)')
    p.add_argument('--lr-schedule', choices=['cosine', 'step'], default='cosine',
                   help="step: 10x drops at 2/3 and 8/9 of the steps (the old default of scrl eval detection)")
    p.add_argument('--score-thresh', type=float, default=0.05)
    p.add_argument('--seed', type=int, default=0)
    p.add_argument('--threads', type=int, default=1)
    p.add_argument('--init', default=None, help='torchvision-named .safetensors backbone (default: random init)')
    p.add_argument('--rescale-conv-norms', action='store_true', help="scale each conv of --init to a fresh init's norm")
    p.add_argument('--freeze-backbone', action='store_true',
                   help='train only FPN + head; the ResNet keeps its weights (BatchNorm on batch statistics)')
    p.add_argument('--sweep-val', type=float, default=0.0,
                   help='score on the last F of the training images instead of the test split (lr selection)')
    p.add_argument('--detector-init', default=None,
                   help='JSON of every detector weight in torchvision names ({name: {shape, data}}), e.g. our own '
                        'initialisation from `node tools/experiments/fcos-parity.js --write-init FILE`')
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    rng = random.Random(a.seed + 1)
    os.makedirs(a.out, exist_ok=True)

    train, val, cats = load_split(a.data, a.val, a.train_limit)
    if a.sweep_val > 0:
        n_hold = max(1, round(len(train) * a.sweep_val))
        if n_hold >= len(train):
            raise ValueError(f'--sweep-val {a.sweep_val} leaves no training images of {len(train)}')
        train, val = train[: len(train) - n_hold], train[len(train) - n_hold:]
    side = train[0]['image'].shape[1]
    model, strides = build_fcos(side, len(cats), a.width, a.fpn, a.head_convs, a.score_thresh,
                                a.center_sampling, no_gn=a.no_gn)
    if a.init:
        load_backbone(model.backbone.body, a.init, a.rescale_conv_norms, a.seed)
    if a.detector_init:
        sd = model.state_dict()
        for name, v in json.load(open(a.detector_init)).items():
            if name not in sd:
                raise ValueError(f'{a.detector_init}: {name} is not a weight of this FCOS (width {a.width}?)')
            sd[name] = torch.tensor(v['data'], dtype=sd[name].dtype).reshape(v['shape'])
        model.load_state_dict(sd)
    if a.freeze_backbone:
        for q in model.backbone.body.parameters():
            q.requires_grad_(False)
    trainable = [(n, q) for n, q in model.named_parameters() if q.requires_grad]
    decay = [q for n, q in trainable if q.ndim == 4 and n.endswith('weight')]
    no_decay = [q for n, q in trainable if not (q.ndim == 4 and n.endswith('weight'))]
    opt = torch.optim.SGD([{'params': decay, 'weight_decay': a.wd}, {'params': no_decay, 'weight_decay': 0.0}],
                          lr=a.lr, momentum=0.9)
    print(f'[fcos_torch] {len(train)} train / {len(val)} val images of {side} px, strides {strides}, '
          f'{sum(q.numel() for q in model.parameters())} parameters', flush=True)

    order, cursor = [], 0
    log = open(os.path.join(a.out, 'metrics.jsonl'), 'w')
    model.train()
    t0 = time.time()
    for k in range(a.steps):
        images, targets = [], []
        for _ in range(a.batch):
            if cursor >= len(order):
                order = list(range(len(train)))
                rng.shuffle(order)
                cursor = 0
            s = train[order[cursor]]
            cursor += 1
            im, boxes = s['image'], s['boxes']
            if rng.random() < 0.5:
                im = im.flip(-1)
                boxes = torch.stack([side - boxes[:, 2], boxes[:, 1], side - boxes[:, 0], boxes[:, 3]], 1)
            images.append(im)
            targets.append({'boxes': boxes, 'labels': s['labels']})
        lr = lr_at(k, a)
        for g in opt.param_groups:
            g['lr'] = lr
        losses = model(images, targets)
        loss = sum(losses.values())
        opt.zero_grad()
        loss.backward()
        if a.clip > 0:
            torch.nn.utils.clip_grad_norm_([q for _, q in trainable], a.clip)
        opt.step()
        rec = {'step': k + 1, 'lr': lr, 'loss': loss.item(), **{n: v.item() for n, v in losses.items()},
               'elapsed_s': time.time() - t0}
        log.write(json.dumps(rec) + '\n')
        if (k + 1) % 50 == 0 or k == 0:
            log.flush()
            print(f'[fcos_torch] step {k + 1}/{a.steps} loss {rec["loss"]:.4f} lr {lr:.5f} '
                  f'{1000 * rec["elapsed_s"] / (k + 1):.0f} ms/step', flush=True)
    train_s = time.time() - t0

    model.eval()
    dets = []
    with torch.no_grad():
        for i in range(0, len(val), 32):
            chunk = val[i:i + 32]
            for s, o in zip(chunk, model([s['image'] for s in chunk])):
                for (x1, y1, x2, y2), sc, lab in zip(o['boxes'].tolist(), o['scores'].tolist(), o['labels'].tolist()):
                    dets.append({'image_id': s['id'], 'category_id': cats[lab], 'bbox': [x1, y1, x2 - x1, y2 - y1],
                                 'score': sc})
    det_file = os.path.join(a.out, 'detections.json')
    json.dump(dets, open(det_file, 'w'))
    summary = {'config': vars(a), 'strides': strides, 'train': len(train), 'val': len(val),
               'train_s': train_s, 'ms_per_step': 1000 * train_s / a.steps, 'detections': len(dets)}
    score_cmd = ['node', os.path.join(HERE, 'score-detections.js'), '--data', a.data, '--val', str(a.val),
                 '--detections', det_file]
    if a.sweep_val > 0:
        ids_file = os.path.join(a.out, 'image-ids.json')
        json.dump([s['id'] for s in val], open(ids_file, 'w'))
        score_cmd += ['--image-ids', ids_file]
    try:
        out = subprocess.run(score_cmd, check=True, capture_output=True, text=True).stdout
        summary['coco'] = json.loads(out)
        print(f'[fcos_torch] AP {100 * summary["coco"]["AP"]:.1f} AP50 {100 * summary["coco"]["AP50"]:.1f} '
              f'AP75 {100 * summary["coco"]["AP75"]:.1f} ({train_s:.0f} s training)', flush=True)
    except (OSError, subprocess.CalledProcessError) as e:
        print(f'[fcos_torch] scoring with node failed ({e}); score {det_file} with tools/experiments/score-detections.js',
              flush=True)
    json.dump(summary, open(os.path.join(a.out, 'summary.json'), 'w'), indent=2)


if __name__ == '__main__':
    main()
