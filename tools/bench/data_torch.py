"""PyTorch side of tools/bench/data.js: a torch.utils.data.DataLoader over the same image files,
each item decoded with PIL and turned into SCRL's two views (torchvision transforms) plus box
pairs. The view and box code is tools/bench/augment_torch.py's (imported, so both benches
measure the same reference pipeline).

Prints one JSON line: {"workers": W, "pairs": n, "boxes": m, "wall_s": t, "pairs_per_s": ...}.
Timing starts when the first batch arrives (worker start-up excluded, as on the JS side).
CPU seconds per pair cover the whole run (all processes, start-up included, every batch).
"""
import argparse
import gc
import json
import os
import random
import resource
import sys
import time

import torch
from PIL import Image

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from augment_torch import box_pairs, make_view  # noqa: E402


class ViewPairDataset(torch.utils.data.Dataset):
    def __init__(self, files):
        self.files = files
        self.view1 = make_view(1.0, 0.0)
        self.view2 = make_view(0.1, 0.2)

    def __len__(self):
        return len(self.files)

    def __getitem__(self, i):
        img = Image.open(self.files[i]).convert('RGB')
        x1, g1 = self.view1(img)
        x2, g2 = self.view2(img)
        return x1, x2, box_pairs(g1, g2), i


def collate(items):
    return (torch.stack([it[0] for it in items]), torch.stack([it[1] for it in items]),
            [it[2] for it in items], [it[3] for it in items])


def cpu_seconds():
    """CPU time of this process and its reaped children (the DataLoader workers)."""
    s, c = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return s.ru_utime + s.ru_stime + c.ru_utime + c.ru_stime


def seed_worker(worker_id):
    random.seed(torch.initial_seed() % 2**32)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--dir', required=True)
    ap.add_argument('--workers', type=int, required=True)
    ap.add_argument('--batch', type=int, default=16)
    ap.add_argument('--epochs', type=int, default=2)
    args = ap.parse_args()
    files = sorted(os.path.join(args.dir, f) for f in os.listdir(args.dir) if f.endswith(('.jpg', '.png')))
    torch.manual_seed(0)
    c0 = cpu_seconds()
    loader = torch.utils.data.DataLoader(
        ViewPairDataset(files), batch_size=args.batch, shuffle=True, drop_last=True,
        num_workers=args.workers, collate_fn=collate, persistent_workers=args.workers > 0,
        worker_init_fn=seed_worker, prefetch_factor=2 if args.workers > 0 else None)
    pairs = boxes = 0
    t0 = None
    for epoch in range(args.epochs):
        for v1, v2, bp, idx in loader:
            if t0 is None:
                t0 = time.perf_counter()  # first batch: start-up excluded
                continue
            pairs += v1.shape[0]
            boxes += sum(len(b) for b in bp)
    wall = time.perf_counter() - t0
    del loader  # ends the persistent workers, so their CPU time is counted below
    gc.collect()
    time.sleep(0.5)
    cpu = cpu_seconds() - c0
    total = pairs + args.batch
    print(json.dumps({'workers': args.workers, 'pairs': pairs, 'boxes': boxes, 'wall_s': wall,
                      'pairs_per_s': pairs / wall, 'boxes_per_s': boxes / wall,
                      'cpu_s_per_pair': cpu / total,
                      'torch': torch.__version__,
                      # peak RSS (KB) of this main process and of the largest reaped worker process
                      'maxRssKb': resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
                      'workerMaxRssKb': resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss}))


if __name__ == '__main__':
    main()
