/**
 * Antialiased bicubic resampling on typed arrays, the algorithm of PIL's `Image.resize(...,
 * BICUBIC)` (Keys cubic with a = -0.5, support widened by the scale when shrinking, weights
 * normalised per output pixel, horizontal pass then vertical pass), computed in floating point
 * instead of PIL's 8-bit fixed point. `torch.nn.functional.interpolate(mode='bicubic',
 * antialias=True)` implements the same filter.
 */
import { ensureWasmMemory as ensureMemory, instantiateWasm as instantiate, type WasmMemory } from '@scrl/roi-align/wasm';
import { RESAMPLE_WASM_BASE64 } from './wasm/resample-wasm';
import { ScrlError } from '@scrl/util';

/** A rectangle of the source, in source pixels (integers for a crop). */
export interface Region {
  left: number;
  top: number;
  width: number;
  height: number;
}

interface Taps {
  /** First source index of each output pixel's window. */
  start: Int32Array;
  /** Window length of each output pixel. */
  count: Int32Array;
  /** `[outSize * maxCount]` normalised weights. */
  weights: Float32Array;
  maxCount: number;
}

function cubic(x: number): number {
  const a = -0.5;
  if (x < 0) x = -x;
  if (x < 1) return ((a + 2) * x - (a + 3)) * x * x + 1;
  if (x < 2) return (((x - 5) * x + 8) * x - 4) * a;
  return 0;
}

const tapCache = new Map<string, Taps>();

/** Filter windows for resampling `[offset, offset + inLength)` of a line of `inSize` to `outSize`. */
function taps(inSize: number, offset: number, inLength: number, outSize: number): Taps {
  if (!(Number.isInteger(offset) && Number.isInteger(inLength) && offset >= 0 && inLength >= 1 && offset + inLength <= inSize)) {
    throw new ScrlError(`Error in resampleBicubic: region [${offset}, ${offset + inLength}) must be integer pixels inside 0..${inSize}.`);
  }
  if (!(Number.isInteger(outSize) && outSize >= 1)) {
    throw new ScrlError(`Error in resampleBicubic: output size must be a positive integer, got ${outSize}.`);
  }
  const key = `${inSize},${offset},${inLength},${outSize}`;
  const hit = tapCache.get(key);
  if (hit) return hit;
  const scale = inLength / outSize;
  const filterScale = Math.max(scale, 1);
  const support = 2 * filterScale;
  const maxCount = Math.ceil(support) * 2 + 1;
  const start = new Int32Array(outSize);
  const count = new Int32Array(outSize);
  const weights = new Float32Array(outSize * maxCount);
  const ss = 1 / filterScale;
  // Windows are clamped to the region itself, as PIL resizes a crop (torchvision's resized_crop).
  for (let xx = 0; xx < outSize; xx++) {
    const center = (xx + 0.5) * scale;
    const xmin = Math.max(Math.trunc(center - support + 0.5), 0);
    const xmax = Math.min(Math.trunc(center + support + 0.5), inLength) - xmin;
    let total = 0;
    for (let x = 0; x < xmax; x++) {
      const w = cubic((x + xmin - center + 0.5) * ss);
      weights[xx * maxCount + x] = w;
      total += w;
    }
    if (total !== 0) for (let x = 0; x < xmax; x++) weights[xx * maxCount + x] /= total;
    start[xx] = offset + xmin;
    count[xx] = xmax;
  }
  const t = { start, count, weights, maxCount };
  if (tapCache.size > 4096) tapCache.clear();
  tapCache.set(key, t);
  return t;
}

/**
 * Resamples `region` of an HWC image with `channels` channels to `outWidth x outHeight`,
 * multiplying by `gain` (e.g. 1/255 to turn bytes into [0, 1] floats). When `flip` is set the
 * output is mirrored left-right; when `clamp` is set it is clamped to [0, 1] (as PIL's 8-bit
 * output is to [0, 255]). Returns a new Float32Array (HWC).
 *
 * 3-channel Uint8Array / Float32Array input runs in a small WebAssembly SIMD kernel
 * (src/wasm/resample.wat); anything else, or a runtime without wasm SIMD, in plain JavaScript.
 */
export function resampleBicubic(
  src: ArrayLike<number>,
  width: number,
  height: number,
  channels: number,
  region: Region,
  outWidth: number,
  outHeight: number,
  gain = 1,
  flip = false,
  clamp = false,
): Float32Array {
  if (channels === 3 && (src instanceof Uint8Array || src instanceof Float32Array) && wasmKernels() !== null) {
    return resampleWasm(src, width, height, region, outWidth, outHeight, gain, flip, clamp ? 0 : -Infinity, clamp ? 1 : Infinity);
  }
  const out = resampleBicubicJs(src, width, height, channels, region, outWidth, outHeight, gain, flip);
  if (clamp) for (let i = 0; i < out.length; i++) out[i] = out[i] < 0 ? 0 : out[i] > 1 ? 1 : out[i];
  return out;
}

