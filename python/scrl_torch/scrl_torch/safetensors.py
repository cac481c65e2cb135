"""The float32 safetensors files of @scrl/trainer: 8-byte little-endian header length, a JSON
header (names sorted, ``dtype`` F32, ``shape``, ``data_offsets``, optional ``__metadata__``)
padded with spaces to a multiple of 8, then the raw little-endian data."""
import json
import struct

import torch


def encode(tensors, metadata=None):
    """``{name: float32 tensor}`` -> bytes."""
    header = {}
    if metadata:
        header['__metadata__'] = {str(k): str(v) for k, v in metadata.items()}
    blobs, off = [], 0
    for name in sorted(tensors):
        t = tensors[name].detach().to('cpu', torch.float32).contiguous()
        data = t.numpy().astype('<f4', copy=False).tobytes()
        header[name] = {'dtype': 'F32', 'shape': list(t.shape), 'data_offsets': [off, off + len(data)]}
        blobs.append(data)
        off += len(data)
    h = json.dumps(header, separators=(',', ':')).encode()
    h += b' ' * ((8 - (8 + len(h)) % 8) % 8)
    return struct.pack('<Q', len(h)) + h + b''.join(blobs)


def decode(buf, source='buffer'):
    """bytes -> ``({name: float32 tensor}, metadata)``; fails naming what is wrong."""
    def fail(what):
        raise ValueError(f'{source} is not a valid safetensors file: {what}')

    if len(buf) < 8:
        fail(f'only {len(buf)} bytes')
    n = struct.unpack_from('<Q', buf, 0)[0]
    if 8 + n > len(buf):
        fail(f'header length {n} exceeds the file ({len(buf)} bytes)')
    header = json.loads(buf[8:8 + n].decode('utf8'))
    base = 8 + n
    tensors, metadata = {}, header.pop('__metadata__', {}) or {}
    for name, e in header.items():
        if e.get('dtype') != 'F32':
            fail(f"tensor '{name}' has dtype {e.get('dtype')}; only F32 is supported")
        begin, end = e['data_offsets']
        shape = e['shape']
        size = 1
        for s in shape:
            size *= s
        if end - begin != 4 * size or base + end > len(buf):
            fail(f"tensor '{name}' spans bytes [{begin}, {end}) but has shape {shape}")
        t = torch.frombuffer(bytearray(buf[base + begin:base + end]), dtype=torch.float32) if size else torch.zeros(0)
        tensors[name] = t.reshape(shape).clone()
    return tensors, metadata
