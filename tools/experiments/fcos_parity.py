#!/usr/bin/python3
"""PyTorch side of tools/experiments/fcos-parity.js: loads our detector's weights into
torchvision's FCOS (fcos_torch.build_fcos), compares the first step's loss terms and gradients,
then repeats the fine-tuning steps with torch.optim.SGD (momentum 0.9, weight decay 1e-4 on conv
weights, global-norm clip 10) and compares every step's loss and the final weights."""
import json
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fcos_torch import build_fcos, load_split  # noqa: E402


def main():
    torch.set_num_threads(1)
    d = json.load(open(sys.argv[1]))
    train, val, cats = load_split(d['data'], 0.0001, 0)
    train = train + val  # every image of the folder, in order (load_split holds at least one out)
    model, _ = build_fcos(64, len(cats), d['width'], 32, 2)
    sd = model.state_dict()
    for name, v in d['weights'].items():
        sd[name] = torch.tensor(v['data'], dtype=torch.float32).reshape(v['shape'])
    model.load_state_dict(sd)
    model.train()
    images = [s['image'] for s in train]
    targets = [{'boxes': s['boxes'], 'labels': s['labels']} for s in train]

    losses = model(images, targets)
    terms = [losses[k].item() for k in ('classification', 'bbox_regression', 'bbox_ctrness')]
    sum(losses.values()).backward()
    print('first step loss terms (cls, box, ctr): ours', [round(t, 7) for t in d['terms']], 'torch', [round(t, 7) for t in terms])
    rows = []
    for n, p in model.named_parameters():
        if n not in d['grads'] or p.grad.norm() < 1e-6:  # conv biases before GroupNorm: zero gradient up to rounding
            continue
        ours = torch.tensor(d['grads'][n]['data']).reshape(d['grads'][n]['shape'])
        rows.append(((ours - p.grad).norm().item() / p.grad.norm().item(), n))
    rows.sort(reverse=True)
    print(f'gradients: {len(rows)} tensors, worst relative L2 difference {rows[0][0]:.2e} ({rows[0][1]}), median {rows[len(rows) // 2][0]:.2e}')

    decay = [q for n, q in model.named_parameters() if q.ndim == 4 and n.endswith('weight')]
    no_decay = [q for n, q in model.named_parameters() if not (q.ndim == 4 and n.endswith('weight'))]
    opt = torch.optim.SGD([{'params': decay, 'weight_decay': 1e-4}, {'params': no_decay, 'weight_decay': 0.0}], lr=d['lr'], momentum=0.9)
    # Fresh weights and BatchNorm statistics, as ours before its steps.
    model.load_state_dict(sd)
    theirs = []
    for _ in range(d['steps']):
        loss = sum(model(images, targets).values())
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 10.0)
        opt.step()
        theirs.append(loss.item())
    print('losses per step: ours ', [round(x, 6) for x in d['losses']])
    print('                 torch', [round(x, 6) for x in theirs])
    rows = []
    for n, p in model.named_parameters():
        if p.norm() < 1e-6:
            continue
        a = torch.tensor(d['after'][n]['data']).reshape(d['after'][n]['shape'])
        rows.append(((a - p.detach()).norm().item() / p.norm().item(), n))
    rows.sort(reverse=True)
    for r in rows[:int(os.environ.get('FCOS_PARITY_SHOW', '0'))]:
        print('  %.2e %s' % r)
    print(f'weights after {d["steps"]} steps: worst relative L2 difference {rows[0][0]:.2e} ({rows[0][1]}), median {rows[len(rows) // 2][0]:.2e}')


if __name__ == '__main__':
    main()
