/**
 * A small reader/writer for the safetensors format (huggingface/safetensors): an 8-byte
 * little-endian header length N, N bytes of JSON `{ name: { dtype, shape, data_offsets } }`
 * (plus optional `__metadata__`), then the raw little-endian data, offsets relative to its start.
 */
import { ScrlError } from '@scrl/util';

/** dtypes this reader understands; F16, BF16 and F64 are widened/narrowed to float32 on read. */
export type SafetensorsDtype = 'F32' | 'F16' | 'BF16' | 'F64' | 'I64' | 'I32';

/** One tensor as plain data: float32 for floating dtypes, BigInt64Array for I64, Int32Array for I32. */
export type SafetensorsTensor =
  | { dtype: 'F32'; shape: number[]; data: Float32Array }
  | { dtype: 'I64'; shape: number[]; data: BigInt64Array }
  | { dtype: 'I32'; shape: number[]; data: Int32Array };

export interface SafetensorsFile {
  tensors: Map<string, SafetensorsTensor>;
  /** The `__metadata__` string map, {} when absent. */
  metadata: Record<string, string>;
}

const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

const BYTES: Record<SafetensorsDtype, number> = { F32: 4, F16: 2, BF16: 2, F64: 8, I64: 8, I32: 4 };

function halfToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const frac = h & 0x3ff;
  if (exp === 0) return sign * frac * 2 ** -24;
  if (exp === 31) return frac ? NaN : sign * Infinity;
  return sign * (1 + frac / 1024) * 2 ** (exp - 15);
}

/**
 * Fails naming both tensors when two byte ranges of a header overlap (the format lays tensors
 * out one after another; overlapping ranges mean a corrupt or crafted file).
 */
function checkNoOverlap(fn: string, header: Record<string, unknown>): void {
  const ranges = Object.entries(header)
    .filter(([name]) => name !== '__metadata__')
    .map(([name, e]) => ({ name, offsets: (e as { data_offsets?: unknown })?.data_offsets }))
    .filter((r): r is { name: string; offsets: [number, number] } => Array.isArray(r.offsets) && r.offsets.length === 2)
    .sort((a, b) => a.offsets[0] - b.offsets[0] || a.offsets[1] - b.offsets[1]);
  for (let i = 1; i < ranges.length; i++) {
    const [prev, cur] = [ranges[i - 1], ranges[i]];
    if (cur.offsets[0] < prev.offsets[1]) {
      throw new Error(
        `${fn}: tensors '${prev.name}' [${prev.offsets.join(', ')}] and '${cur.name}' [${cur.offsets.join(', ')}] have overlapping data_offsets; the file is corrupt.`,
      );
    }
  }
}

/**
 * Parses safetensors bytes. Fails, naming the tensor, on an unknown dtype, a shape that does not
 * match its byte range, or a range outside the file.
 */
