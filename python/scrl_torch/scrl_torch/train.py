"""Continues an @scrl/trainer pretraining run on PyTorch, on one process or many.

    torchrun --nnodes N --nproc-per-node G -m scrl_torch.train --resume DIR [--data IMAGES]

DIR is a run folder as ``scrl export --format torch-run`` writes it (``run.json``,
``checkpoints/``, ``metrics.jsonl``) or as ``scrl pretrain`` leaves it. The newest valid
checkpoint is loaded; training continues at its step with the same schedules, the same image
order and the same per-image random streams; rank 0 writes checkpoints into DIR/checkpoints in
the same format, so ``scrl pretrain --out DIR --resume``, ``scrl eval --init DIR`` and ``scrl
export --checkpoint DIR`` read them directly.

The global micro-batch is ``config.batch.size`` images, split evenly over the processes (DDP);
BatchNorm is synchronised over all of them (SyncBatchNorm), so the step equals the
one-process step at the same global batch. gloo on CPU, NCCL on CUDA.
"""
import argparse
import contextlib
import json
import math
import os
import signal
import struct
import sys
import time
import traceback

import torch
import torch.distributed as dist

from . import checkpoint as ck
from . import syncbn
from .lars import Lars
from .models import build_networks, lars_parameters, regression_loss
from .rng import create_rng, epoch_order, item_rng
from .views import view_pair

IMAGE_EXTENSIONS = ('.jpg', '.jpeg', '.png', '.webp')
# Keys --set may change on a resume (the rest fix the model, the data stream and the optimiser).
SETTABLE = ('batch.size', 'batch.accumulate', 'optimizer.baseLr', 'schedule.steps', 'schedule.warmupSteps',
            'schedule.epochs', 'schedule.warmupEpochs', 'ema.baseMomentum', 'checkpoint.every', 'checkpoint.keep')


class UsageError(Exception):
    pass


# ---------------------------------------------------------------- schedules (as @scrl/trainer)

def js_round(x):
    return math.floor(x + 0.5)


