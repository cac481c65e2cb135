"""@scrl/trainer's checkpoint format, read and written without conversion.

A checkpoint is ``ckpt-NNNNNNNN.safetensors`` (every tensor) plus ``ckpt-NNNNNNNN.json`` (the
sidecar: ``format`` "scrl-checkpoint", ``version`` 1, ``step``, ``tensors`` {file, bytes,
sha256}, ``state`` {config, plan, rng, optimizer, batchNormCounters, backend}, ``createdAt``).
Each file goes to a temporary name, is fsynced and renamed, the sidecar last, so a checkpoint
exists once its sidecar does. Tensors keep the TypeScript layouts: convolution weights HWIO
``[kh, kw, in, out]``, linear weights ``[in, out]``; this module converts to and from PyTorch's
OIHW and ``[out, in]`` when loading into and saving from modules.
"""
import datetime
import hashlib
import json
import os
import re

import torch

from . import safetensors

FORMAT = 'scrl-checkpoint'
VERSION = 1
NAME = re.compile(r'^ckpt-(\d{8,})\.json$')
TMP = re.compile(r'^\.ckpt-.*\.tmp-\d+$')
MODULES = ('online.backbone', 'online.projector', 'online.predictor', 'target.backbone', 'target.projector')


class CheckpointError(Exception):
    pass


def list_checkpoints(directory):
    """``[(step, sidecar path)]`` newest first (names only)."""
    if not os.path.isdir(directory):
        return []
    out = []
    for f in os.listdir(directory):
        m = NAME.match(f)
        if m:
            out.append((int(m.group(1)), os.path.join(directory, f)))
    return sorted(out, reverse=True)


def read_checkpoint(sidecar_path):
    """``{'step', 'tensors', 'state', 'path'}`` after checking format, size and sha256."""
    def fail(what):
        raise CheckpointError(f'{sidecar_path}: {what}')

    try:
        with open(sidecar_path, encoding='utf8') as f:
            sidecar = json.load(f)
    except (OSError, ValueError) as e:
        fail(f'sidecar unreadable ({e})')
    if sidecar.get('format') != FORMAT or sidecar.get('version') != VERSION:
        fail(f"not a {FORMAT} v{VERSION} sidecar (format {sidecar.get('format')}, version {sidecar.get('version')})")
    info = sidecar.get('tensors') or {}
    name = info.get('file')
    if not isinstance(name, str) or os.path.basename(name) != name:
        fail('sidecar has no valid tensors.file')
    tensor_path = os.path.join(os.path.dirname(sidecar_path), name)
    try:
        with open(tensor_path, 'rb') as f:
            data = f.read()
    except OSError as e:
        fail(f'tensor file unreadable ({e})')
    if len(data) != info.get('bytes'):
        fail(f"tensor file {name} has {len(data)} bytes, expected {info.get('bytes')} (truncated?)")
    if hashlib.sha256(data).hexdigest() != info.get('sha256'):
        fail(f'tensor file {name} fails its sha256 check (corrupt)')
    tensors, _ = safetensors.decode(data, tensor_path)
    return {'step': sidecar['step'], 'tensors': tensors, 'state': sidecar.get('state') or {}, 'path': sidecar_path}


def find_latest_checkpoint(directory, warn=print):
    """The newest checkpoint in ``directory`` that reads and verifies, or None; skips broken ones with a warning."""
    for step, p in list_checkpoints(directory):
        try:
            return read_checkpoint(p)
        except (CheckpointError, ValueError) as e:
            warn(f'[scrl_torch] skipping checkpoint at step {step}: {e}')
    return None


def _write_durably(path, data):
    tmp = os.path.join(os.path.dirname(path), f'.{os.path.basename(path)}.tmp-{os.getpid()}')
    with open(tmp, 'wb') as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def write_checkpoint(directory, step, tensors, state, keep=3):
    """Writes checkpoint ``step`` atomically (tensors, then sidecar), keeps the newest ``keep`` (0: all); returns the sidecar path."""
    os.makedirs(directory, exist_ok=True)
    for f in os.listdir(directory):
        if TMP.match(f):
            os.remove(os.path.join(directory, f))
    base = f'ckpt-{step:08d}'
    data = safetensors.encode(tensors, {'format': FORMAT, 'step': str(step)})
    _write_durably(os.path.join(directory, base + '.safetensors'), data)
    sidecar = {
        'format': FORMAT,
        'version': VERSION,
        'step': step,
        'tensors': {'file': base + '.safetensors', 'bytes': len(data), 'sha256': hashlib.sha256(data).hexdigest()},
        'state': state,
        'createdAt': datetime.datetime.now(datetime.timezone.utc).strftime('%Y-%m-%dT%H:%M:%S.%f')[:-3] + 'Z',
    }
    path = os.path.join(directory, base + '.json')
    _write_durably(path, (json.dumps(sidecar, indent=1) + '\n').encode())
    try:
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    except OSError:
        pass
    if keep > 0:
        for _, old in list_checkpoints(directory)[keep:]:
            for p in (old, old[:-5] + '.safetensors'):
                if os.path.exists(p):
                    os.remove(p)
    return path


def to_torch_layout(t):
    """HWIO -> OIHW for 4-D, [in, out] -> [out, in] for 2-D, else unchanged."""
    if t.dim() == 4:
        return t.permute(3, 2, 0, 1).contiguous()
    if t.dim() == 2:
        return t.t().contiguous()
    return t


def from_torch_layout(t):
    """OIHW -> HWIO for 4-D, [out, in] -> [in, out] for 2-D, else unchanged."""
    t = t.detach().cpu()
    if t.dim() == 4:
        return t.permute(2, 3, 1, 0).contiguous()
    if t.dim() == 2:
        return t.t().contiguous()
    return t


def _modules(online, target):
    return {
        'online.backbone': online.backbone,
        'online.projector': online.projector,
        'online.predictor': online.predictor,
        'target.backbone': target.backbone,
        'target.projector': target.projector,
    }


def _bn_counters(mod):
    return [m for m in mod.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]


def load_networks(online, target, tensors, counters=None):
    """Loads ``online.*``/``target.*`` tensors into the modules; fails naming a missing or misshapen one."""
    for prefix, mod in _modules(online, target).items():
        sd = mod.state_dict()
        new = {}
        for k, v in sd.items():
            if k.endswith('num_batches_tracked'):
                new[k] = v
                continue
            key = f'{prefix}.{k}'
            if key not in tensors:
                raise CheckpointError(f"the checkpoint has no tensor '{key}'; was it written with another model config?")
            t = to_torch_layout(tensors[key])
            if tuple(t.shape) != tuple(v.shape):
                raise CheckpointError(f"'{key}' has shape {list(tensors[key].shape)} in the checkpoint, which does not fit {list(v.shape)}")
            new[k] = t
        mod.load_state_dict(new, strict=True)
        saved = (counters or {}).get(prefix)
        if saved:
            for bn, n in zip(_bn_counters(mod), saved):
                bn.num_batches_tracked.fill_(int(n))


def network_tensors(online, target):
    """Every parameter and running statistic, by checkpoint name, in the TypeScript layouts."""
    out = {}
    for prefix, mod in _modules(online, target).items():
        for k, v in mod.state_dict().items():
            if not k.endswith('num_batches_tracked'):
                out[f'{prefix}.{k}'] = from_torch_layout(v)
    return out


def bn_counters(online, target):
    return {prefix: [int(bn.num_batches_tracked) for bn in _bn_counters(mod)] for prefix, mod in _modules(online, target).items()}
