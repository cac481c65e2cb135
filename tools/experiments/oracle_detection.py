#!/usr/bin/python3
"""Detection fine-tuning grid in the PyTorch oracle (tools/experiments/fcos_torch.py): which
initialisation gives the better detector, under which protocol (issue 22 item 2, issue 21 item 4).

Every cell is one fcos_torch.py run on the built-in detection scenes (2000 x 64 px, 1600 train /
400 test), scored on the test images by our own COCO evaluator:

  init      random, or NAME=BACKBONE.safetensors (torchvision names; `scrl export` of a pretrain
            checkpoint)
  protocol  full     fine-tune backbone + FPN + head (the default of `scrl eval detection`)
            rescale  the same after scaling each conv to a fresh init's norm (--rescale-conv-norms;
                     skipped for random init, where it is the identity)
            frozen   the backbone's weights stay as initialised; FPN + head learn
  labels    how many of the 1600 training scenes carry labels (--train-limit; 160 = 10 %)
  lr        fixed (--lr) or chosen per cell by --lr-sweep: each candidate trains --sweep-steps on
            the first 80 % of the cell's labelled scenes and is scored on the other 20 %; the test
            scenes are never used to choose

Resumable: a run whose summary.json exists is not run again, so the same command continues a
stopped grid, and a larger grid reuses the cells it shares with a smaller one. Writes
OUT/results.json and OUT/results.md (every cell, its lr choice and the sweep's scores).

  /usr/bin/python3 tools/experiments/oracle_detection.py --out experiments/oracle \\
      --inits random,byol1000=/work/runs/oracle/byol-1000.safetensors --protocols full,rescale \\
      --labels 1600 --lr 0.02 --jobs 2
"""
import argparse
import json
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))


def parse_inits(text):
    out = []
    for item in text.split(','):
        if item == 'random':
            out.append(('random', None))
            continue
        if '=' not in item:
            sys.exit(f'--inits: "{item}" must be random or NAME=FILE.safetensors')
        name, path = item.split('=', 1)
        if not os.path.isfile(path):
            sys.exit(f'--inits: {path} (for {name}) does not exist; export one with `npx scrl export --checkpoint CKPT --out FILE`')
        out.append((name, path))
    return out


def run_name(init, protocol, labels, lr, seed, sweep=False):
    return f'{init}-{protocol}-l{labels}-lr{lr:g}-s{seed}' + ('-sweep' if sweep else '')


class Pool:
    """At most `jobs` fcos_torch.py processes at a time."""

    def __init__(self, a):
        self.a = a
        self.running = []

    def command(self, name, init_path, protocol, labels, lr, seed, steps, sweep):
        a = self.a
        cmd = ['/usr/bin/python3', os.path.join(HERE, 'fcos_torch.py'), '--data', a.data,
               '--out', os.path.join(a.out, 'runs', name), '--lr', str(lr), '--steps', str(steps),
               '--seed', str(seed), '--width', str(a.width), '--threads', '1']
        if labels < a.all_labels:
            cmd += ['--train-limit', str(labels)]
        if init_path:
            cmd += ['--init', init_path]
        if protocol == 'rescale':
            cmd.append('--rescale-conv-norms')
        if protocol == 'frozen':
            cmd.append('--freeze-backbone')
        if sweep:
            cmd += ['--sweep-val', '0.2']
        return cmd

    def submit(self, name, cmd):
        summary = os.path.join(self.a.out, 'runs', name, 'summary.json')
        if os.path.exists(summary):
            return
        if self.a.dry_run:
            print(' '.join(cmd))
            return
        while len(self.running) >= self.a.jobs:
            self.reap()
            time.sleep(5)
        os.makedirs(os.path.join(self.a.out, 'runs'), exist_ok=True)
        log = open(os.path.join(self.a.out, 'runs', name + '.log'), 'w')
        print(f'[oracle] start {name}', flush=True)
        self.running.append((name, subprocess.Popen(['nice', '-n', '5'] + cmd, stdout=log, stderr=subprocess.STDOUT)))

    def reap(self):
        still = []
        for name, p in self.running:
            if p.poll() is None:
                still.append((name, p))
            elif p.returncode != 0:
                print(f'[oracle] {name} failed (exit {p.returncode}); see {self.a.out}/runs/{name}.log', flush=True)
            else:
                print(f'[oracle] done {name}: AP {fmt(ap_of(self.a, name))}', flush=True)
        self.running = still

    def wait(self):
        while self.running:
            self.reap()
            time.sleep(5)


def ap_of(a, name):
    try:
        s = json.load(open(os.path.join(a.out, 'runs', name, 'summary.json')))
        return 100 * s['coco']['AP'], 100 * s['coco']['AP50']
    except (OSError, KeyError):
        return None