def plan_training(config, images):
    """@scrl/trainer's ``planTraining``: schedule lengths and the peak learning rate."""
    eff = config['batch']['size'] * config['batch']['accumulate']
    spe = max(1, images // eff)
    s = config['schedule']
    total = s['steps'] if s['steps'] is not None else s['epochs'] * spe
    if s['warmupSteps'] is not None:
        warm = s['warmupSteps']
    elif s['steps'] is not None:
        warm = js_round(s['steps'] * s['warmupEpochs'] / s['epochs'])
    else:
        warm = js_round(s['warmupEpochs'] * spe)
    return {'images': images, 'effectiveBatch': eff, 'stepsPerEpoch': spe, 'totalSteps': total,
            'warmupSteps': min(warm, total), 'peakLr': config['optimizer']['baseLr'] * eff / 256}


def lr_at(step, peak, warmup, total):
    """Linear warmup to ``peak`` over ``warmup`` steps (first step at peak / warmup), then cosine to 0 at ``total``."""
    if step < warmup:
        return peak * (step + 1) / warmup
    if step >= total:
        return 0.0
    return peak * (1 + math.cos(math.pi * (step - warmup) / (total - warmup))) / 2


def momentum_at(step, base, total):
    """BYOL's EMA momentum: ``1 - (1 - base) (cos(pi k / K) + 1) / 2``."""
    k = min(step, total)
    return 1 - (1 - base) * (math.cos(math.pi * k / total) + 1) / 2


# ---------------------------------------------------------------- data

def image_files(folder):
    """Image files under ``folder`` (recursive, hidden entries skipped), sorted: @scrl/data's list."""
    if not os.path.isdir(folder):
        raise UsageError(f"--data: '{folder}' is not a directory; pass the folder of images the run was trained on")
    out = []
    for root, dirs, files in os.walk(folder):
        dirs[:] = [d for d in dirs if not d.startswith('.')]
        for f in files:
            if not f.startswith('.') and os.path.splitext(f)[1].lower() in IMAGE_EXTENSIONS:
                out.append(os.path.join(os.path.abspath(root), f))
    if not out:
        raise UsageError(f"--data: no image files ({', '.join(IMAGE_EXTENSIONS)}) under '{folder}'")
    return sorted(out)


class Local:
    """This process's share of one global micro-batch."""

    def __init__(self, x, rois, pairs, images):
        self.x, self.rois, self.pairs, self.images = x, rois, pairs, images


def _rois(v1_boxes, v2_boxes, v1_rows, v2_rows):
    if not v1_boxes:
        return torch.zeros(0, 5)
    idx = torch.tensor(v1_rows + v2_rows, dtype=torch.float32)[:, None]
    return torch.cat([idx, torch.tensor(v1_boxes + v2_boxes, dtype=torch.float32)], 1)


class FolderSource:
    """Micro-batch ``g`` = batch ``g mod E`` of epoch ``g // E`` (E = images // batch.size), images
    in the loader's seeded order, views and boxes from each image's own stream: the batches of
    ``scrl pretrain`` on the same folder. Process ``r`` of ``W`` takes images ``[r b, (r+1) b)``."""

    def __init__(self, files, config, rank, world, stride):
        self.files, self.config, self.rank, self.world = files, config, rank, world
        self.B = config['batch']['size']
        self.per_epoch = len(files) // self.B
        b = config['boxes']
        self.box_options = None
        if config['method'] == 'scrl':
            self.box_options = {'min_size': b['minSize'] if b['minSize'] is not None else stride, 'per_image': b['perImage'],
                                'iou_threshold': b['iouThreshold'], 'max_tries': b['maxTries'], 'jitter': b['jitter']}
        self._order = (None, None)

    def order(self, epoch):
        if self._order[0] != epoch:
            self._order = (epoch, epoch_order(len(self.files), self.config['seed'], epoch))
        return self._order[1]

    def micro_batch(self, g):
        from torchvision.io import ImageReadMode, read_image
        epoch, s = divmod(g, self.per_epoch)
        items = self.order(epoch)[s * self.B:(s + 1) * self.B]
        b = self.B // self.world
        mine = items[self.rank * b:(self.rank + 1) * b]
        v = self.config['views']
        v1s, v2s, pairs = [], [], []
        for index in mine:
            try:
                image = read_image(self.files[index], ImageReadMode.RGB)
            except (RuntimeError, OSError) as e:
                print(f'[scrl_torch] skipping unreadable image {self.files[index]}: {e}', file=sys.stderr)
                continue
            a, c, p, _ = view_pair(image, item_rng(self.config['seed'], epoch, index), v['size'], tuple(v['scale']), v['blur'], self.box_options)
            v1s.append(a)
            v2s.append(c)
            pairs.append(p)
        n = len(v1s)
        x = torch.stack(v1s + v2s) if n else torch.zeros(0, 3, v['size'], v['size'])
        b1, b2, r1, r2 = [], [], [], []
        for i, ps in enumerate(pairs):
            for p1, p2 in ps:
                b1.append(list(p1))
                b2.append(list(p2))
                r1.append(i)
                r2.append(n + i)
        return Local(x, _rois(b1, b2, r1, r2), len(b1), n)


class DumpedSource:
    """Micro-batch ``g`` from ``batch-NNNN.bin`` as tools/experiments/dump-views.js writes them
    (views and box pairs made by our TypeScript pipeline): for parity checks."""

    def __init__(self, folder, rank, world):
        self.folder, self.rank, self.world = folder, rank, world

    def micro_batch(self, g):
        path = os.path.join(self.folder, f'batch-{g:04d}.bin')
        if not os.path.exists(path):
            raise UsageError(f'--batches: {path} does not exist; dump at least as many batches as steps x batch.accumulate')
        buf = open(path, 'rb').read()
        B, S, P, _ = struct.unpack_from('<4i', buf, 0)
        off = 16
        n = B * S * S * 3
        v1 = torch.frombuffer(bytearray(buf[off:off + 4 * n]), dtype=torch.float32).reshape(B, S, S, 3)
        off += 4 * n
        v2 = torch.frombuffer(bytearray(buf[off:off + 4 * n]), dtype=torch.float32).reshape(B, S, S, 3)
        off += 4 * n
        boxes = torch.frombuffer(bytearray(buf[off:off + 32 * P]), dtype=torch.float32).reshape(2 * P, 4) if P else torch.zeros(0, 4)
        off += 32 * P
        idx = torch.frombuffer(bytearray(buf[off:off + 8 * P]), dtype=torch.int32) if P else torch.zeros(0, dtype=torch.int32)
        if B % self.world:
            raise UsageError(f'{path}: {B} images do not split over {self.world} processes')
        b = B // self.world
        lo, hi = self.rank * b, (self.rank + 1) * b
        x = torch.cat([v1[lo:hi], v2[lo:hi]]).permute(0, 3, 1, 2).contiguous()
        img = idx[:P].long()
        keep = (img >= lo) & (img < hi)
        k = int(keep.sum())
        local = (img[keep] - lo).float()
        rois = torch.cat([torch.cat([local, local + b])[:, None], torch.cat([boxes[:P][keep], boxes[P:][keep]])], 1) if k else torch.zeros(0, 5)
        return Local(x, rois, k, b)


# ---------------------------------------------------------------- the run

def apply_sets(config, sets):
    config = json.loads(json.dumps(config))
    for item in sets:
        if '=' not in item:
            raise UsageError(f"--set '{item}' is not of the form key=value (e.g. batch.size=512)")
        key, raw = item.split('=', 1)
        key = key.strip()
        if key not in SETTABLE:
            raise UsageError(f"--set {key}: only {', '.join(SETTABLE)} may change when a run moves; the rest fix the model and data stream")
        raw = raw.strip()
        value = None if raw == 'null' else (float(raw) if any(c in raw for c in '.eE') else int(raw))
        a, b = key.split('.')
        config[a][b] = value
    return config


def setup_distributed(device_arg):
    cuda = torch.cuda.is_available() and device_arg != 'cpu'
    if device_arg == 'cuda' and not torch.cuda.is_available():
        raise UsageError('--device cuda: no CUDA device is visible')
    world = int(os.environ.get('WORLD_SIZE', '1'))
    rank = int(os.environ.get('RANK', '0'))
    local = int(os.environ.get('LOCAL_RANK', '0'))
    if world > 1:
        dist.init_process_group('nccl' if cuda else 'gloo')
    device = torch.device(f'cuda:{local}' if cuda else 'cpu')
    if cuda:
        torch.cuda.set_device(device)
    return rank, world, device, cuda


def all_sum(values, device, world):
    t = torch.tensor(values, dtype=torch.float64, device=device)
    if world > 1:
        dist.all_reduce(t)
    return t.tolist()


def parse_args(argv):
    ap = argparse.ArgumentParser(prog='scrl_torch.train', description=__doc__.split('\n\n')[0])
    ap.add_argument('--resume', required=True, metavar='DIR', help='run folder (scrl export --format torch-run, or a scrl pretrain --out)')
    ap.add_argument('--data', metavar='IMAGES', help="folder of images (default: run.json's data.folder)")
    ap.add_argument('--batches', metavar='DIR', help='dumped batches (tools/experiments/dump-views.js) instead of images')
    ap.add_argument('--max-steps', type=int, help='stop after this many steps in total (the schedule keeps its length)')
    ap.add_argument('--checkpoint-every', type=int, help='steps between checkpoints (default config.checkpoint.every)')
    ap.add_argument('--set', action='append', default=[], metavar='KEY=VALUE', help=f"change one of {', '.join(SETTABLE)}")
    ap.add_argument('--device', choices=['auto', 'cpu', 'cuda'], default='auto')
    ap.add_argument('--threads', type=int, help='torch intra-op threads per process')
    ap.add_argument('--float64', action='store_true', help='compute in float64 (numerical checks; checkpoints stay float32)')
    return ap.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    try:
        code = run(args)
    except (UsageError, ck.CheckpointError) as e:
        print(f'scrl_torch.train: {e}', file=sys.stderr)
        code = 2
    except Exception:  # noqa: BLE001 - reported, then the same exit path as a finished run
        if int(os.environ.get('WORLD_SIZE', '1')) <= 1:
            raise
        traceback.print_exc()
        code = 1
    if int(os.environ.get('WORLD_SIZE', '1')) > 1:
        # torch 1.13 can deadlock at interpreter exit when DDP's Reducer destroys the gloo
        # process group (its worker thread waits for the GIL the exiting thread holds); all
        # files are written and closed by now, so leave without the teardown.
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    return code


def run(args):
    if args.threads:
        torch.set_num_threads(args.threads)
    rank, world, device, cuda = setup_distributed(args.device)
    log = (lambda m: print(m, file=sys.stderr, flush=True)) if rank == 0 else (lambda m: None)
    out = args.resume
    ckpt_dir = os.path.join(out, 'checkpoints')
    latest = ck.find_latest_checkpoint(ckpt_dir, warn=log)
    if latest is None:
        raise UsageError(f"--resume: no valid checkpoint in '{ckpt_dir}'. Export one with: scrl export --format torch-run --checkpoint RUN --out {out}")
    state = latest['state']
    if 'config' not in state or 'plan' not in state:
        raise UsageError(f"{latest['path']}: no config/plan in its state; it was not written by scrl pretrain")
    run_info = {}
    if os.path.exists(os.path.join(out, 'run.json')):
        with open(os.path.join(out, 'run.json'), encoding='utf8') as f:
            run_info = json.load(f)
    config = apply_sets(state['config'], args.set)
    method = config['method']
    online, target = build_networks(config)
    ck.load_networks(online, target, latest['tensors'], state.get('batchNormCounters'))
    stride = online.backbone.stride

    if args.batches:
        source = DumpedSource(args.batches, rank, world)
        images = state['plan']['images']
        source_name = 'dumped-batches'
    else:
        folder = args.data
        if not folder:
            folder = (run_info.get('data') or {}).get('folder')
            if not folder:
                raise UsageError('--data IMAGES is required (run.json names no data folder)')
            folder = os.path.join(out, folder)  # run.json's folder may be relative to the run folder
        files = image_files(folder)
        images = len(files)
        if images != state['plan']['images']:
            raise UsageError(f"--data: '{folder}' has {images} images but the run was planned for {state['plan']['images']}; pass the run's folder")
        source = FolderSource(files, config, rank, world, stride)
        source_name = 'view-pair-loader'
    B = config['batch']['size']
    if B % world:
        raise UsageError(f'batch.size {B} does not split over {world} processes; use --set batch.size=<a multiple of {world}>')
    plan = plan_training(config, images) if args.set else state['plan']
    acc = config['batch']['accumulate']
    every = args.checkpoint_every or config['checkpoint']['every']

    dtype = torch.float64 if args.float64 else torch.float32
    online = syncbn.convert(online, cuda).to(device, dtype).train()
    target = syncbn.convert(target, cuda).to(device, dtype).train()
    named = lars_parameters(online)
    o = config['optimizer']
    lars = Lars(named, o['momentum'], o['weightDecay'], o['eta'])
    opt = state.get('optimizer') or {'config': lars.config, 'steps': latest['step']}
    buffers = {}
    for name, p, _ in named:
        t = latest['tensors'].get(f'optimizer.momentum.{name}')
        if t is not None:
            buffers[name] = ck.to_torch_layout(t)
    lars.load_state(opt['config'], opt['steps'], buffers)
    model = torch.nn.parallel.DistributedDataParallel(online, device_ids=[device.index] if cuda else None, broadcast_buffers=False) if world > 1 else online

    step = latest['step']
    metrics_path = os.path.join(out, 'metrics.jsonl')
    if rank == 0:
        kept = []
        if os.path.exists(metrics_path):
            for line in open(metrics_path, encoding='utf8'):
                try:
                    r = json.loads(line)
                except ValueError:
                    continue
                if r.get('step', 0) <= step:
                    kept.append(line if line.endswith('\n') else line + '\n')
        with open(metrics_path, 'w', encoding='utf8') as f:
            f.writelines(kept)
    if rank == 0 and args.set:
        # The run's config changed: what `scrl pretrain --resume --config` must now be given.
        with open(os.path.join(out, 'pretrain-config.json'), 'w', encoding='utf8') as f:
            f.write(json.dumps(config, indent=2) + '\n')
        log(f"[scrl_torch] config changed by --set: peak lr {plan['peakLr']:.4g}, {plan['totalSteps']} steps; wrote {os.path.join(out, 'pretrain-config.json')}")
    root_state = create_rng(config['seed'])
    last_saved, last_ckpt = step, latest['path']

    def save():
        nonlocal last_saved, last_ckpt
        if rank == 0:
            tensors = ck.network_tensors(online, target)
            for name, _, _ in named:
                tensors[f'optimizer.momentum.{name}'] = ck.from_torch_layout(lars.buffers[name])
            st = {
                'config': config,
                'plan': plan,
                'rng': {'root': {'algorithm': 'sfc32', 'key': root_state.key, 'state': [root_state.a, root_state.b, root_state.c, root_state.d]},
                        'microBatchesSeen': step * acc, 'source': source_name},
                'optimizer': {'config': dict(lars.config), 'steps': lars.steps},
                'batchNormCounters': ck.bn_counters(online, target),
                'backend': f"torch {torch.__version__} {'nccl' if cuda else 'gloo'} x{world}" if world > 1 else f'torch {torch.__version__} {device.type}',
            }
            last_ckpt = ck.write_checkpoint(ckpt_dir, step, tensors, st, keep=config['checkpoint']['keep'])
            log(f'[scrl_torch] checkpoint: step {step} -> {last_ckpt}')
        last_saved = step

    stop = {'flag': 0}

    def on_signal(signum, _frame):
        stop['flag'] = 1
        log(f'[scrl_torch] signal {signum}: stopping after the current step with a checkpoint')

    for s in (signal.SIGINT, signal.SIGTERM):
        signal.signal(s, on_signal)

    total = plan['totalSteps']
    stop_at = min(total, args.max_steps) if args.max_steps is not None else total
    log(f'[scrl_torch] {method}: ResNet-{config["model"]["depth"]}, batch {B} x {acc} over {world} process(es) on {device.type}, '
        f'step {step} of {total} (warmup {plan["warmupSteps"]}), peak lr {plan["peakLr"]:.4g}, from {latest["path"]}')
    stop_reason = 'completed'
    while step < stop_at:
        if all_sum([stop['flag']], device, world)[0] > 0:
            stop_reason = 'stopped'
            break
        t0 = time.time()
        lr = lr_at(step, plan['peakLr'], plan['warmupSteps'], total)
        m = momentum_at(step, config['ema']['baseMomentum'], total)
        micro = [source.micro_batch(step * acc + i) for i in range(acc)]
        counts = all_sum([v for mb in micro for v in (mb.pairs, mb.images)], device, world)
        weights = [counts[2 * i] if method == 'scrl' else counts[2 * i + 1] for i in range(acc)]
        usable = [i for i in range(acc) if (counts[2 * i] > 0 if method == 'scrl' else counts[2 * i + 1] >= 2)]
        total_w = sum(weights[i] for i in usable)
        online.zero_grad(set_to_none=True)
        loss_sum = 0.0
        for j, i in enumerate(usable):
            mb = micro[i]
            x = mb.x.to(device, dtype)
            rois = mb.rois.to(device, dtype) if method == 'scrl' else None
            R = mb.pairs if method == 'scrl' else mb.images
            sync = contextlib.nullcontext() if (world == 1 or j == len(usable) - 1) else model.no_sync()
            with sync:
                with torch.no_grad():
                    z = target(x, rois)
                q = model(x, rois)
                per_row = regression_loss(q[:R], z[R:]) + regression_loss(q[R:], z[:R])
                s = per_row.sum()
                (s * (world / total_w)).backward()
            loss_sum += float(s)
        loss_sum = all_sum([loss_sum], device, world)[0]
        if not math.isfinite(loss_sum):
            raise RuntimeError(f'the loss became {loss_sum} at step {step + 1}; the last good checkpoint is {last_ckpt}. Lower optimizer.baseLr or check the data.')
        if usable:
            lars.step(lr)
            with torch.no_grad():
                for part in ('backbone', 'projector'):
                    tp = dict(getattr(target, part).named_parameters())
                    for name, p in getattr(online, part).named_parameters():
                        tp[name].mul_(m).add_(p.detach(), alpha=1 - m)
        step += 1
        rec = {'step': step, 'loss': loss_sum / total_w if total_w else 0, 'lr': lr, 'momentum': m,
               'boxPairs': int(sum(counts[2 * i] for i in usable)) if method == 'scrl' else 0,
               'imagesPerSecond': B * acc / max(1e-3, time.time() - t0), 'epoch': ((step - 1) * acc * B) // images}
        if not usable:
            rec['skipped'] = True
        if rank == 0:
            with open(metrics_path, 'a', encoding='utf8') as f:
                f.write(json.dumps(rec) + '\n')
            log(f"[scrl_torch] step {step}/{total} loss {rec['loss']:.6f} lr {lr:.4g} {rec['imagesPerSecond']:.1f} img/s")
        if step % every == 0 or step == total:
            save()
    if stop_reason == 'completed' and step < total:
        stop_reason = 'max-steps'
    if last_saved != step:
        save()
    log(f'[scrl_torch] {stop_reason} at step {step} of {total}; checkpoint {last_ckpt}')
    if world > 1:
        dist.barrier()
        dist.destroy_process_group()
    return 130 if stop_reason == 'stopped' else 0


if __name__ == '__main__':
    sys.exit(main())
