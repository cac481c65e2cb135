/**
 * A minimal reader/writer of the safetensors format (https://github.com/huggingface/safetensors)
 * for float32 tensors: 8-byte little-endian header length, a JSON header
 * `{ name: { dtype: 'F32', shape, data_offsets: [begin, end] }, __metadata__: {...} }`
 * padded with spaces to 8 bytes, then the raw little-endian data.
 *
 * Pure Node (no TF.js), so checkpoint code can run in any process.
 */
import * as os from 'node:os';

/** A tensor as plain data: row-major float32 values and a shape. */
export interface TensorRecord {
  shape: number[];
  data: Float32Array;
}

export type TensorDict = Record<string, TensorRecord>;

const MAX_HEADER = 100 * 1024 * 1024;

function checkHost(fn: string): void {
  if (os.endianness() !== 'LE') {
    throw new Error(`Error in ${fn}: safetensors data is little-endian; this host is big-endian, which is not supported.`);
  }
}

/** Encodes float32 tensors (names sorted, for a stable file) and string metadata. */
export function encodeSafetensors(tensors: TensorDict, metadata: Record<string, string> = {}): Buffer {
  checkHost('encodeSafetensors');
  const names = Object.keys(tensors).sort();
  const header: Record<string, unknown> = {};
  if (Object.keys(metadata).length > 0) header.__metadata__ = metadata;
  let offset = 0;
  for (const name of names) {
    const { shape, data } = tensors[name];
    if (!(data instanceof Float32Array)) {
      throw new Error(`Error in encodeSafetensors: tensor '${name}' must hold a Float32Array.`);
    }
    const size = shape.reduce((a, b) => a * b, 1);
    if (size !== data.length) {
      throw new Error(`Error in encodeSafetensors: tensor '${name}' has shape [${shape}] (${size} values) but ${data.length} values.`);
    }
    header[name] = { dtype: 'F32', shape, data_offsets: [offset, offset + data.byteLength] };
    offset += data.byteLength;
  }
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - ((8 + Buffer.byteLength(json)) % 8)) % 8);
  const headerBytes = Buffer.from(json, 'utf8');
  const out = Buffer.alloc(8 + headerBytes.length + offset);
  out.writeBigUInt64LE(BigInt(headerBytes.length), 0);
  headerBytes.copy(out, 8);
  let pos = 8 + headerBytes.length;
  for (const name of names) {
    const { data } = tensors[name];
    Buffer.from(data.buffer, data.byteOffset, data.byteLength).copy(out, pos);
    pos += data.byteLength;
  }
  return out;
}

/** Decodes a safetensors buffer holding F32 tensors; fails naming what is wrong. */
export function decodeSafetensors(buf: Buffer, source = 'buffer'): { tensors: TensorDict; metadata: Record<string, string> } {
  checkHost('decodeSafetensors');
  const fail = (what: string): never => {
    throw new Error(`Error in decodeSafetensors: ${source} is not a valid safetensors file: ${what}.`);
  };
  if (buf.length < 8) fail(`only ${buf.length} bytes`);
  const n = Number(buf.readBigUInt64LE(0));
  if (n > MAX_HEADER || 8 + n > buf.length) fail(`header length ${n} exceeds the file (${buf.length} bytes)`);
  let header: Record<string, unknown>;
  try {
    header = JSON.parse(buf.subarray(8, 8 + n).toString('utf8')) as Record<string, unknown>;
  } catch (err) {
    return fail(`header is not JSON (${(err as Error).message})`);
  }
  const base = 8 + n;
  const ranges = Object.entries(header)
    .filter(([name]) => name !== '__metadata__')
    .map(([name, e]) => ({ name, offsets: (e as { data_offsets?: [number, number] })?.data_offsets }))
    .filter((r): r is { name: string; offsets: [number, number] } => Array.isArray(r.offsets))
    .sort((a, b) => a.offsets[0] - b.offsets[0] || a.offsets[1] - b.offsets[1]);
  for (let i = 1; i < ranges.length; i++) {
    if (ranges[i].offsets[0] < ranges[i - 1].offsets[1]) {
      fail(`tensors '${ranges[i - 1].name}' [${ranges[i - 1].offsets}] and '${ranges[i].name}' [${ranges[i].offsets}] have overlapping data_offsets`);
    }
  }
  const tensors: TensorDict = {};
  let metadata: Record<string, string> = {};
  for (const [name, entry] of Object.entries(header)) {
    if (name === '__metadata__') {
      metadata = entry as Record<string, string>;
      continue;
    }
    const e = entry as { dtype?: string; shape?: number[]; data_offsets?: [number, number] };
    if (e.dtype !== 'F32') fail(`tensor '${name}' has dtype ${e.dtype}; only F32 is supported`);
    if (!Array.isArray(e.shape) || !Array.isArray(e.data_offsets)) fail(`tensor '${name}' lacks shape or data_offsets`);
    const [begin, end] = e.data_offsets as [number, number];
    const size = (e.shape as number[]).reduce((a, b) => a * b, 1);
    if (end - begin !== size * 4 || begin < 0 || base + end > buf.length) {
      fail(`tensor '${name}' spans bytes [${begin}, ${end}) of a ${buf.length - base}-byte data section, shape [${e.shape}]`);
    }
    // Copy: the result must not alias the file buffer and must be 4-byte aligned.
    const data = new Float32Array(size);
    Buffer.from(data.buffer).set(buf.subarray(base + begin, base + end));
    tensors[name] = { shape: [...(e.shape as number[])], data };
  }
  return { tensors, metadata };
}