interface Kernels {
  memory: WasmMemory;
  u8ToF32(src: number, stride: number, x0: number, y0: number, cols: number, rows: number, dst: number): void;
  horiz(src: number, rowLen: number, rows: number, start: number, count: number, weights: number, maxCount: number, outW: number, flip: number, dst: number): void;
  vert(tmp: number, lineLen: number, start: number, count: number, weights: number, maxCount: number, outH: number, rowLo: number, gain: number, lo: number, hi: number, dst: number): void;
}

let kernels: Kernels | null | undefined;
let enabled = true;

/** Turns the wasm resampling kernels off (plain JavaScript) or back on; for tests and comparisons. */
export function useResampleWasm(on: boolean): void {
  enabled = on;
}

/** The wasm kernels, instantiated once per thread; null where wasm SIMD is unavailable. */
function wasmKernels(): Kernels | null {
  if (!enabled) return null;
  if (kernels === undefined) kernels = instantiate<Kernels>(RESAMPLE_WASM_BASE64);
  return kernels;
}

/** Bump allocator over the wasm memory, 16-byte aligned with 16 bytes of slack per buffer. */
function layout(sizes: number[]): number[] {
  const offsets: number[] = [];
  let at = 16;
  for (const s of sizes) {
    offsets.push(at);
    at += Math.ceil((s + 16) / 16) * 16;
  }
  ensureMemory((kernels as Kernels).memory, at);
  return offsets;
}

function resampleWasm(
  src: Uint8Array | Float32Array,
  width: number,
  height: number,
  region: Region,
  outWidth: number,
  outHeight: number,
  gain: number,
  flip: boolean,
  clampLo: number,
  clampHi: number,
): Float32Array {
  const k = kernels as Kernels;
  const tx = taps(width, region.left, region.width, outWidth);
  const ty = taps(height, region.top, region.height, outHeight);
  const rowLo = ty.start[0];
  const rowHi = ty.start[outHeight - 1] + ty.count[outHeight - 1];
  const rows = rowHi - rowLo;
  const rowLen = region.width * 3;
  const isU8 = src instanceof Uint8Array;
  const [oSrc, oU8, oTmp, oOut, oXs, oXc, oXw, oYs, oYc, oYw] = layout([
    rows * rowLen * 4,
    isU8 ? rows * width * 3 : 0,
    rows * outWidth * 12,
    outHeight * outWidth * 12,
    outWidth * 4,
    outWidth * 4,
    tx.weights.length * 4,
    outHeight * 4,
    outHeight * 4,
    ty.weights.length * 4,
  ]);
  const buf = k.memory.buffer;
  if (isU8) {
    new Uint8Array(buf, oU8, rows * width * 3).set(src.subarray(rowLo * width * 3, rowHi * width * 3));
    k.u8ToF32(oU8, width * 3, region.left, 0, region.width, rows, oSrc);
  } else {
    const f = new Float32Array(buf, oSrc, rows * rowLen);
    if (region.left === 0 && region.width === width) {
      f.set(src.subarray(rowLo * rowLen, rowHi * rowLen));
    } else {
      for (let y = 0; y < rows; y++) {
        const s = ((rowLo + y) * width + region.left) * 3;
        f.set(src.subarray(s, s + rowLen), y * rowLen);
      }
    }
  }
  // Tap starts relative to the copied region (columns) and to row rowLo (rows).
  const xs = new Int32Array(buf, oXs, outWidth);
  for (let i = 0; i < outWidth; i++) xs[i] = tx.start[i] - region.left;
  new Int32Array(buf, oXc, outWidth).set(tx.count);
  new Float32Array(buf, oXw, tx.weights.length).set(tx.weights);
  new Int32Array(buf, oYs, outHeight).set(ty.start);
  new Int32Array(buf, oYc, outHeight).set(ty.count);
  new Float32Array(buf, oYw, ty.weights.length).set(ty.weights);
  k.horiz(oSrc, rowLen, rows, oXs, oXc, oXw, tx.maxCount, outWidth, flip ? 1 : 0, oTmp);
  k.vert(oTmp, outWidth * 3, oYs, oYc, oYw, ty.maxCount, outHeight, rowLo, gain, clampLo, clampHi, oOut);
  return new Float32Array(buf, oOut, outHeight * outWidth * 3).slice();
}