export function readSafetensors(bytes: Uint8Array): SafetensorsFile {
  if (!(bytes instanceof Uint8Array)) {
    throw new ScrlError(`Error in readSafetensors: bytes must be a Uint8Array (e.g. fs.readFileSync(path)), got ${typeof bytes}.`);
  }
  if (bytes.byteLength < 8) {
    throw new ScrlError(`Error in readSafetensors: ${bytes.byteLength} bytes is too short for a safetensors file (8-byte header length).`);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerLen = Number(view.getBigUint64(0, true));
  if (headerLen > bytes.byteLength - 8) {
    throw new ScrlError(
      `Error in readSafetensors: header length ${headerLen} exceeds the ${bytes.byteLength - 8} bytes after it; not a safetensors file?`,
    );
  }
  let header: Record<string, unknown>;
  try {
    header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + headerLen))) as Record<string, unknown>;
  } catch (err) {
    throw new ScrlError(`Error in readSafetensors: header is not valid JSON (${(err as Error).message}); not a safetensors file?`);
  }
  const dataStart = 8 + headerLen;
  const dataLen = bytes.byteLength - dataStart;
  const tensors = new Map<string, SafetensorsTensor>();
  let metadata: Record<string, string> = {};
  checkNoOverlap('readSafetensors', header);
  for (const [name, entry] of Object.entries(header)) {
    if (name === '__metadata__') {
      metadata = (entry ?? {}) as Record<string, string>;
      continue;
    }
    const { dtype, shape, data_offsets: offsets } = entry as { dtype: string; shape: number[]; data_offsets: [number, number] };
    if (!(dtype in BYTES)) {
      throw new ScrlError(`Error in readSafetensors: tensor '${name}' has dtype ${dtype}; supported: ${Object.keys(BYTES).join(', ')}.`);
    }
    const d = dtype as SafetensorsDtype;
    if (!Array.isArray(shape) || !Array.isArray(offsets) || offsets.length !== 2) {
      throw new ScrlError(`Error in readSafetensors: tensor '${name}' lacks a shape or data_offsets in the header.`);
    }
    const count = shape.reduce((a, b) => a * b, 1);
    const [begin, end] = offsets;
    if (!(begin >= 0 && end >= begin && end <= dataLen) || end - begin !== count * BYTES[d]) {
      throw new ScrlError(
        `Error in readSafetensors: tensor '${name}' (${d}, shape [${shape.join(', ')}]) has data_offsets [${begin}, ${end}], ` +
          `which do not hold ${count * BYTES[d]} bytes inside the ${dataLen}-byte data section.`,
      );
    }
    // A view of just this tensor's bytes (fs Buffers are views into larger pools, so offsets matter).
    const src = bytes.subarray(dataStart + begin, dataStart + end);
    const dv = new DataView(src.buffer, src.byteOffset, src.byteLength);
    if (d === 'I64') {
      const data = new BigInt64Array(count);
      for (let i = 0; i < count; i++) data[i] = dv.getBigInt64(i * 8, true);
      tensors.set(name, { dtype: 'I64', shape: shape.slice(), data });
    } else if (d === 'I32') {
      const data = new Int32Array(count);
      for (let i = 0; i < count; i++) data[i] = dv.getInt32(i * 4, true);
      tensors.set(name, { dtype: 'I32', shape: shape.slice(), data });
    } else {
      const data = new Float32Array(count);
      if (d === 'F32' && LITTLE_ENDIAN) new Uint8Array(data.buffer).set(src);
      else if (d === 'F32') for (let i = 0; i < count; i++) data[i] = dv.getFloat32(i * 4, true);
      else if (d === 'F64') for (let i = 0; i < count; i++) data[i] = dv.getFloat64(i * 8, true);
      else if (d === 'F16') for (let i = 0; i < count; i++) data[i] = halfToFloat(dv.getUint16(i * 2, true));
      else {
        const bits = new Uint32Array(1);
        const asFloat = new Float32Array(bits.buffer);
        for (let i = 0; i < count; i++) {
          bits[0] = dv.getUint16(i * 2, true) << 16;
          data[i] = asFloat[0];
        }
      }
      tensors.set(name, { dtype: 'F32', shape: shape.slice(), data });
    }
  }
  return { tensors, metadata };
}

/**
 * Serialises tensors (F32, I64, I32) to safetensors bytes, in the given order, header padded with
 * spaces to 8 bytes as the reference implementation does.
 */
