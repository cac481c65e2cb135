import { readSafetensors, writeSafetensors } from './index';
import { readFixture } from './__tests__/formula';

function withHeader(header: object, data: Uint8Array): Uint8Array {
  const json = new TextEncoder().encode(JSON.stringify(header));
  const out = new Uint8Array(8 + json.length + data.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true);
  out.set(json, 8);
  out.set(data, 8 + json.length);
  return out;
}

describe('readSafetensors / writeSafetensors', () => {
  it('round-trips F32, I64 and I32 tensors with metadata, header padded to 8 bytes', () => {
    const bytes = writeSafetensors(
      {
        'a.weight': { dtype: 'F32', shape: [2, 3], data: Float32Array.of(1, -2, 3.5, 0, 1e-8, -7) },
        'a.num_batches_tracked': { dtype: 'I64', shape: [], data: BigInt64Array.of(123456789012n) },
        ids: { dtype: 'I32', shape: [2], data: Int32Array.of(-1, 2) },
      },
      { format: 'pt' },
    );
    const headerLen = Number(new DataView(bytes.buffer).getBigUint64(0, true));
    expect((8 + headerLen) % 8).toBe(0);
    const { tensors, metadata } = readSafetensors(bytes);
    expect(metadata).toEqual({ format: 'pt' });
    expect([...tensors.keys()]).toEqual(['a.weight', 'a.num_batches_tracked', 'ids']);
    expect(tensors.get('a.weight')).toEqual({ dtype: 'F32', shape: [2, 3], data: Float32Array.of(1, -2, 3.5, 0, 1e-8, -7) });
    expect(tensors.get('a.num_batches_tracked')).toEqual({ dtype: 'I64', shape: [], data: BigInt64Array.of(123456789012n) });
    expect(tensors.get('ids')?.data).toEqual(Int32Array.of(-1, 2));
  });

  it('reads a view at any byte offset (Node Buffers share pooled memory)', () => {
    const bytes = writeSafetensors({ w: { dtype: 'F32', shape: [3], data: Float32Array.of(1.5, -2, 3) } });
    const pool = new Uint8Array(bytes.length + 11);
    pool.fill(0xff);
    pool.set(bytes, 5);
    expect(readSafetensors(pool.subarray(5, 5 + bytes.length)).tensors.get('w')?.data).toEqual(Float32Array.of(1.5, -2, 3));
    expect(readSafetensors(Buffer.from(pool.buffer, 5, bytes.length)).tensors.get('w')?.data).toEqual(Float32Array.of(1.5, -2, 3));
  });

  it('widens F16, BF16 and F64 to float32', () => {
    // F16: 1.0 = 0x3c00, -2.0 = 0xc000, 65504 = 0x7bff, smallest subnormal 0x0001 = 2^-24.
    const f16 = new Uint8Array(new Uint16Array([0x3c00, 0xc000, 0x7bff, 0x0001]).buffer);
    // BF16: top half of float32 1.5 (0x3fc00000) and -0.25 (0xbe800000).
    const bf16 = new Uint8Array(new Uint16Array([0x3fc0, 0xbe80]).buffer);
    const f64 = new Uint8Array(Float64Array.of(0.1, -3).buffer);
    const data = new Uint8Array(8 + 4 + 16);
    data.set(f16, 0);
    data.set(bf16, 8);
    data.set(f64, 12);
    const { tensors } = readSafetensors(
      withHeader(
        {
          h: { dtype: 'F16', shape: [4], data_offsets: [0, 8] },
          b: { dtype: 'BF16', shape: [2], data_offsets: [8, 12] },
          d: { dtype: 'F64', shape: [2], data_offsets: [12, 28] },
        },
        data,
      ),
    );
    expect(Array.from(tensors.get('h')!.data as Float32Array)).toEqual([1, -2, 65504, 2 ** -24]);
    expect(Array.from(tensors.get('b')!.data as Float32Array)).toEqual([1.5, -0.25]);
    expect(tensors.get('d')!.data).toEqual(Float32Array.of(0.1, -3));
  });

  it('reads the files written by the Python fixture scripts', () => {
    const f = readFixture('resnet18.safetensors');
    expect(f.tensors.get('c5_eval')?.shape).toEqual([2, 512, 2, 2]);
    expect(f.metadata.depth).toBe('18');
  });

  it('fails clearly on malformed input', () => {
    expect(() => readSafetensors(new Uint8Array(4))).toThrow('readSafetensors: 4 bytes is too short');
    const big = new Uint8Array(16);
    new DataView(big.buffer).setBigUint64(0, 100n, true);
    expect(() => readSafetensors(big)).toThrow('readSafetensors: header length 100 exceeds the 8 bytes after it');
    expect(() => readSafetensors(withHeader({ w: { dtype: 'F32', shape: [3], data_offsets: [0, 8] } }, new Uint8Array(8)))).toThrow(
      "readSafetensors: tensor 'w' (F32, shape [3]) has data_offsets [0, 8], which do not hold 12 bytes",
    );
    expect(() => readSafetensors(withHeader({ w: { dtype: 'U8', shape: [1], data_offsets: [0, 1] } }, new Uint8Array(1)))).toThrow(
      "readSafetensors: tensor 'w' has dtype U8; supported: F32, F16, BF16, F64, I64, I32.",
    );
    const overlapping = { a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] }, b: { dtype: 'F32', shape: [2], data_offsets: [4, 12] } };
    expect(() => readSafetensors(withHeader(overlapping, new Uint8Array(12)))).toThrow(
      "readSafetensors: tensors 'a' [0, 8] and 'b' [4, 12] have overlapping data_offsets; the file is corrupt.",
    );
    expect(() => writeSafetensors({ w: { dtype: 'F32', shape: [2, 2], data: new Float32Array(3) } })).toThrow(
      "writeSafetensors: tensor 'w' has shape [2, 2] (4 values) but 3 values.",
    );
  });
});