/** The same resampling in plain JavaScript (any channel count, any array type). */
export function resampleBicubicJs(
  src: ArrayLike<number>,
  width: number,
  height: number,
  channels: number,
  region: Region,
  outWidth: number,
  outHeight: number,
  gain = 1,
  flip = false,
): Float32Array {
  const tx = taps(width, region.left, region.width, outWidth);
  const ty = taps(height, region.top, region.height, outHeight);
  // Rows the vertical pass reads: only those need the horizontal pass.
  const rowLo = ty.start[0];
  const rowHi = ty.start[outHeight - 1] + ty.count[outHeight - 1];
  const rows = rowHi - rowLo;
  const tmp = new Float32Array(rows * outWidth * channels);
  const rowStride = width * channels;
  const xw = tx.weights;
  for (let y = 0; y < rows; y++) {
    const srcRow = (y + rowLo) * rowStride;
    const dstRow = y * outWidth * channels;
    for (let xx = 0; xx < outWidth; xx++) {
      const s = tx.start[xx];
      const n = tx.count[xx];
      const wo = xx * tx.maxCount;
      const d = dstRow + (flip ? outWidth - 1 - xx : xx) * channels;
      if (channels === 3) {
        let r = 0;
        let g = 0;
        let b = 0;
        let p = srcRow + s * 3;
        for (let k = 0; k < n; k++, p += 3) {
          const w = xw[wo + k];
          r += src[p] * w;
          g += src[p + 1] * w;
          b += src[p + 2] * w;
        }
        tmp[d] = r;
        tmp[d + 1] = g;
        tmp[d + 2] = b;
      } else {
        for (let c = 0; c < channels; c++) {
          let acc = 0;
          for (let k = 0; k < n; k++) acc += src[srcRow + (s + k) * channels + c] * xw[wo + k];
          tmp[d + c] = acc;
        }
      }
    }
  }
  const out = new Float32Array(outHeight * outWidth * channels);
  const lineLen = outWidth * channels;
  const yw = ty.weights;
  for (let yy = 0; yy < outHeight; yy++) {
    const s = (ty.start[yy] - rowLo) * lineLen;
    const n = ty.count[yy];
    const wo = yy * ty.maxCount;
    const d = yy * lineLen;
    // Accumulate in a register per output value: one write per value instead of one per tap.
    if (n === 4) {
      const w0 = yw[wo] * gain, w1 = yw[wo + 1] * gain, w2 = yw[wo + 2] * gain, w3 = yw[wo + 3] * gain;
      const r0 = s, r1 = s + lineLen, r2 = s + 2 * lineLen, r3 = s + 3 * lineLen;
      for (let i = 0; i < lineLen; i++) out[d + i] = tmp[r0 + i] * w0 + tmp[r1 + i] * w1 + tmp[r2 + i] * w2 + tmp[r3 + i] * w3;
    } else {
      for (let i = 0; i < lineLen; i++) {
        let acc = 0;
        for (let k = 0, r = s + i; k < n; k++, r += lineLen) acc += tmp[r] * yw[wo + k];
        out[d + i] = acc * gain;
      }
    }
  }
  return out;
}

/**
 * Same-size separable convolution of a 3-channel image that the caller has already padded by
 * `radius` pixels on every side: `padded` is `(height + 2r) x (width + 2r) x 3`, the result
 * `height x width x 3`, filtered by `kernel` (2r + 1 taps) along x then y. Runs in the wasm
 * kernel; returns null where wasm SIMD is unavailable (the caller then filters in JavaScript).
 */
export function convolvePaddedWasm(padded: Float32Array, width: number, height: number, kernel: Float32Array): Float32Array | null {
  const k = wasmKernels();
  if (k === null) return null;
  const n = kernel.length;
  const r = (n - 1) / 2;
  const pw = width + 2 * r;
  const ph = height + 2 * r;
  const [oSrc, oTmp, oOut, oXs, oXc, oW, oYs, oYc] = layout([
    ph * pw * 12,
    ph * width * 12,
    height * width * 12,
    width * 4,
    width * 4,
    Math.max(width, height) * n * 4,
    height * 4,
    height * 4,
  ]);
  const buf = k.memory.buffer;
  new Float32Array(buf, oSrc, ph * pw * 3).set(padded);
  const xs = new Int32Array(buf, oXs, width);
  const xc = new Int32Array(buf, oXc, width);
  for (let i = 0; i < width; i++) {
    xs[i] = i;
    xc[i] = n;
  }
  const ys = new Int32Array(buf, oYs, height);
  const yc = new Int32Array(buf, oYc, height);
  for (let i = 0; i < height; i++) {
    ys[i] = i;
    yc[i] = n;
  }
  const w = new Float32Array(buf, oW, Math.max(width, height) * n);
  for (let i = 0; i < Math.max(width, height); i++) w.set(kernel, i * n);
  k.horiz(oSrc, pw * 3, ph, oXs, oXc, oW, n, width, 0, oTmp);
  k.vert(oTmp, width * 3, oYs, oYc, oW, n, height, 0, 1, -Infinity, Infinity, oOut);
  return new Float32Array(buf, oOut, height * width * 3).slice();
}