export function writeSafetensors(
  tensors: Map<string, SafetensorsTensor> | Record<string, SafetensorsTensor>,
  metadata?: Record<string, string>,
): Uint8Array {
  const entries = tensors instanceof Map ? [...tensors.entries()] : Object.entries(tensors);
  const header: Record<string, unknown> = {};
  if (metadata && Object.keys(metadata).length > 0) header.__metadata__ = metadata;
  let offset = 0;
  for (const [name, t] of entries) {
    if (name === '__metadata__') throw new ScrlError(`Error in writeSafetensors: '__metadata__' is reserved and cannot name a tensor.`);
    if (!(t.dtype === 'F32' || t.dtype === 'I64' || t.dtype === 'I32')) {
      throw new ScrlError(`Error in writeSafetensors: tensor '${name}' has dtype ${String((t as { dtype: unknown }).dtype)}; write F32, I64 or I32.`);
    }
    const count = t.shape.reduce((a, b) => a * b, 1);
    if (t.data.length !== count) {
      throw new ScrlError(
        `Error in writeSafetensors: tensor '${name}' has shape [${t.shape.join(', ')}] (${count} values) but ${t.data.length} values.`,
      );
    }
    const size = count * BYTES[t.dtype];
    header[name] = { dtype: t.dtype, shape: t.shape, data_offsets: [offset, offset + size] };
    offset += size;
  }
  let json = JSON.stringify(header);
  const encoder = new TextEncoder();
  const pad = (8 - ((encoder.encode(json).length + 8) % 8)) % 8;
  json += ' '.repeat(pad);
  const headerBytes = encoder.encode(json);
  const out = new Uint8Array(8 + headerBytes.length + offset);
  const view = new DataView(out.buffer);
  view.setBigUint64(0, BigInt(headerBytes.length), true);
  out.set(headerBytes, 8);
  let pos = 8 + headerBytes.length;
  for (const [, t] of entries) {
    if (t.dtype === 'F32' && LITTLE_ENDIAN) {
      out.set(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength), pos);
      pos += t.data.byteLength;
    } else if (t.dtype === 'F32') for (let i = 0; i < t.data.length; i++, pos += 4) view.setFloat32(pos, t.data[i], true);
    else if (t.dtype === 'I32') for (let i = 0; i < t.data.length; i++, pos += 4) view.setInt32(pos, t.data[i], true);
    else for (let i = 0; i < t.data.length; i++, pos += 8) view.setBigInt64(pos, t.data[i], true);
  }
  return out;
}

/** A float32 tensor as plain data: row-major values and a shape. */
export interface TensorRecord {
  shape: number[];
  data: Float32Array;
}

/** Float32 tensors by name, the form checkpoints and exports use. */
export type TensorDict = Record<string, TensorRecord>;

/**
 * {@link writeSafetensors} for a {@link TensorDict}: names sorted, so a file's bytes depend on
 * its contents only. Returns a Node Buffer in Node, and the plain Uint8Array (typed as a Buffer,
 * whose Uint8Array part it has) in a browser, where there is no Buffer.
 */
export function encodeSafetensors(tensors: TensorDict, metadata: Record<string, string> = {}): Buffer {
  const names = Object.keys(tensors).sort();
  const entries = new Map<string, SafetensorsTensor>();
  for (const name of names) {
    const { shape, data } = tensors[name];
    if (!(data instanceof Float32Array)) {
      throw new ScrlError(`Error in encodeSafetensors: tensor '${name}' must hold a Float32Array; convert it with Float32Array.from.`);
    }
    entries.set(name, { dtype: 'F32', shape, data });
  }
  const bytes = writeSafetensors(entries, metadata);
  const NodeBuffer = (globalThis as { Buffer?: typeof Buffer }).Buffer;
  return NodeBuffer ? NodeBuffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength) : (bytes as Buffer);
}

/**
 * {@link readSafetensors} into a {@link TensorDict} (floating dtypes as float32); `source` names
 * the file in errors. Integer tensors are refused: a TensorDict holds float32 only.
 */
export function decodeSafetensors(buf: Uint8Array, source = 'buffer'): { tensors: TensorDict; metadata: Record<string, string> } {
  const fail = (what: string): never => {
    throw new ScrlError(`Error in decodeSafetensors: ${source} is not a valid safetensors file: ${what}`);
  };
  let file: SafetensorsFile;
  try {
    file = readSafetensors(buf);
  } catch (err) {
    return fail((err as Error).message.replace(/^(Error in )?readSafetensors: /, ''));
  }
  const tensors: TensorDict = {};
  for (const [name, t] of file.tensors) {
    if (t.dtype !== 'F32') fail(`tensor '${name}' has dtype ${t.dtype}; only floating tensors are supported.`);
    tensors[name] = { shape: t.shape, data: t.data as Float32Array };
  }
  return { tensors, metadata: file.metadata };
}