def fmt(x):
    return '-' if x is None else f'{x[0]:.1f}'


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--data', default=os.path.join(ROOT, '.scrl-cache', 'scenes-2000x64-seed0'),
                   help='COCO folder (default: the built-in detection scenes, made by any `scrl eval detection`)')
    p.add_argument('--out', default=os.path.join(ROOT, 'experiments', 'oracle'))
    p.add_argument('--inits', default='random')
    p.add_argument('--protocols', default='full')
    p.add_argument('--labels', default='1600', help='labelled training scenes per cell, comma-separated')
    p.add_argument('--seeds', default='0', help='fine-tuning seeds (head init, flips, batch order)')
    p.add_argument('--lr', type=float, default=0.02)
    p.add_argument('--lr-sweep', default='', help='candidate lrs, comma-separated (overrides --lr)')
    p.add_argument('--sweep-steps', type=int, default=500)
    p.add_argument('--steps', type=int, default=1500)
    p.add_argument('--width', type=int, default=16)
    p.add_argument('--jobs', type=int, default=2)
    p.add_argument('--dry-run', action='store_true', help='print the commands of the runs still missing')
    a = p.parse_args()
    if not os.path.isfile(os.path.join(a.data, 'annotations.json')):
        sys.exit(f'--data {a.data} has no annotations.json; `npx scrl eval detection --steps 1` once generates the built-in scenes')
    n_images = len(json.load(open(os.path.join(a.data, 'annotations.json')))['images'])
    a.all_labels = n_images - max(1, round(n_images * 0.2))
    inits = parse_inits(a.inits)
    protocols = a.protocols.split(',')
    for q in protocols:
        if q not in ('full', 'rescale', 'frozen'):
            sys.exit(f'--protocols: unknown protocol "{q}" (full, rescale, frozen)')
    labels = [int(x) for x in a.labels.split(',')]
    seeds = [int(x) for x in a.seeds.split(',')]
    sweep = [float(x) for x in a.lr_sweep.split(',')] if a.lr_sweep else []
    pool = Pool(a)

    cells = [(i, q, n, s) for n in labels for q in protocols for i in inits for s in seeds
             if not (q == 'rescale' and i[1] is None)]
    # Sweeps first (all cells), then the final runs, so that two jobs always have work.
    for (name, path), q, n, s in cells:
        for lr in sweep:
            r = run_name(name, q, n, lr, s, sweep=True)
            pool.submit(r, pool.command(r, path, q, n, lr, s, a.sweep_steps, True))
    pool.wait()
    rows = []
    for (name, path), q, n, s in cells:
        scores = {lr: ap_of(a, run_name(name, q, n, lr, s, sweep=True)) for lr in sweep}
        if sweep and all(v is not None for v in scores.values()):
            lr = max(sweep, key=lambda x: scores[x][0])
        elif sweep:
            continue  # dry run, or a failed sweep run: reported above
        else:
            lr = a.lr
        r = run_name(name, q, n, lr, s)
        pool.submit(r, pool.command(r, path, q, n, lr, s, a.steps, False))
        rows.append({'init': name, 'backbone': path, 'protocol': q, 'labels': n, 'seed': s, 'lr': lr, 'run': r,
                     'sweep': {str(k): (None if v is None else round(v[0], 2)) for k, v in scores.items()}})
    pool.wait()
    if a.dry_run:
        return

    # Everything under OUT/runs, this grid's cells or not, goes into the tables.
    results = []
    for d in sorted(os.listdir(os.path.join(a.out, 'runs'))):
        f = os.path.join(a.out, 'runs', d, 'summary.json')
        if not os.path.isfile(f):
            continue
        s = json.load(open(f))
        c = s['config']
        protocol = 'frozen' if c.get('freeze_backbone') else 'rescale' if c.get('rescale_conv_norms') else 'full'
        results.append({'run': d, 'init': d.split('-')[0], 'backbone': c.get('init'), 'protocol': protocol,
                        'labels': s['train'] + (s['val'] if c.get('sweep_val') else 0), 'lr': c['lr'], 'steps': c['steps'],
                        'seed': c['seed'], 'sweep': bool(c.get('sweep_val')), 'ap': round(100 * s['coco']['AP'], 4),
                        'ap50': round(100 * s['coco']['AP50'], 4), 'train_s': round(s['train_s'])})
    json.dump({'command': ' '.join(sys.argv), 'runs': results}, open(os.path.join(a.out, 'results.json'), 'w'), indent=1)
    lines = ['# Detection fine-tuning in the PyTorch oracle', '',
             'Generated by `tools/experiments/oracle_detection.py` from the runs in `runs/` (torchvision FCOS, '
             'small-input ResNet-18 width 16, FPN 32, batch 16, cosine lr with 100 warmup steps, 1 thread; '
             'AP on the 400 test scenes by our COCO evaluator; sweep runs are scored on a validation split of the '
             'labelled training scenes, never on the test scenes). Do not edit by hand.', '',
             '| init | protocol | labelled scenes | lr | steps | seed | AP | AP50 | train s |',
             '|---|---|---:|---:|---:|---:|---:|---:|---:|']
    for r in sorted([r for r in results if not r['sweep']], key=lambda r: (r['labels'], r['protocol'], r['init'], r['lr'])):
        lines.append(f"| {r['init']} | {r['protocol']} | {r['labels']} | {r['lr']:g} | {r['steps']} | {r['seed']} | "
                     f"{r['ap']:.1f} | {r['ap50']:.1f} | {r['train_s']} |")
    sw = [r for r in results if r['sweep']]
    if sw:
        lines += ['', '## Learning-rate sweeps (validation split of the labelled training scenes)', '',
                  '| init | protocol | labelled scenes | lr | steps | seed | val AP | val AP50 |',
                  '|---|---|---:|---:|---:|---:|---:|---:|']
        for r in sorted(sw, key=lambda r: (r['labels'], r['protocol'], r['init'], r['lr'])):
            lines.append(f"| {r['init']} | {r['protocol']} | {r['labels']} | {r['lr']:g} | {r['steps']} | {r['seed']} | "
                         f"{r['ap']:.1f} | {r['ap50']:.1f} |")
    open(os.path.join(a.out, 'results.md'), 'w').write('\n'.join(lines) + '\n')
    print(f'[oracle] {len(results)} runs -> {a.out}/results.md', flush=True)


if __name__ == '__main__':
    main()
