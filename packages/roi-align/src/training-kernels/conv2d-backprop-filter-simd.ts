/**
 * `Conv2DBackpropFilter` on wasm as a WebAssembly SIMD loop over the heap (built in memory, see
 * runtime/wasm-encode.ts), for input channels a multiple of 4 and output channels a multiple of 8
 * (other counts on zero-padded copies):
 *
 *   dw[kh, kw, ci, co] = Σ_{n, oh, ow} x[n, oh·s + kh − pad, ow·s + kw − pad, ci] · dy[n, oh, ow, co]
 *
 * accumulated directly from x and dy (no im2col buffer, no transposes): for each filter tap and
 * image, over the output positions that read inside x, a block of 4 input x 8 output channels is
 * held in eight f32x4 accumulators (one broadcast x value times two dy vectors per position),
 * then added into dw. Float32 sums, as XNNPACK's (in a different order).
 */
import * as tf from '@tensorflow/tfjs-core';
import { instanceOnMemory, W, wasmModuleBytes, type WasmMemory } from '../runtime/wasm';
import { allocate, convGeometry, release, view } from './kernel-utils';

const { I32, V128, get, set, i32c, add32, mul32, geU, block, loop, end, br, brIf, load, loadSplat, store, f32x4Add, f32x4Mul, zero128 } = W;

/**
 * tap(x, dy, dw, rows, xRow, dyRow, cols, xCol, ci, co): for this tap and image,
 * dw[i, j] += Σ_{r < rows, c < cols} x[x + r·xRow + c·xCol + 4i] · dy[dy + r·dyRow + c·4co + 4j]
 * (byte addresses and strides; dw is the tap's [ci, co] block).
 */
function tapFunction(): number[] {
  const [x, dy, dw, rows, xRow, dyRow, cols, xCol, ci, co] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9];
  // i32 locals
  const [i0, j0, xr, dr, r, xp, dp, dEnd, coBytes, aBase] = [10, 11, 12, 13, 14, 15, 16, 17, 18, 19];
  // v128 locals: eight accumulators, two dy vectors, one broadcast
  const acc = [20, 21, 22, 23, 24, 25, 26, 27];
  const [d0, d1, s] = [28, 29, 30];
  const code: number[] = [];
  code.push(...get(co), ...i32c(4), ...mul32, ...set(coBytes));
  code.push(...i32c(0), ...set(i0));
  code.push(...block, ...loop); // over i0 (input channel blocks of 4)
  code.push(...get(i0), ...get(ci), ...geU, ...brIf(1));
  code.push(...i32c(0), ...set(j0));
  code.push(...block, ...loop); // over j0 (output channel blocks of 8)
  code.push(...get(j0), ...get(co), ...geU, ...brIf(1));
  for (const a of acc) code.push(...zero128, ...set(a));
  // xr = x + 4·i0, dr = dy + 4·j0, r = 0
  code.push(...get(x), ...get(i0), ...i32c(4), ...mul32, ...add32, ...set(xr));
  code.push(...get(dy), ...get(j0), ...i32c(4), ...mul32, ...add32, ...set(dr));
  code.push(...i32c(0), ...set(r));
  code.push(...block, ...loop); // over rows
  code.push(...get(r), ...get(rows), ...geU, ...brIf(1));
  code.push(...get(xr), ...set(xp), ...get(dr), ...set(dp));
  code.push(...get(dr), ...get(cols), ...get(coBytes), ...mul32, ...add32, ...set(dEnd));
  code.push(...block, ...loop); // over columns
  code.push(...get(dp), ...get(dEnd), ...geU, ...brIf(1));
  code.push(...get(dp), ...load(0), ...set(d0), ...get(dp), ...load(16), ...set(d1));
  for (let k = 0; k < 4; k++) {
    code.push(...get(xp), ...loadSplat(4 * k), ...set(s));
    code.push(...get(acc[2 * k]), ...get(s), ...get(d0), ...f32x4Mul, ...f32x4Add, ...set(acc[2 * k]));
    code.push(...get(acc[2 * k + 1]), ...get(s), ...get(d1), ...f32x4Mul, ...f32x4Add, ...set(acc[2 * k + 1]));
  }
  code.push(...get(xp), ...get(xCol), ...add32, ...set(xp));
  code.push(...get(dp), ...get(coBytes), ...add32, ...set(dp));
  code.push(...br(0), ...end, ...end); // columns
  code.push(...get(xr), ...get(xRow), ...add32, ...set(xr));
  code.push(...get(dr), ...get(dyRow), ...add32, ...set(dr));
  code.push(...get(r), ...i32c(1), ...add32, ...set(r));
  code.push(...br(0), ...end, ...end); // rows
  // dw[(i0 + k)·co + j0 ...] += acc
  code.push(...get(dw), ...get(i0), ...get(coBytes), ...mul32, ...add32, ...get(j0), ...i32c(4), ...mul32, ...add32, ...set(aBase));
  for (let k = 0; k < 4; k++) {
    for (let h = 0; h < 2; h++) {
      const off = 16 * h;
      code.push(...get(aBase), ...get(aBase), ...load(off), ...get(acc[2 * k + h]), ...f32x4Add, ...store(off));
    }
    code.push(...get(aBase), ...get(coBytes), ...add32, ...set(aBase));
  }
  code.push(...get(j0), ...i32c(8), ...add32, ...set(j0));
  code.push(...br(0), ...end, ...end); // j0
  code.push(...get(i0), ...i32c(4), ...add32, ...set(i0));
  code.push(...br(0), ...end, ...end); // i0
  return code;
}

interface TapKernel {
  tap(x: number, dy: number, dw: number, rows: number, xRow: number, dyRow: number, cols: number, xCol: number, ci: number, co: number): void;
}

const instances = new WeakMap<WasmMemory, TapKernel | null>();

function tapKernelFor(memory: WasmMemory): TapKernel | null {
  return instanceOnMemory(instances, memory, () => wasmModuleBytes([{ name: 'tap', params: 10, locals: [[10, I32], [11, V128]], code: tapFunction() }]));
}

interface WasmBackendLike extends tf.KernelBackend {
  wasm?: { asm?: { memory?: WasmMemory } };
}

/**
 * Channel counts padded for the SIMD loop: input channels to a multiple of 4, output channels to
 * a multiple of 8, or null where the padding would waste more than it saves (the zero channels
 * are computed too): at most 8x the work (the detection head's 1 output channel).
 */
function paddedChannels(ci: number, co: number): [number, number] | null {
  const ciP = Math.ceil(ci / 4) * 4;
  const coP = Math.ceil(co / 8) * 8;
  return (ciP * coP) / (ci * co) <= 8 ? [ciP, coP] : null;
}

/** `src` [rows, c] into `dst` [rows, cP] (the extra channels stay 0). */
function padChannels(src: Float32Array, dst: Float32Array, c: number, cP: number): void {
  const rows = src.length / c;
  for (let r = 0; r < rows; r++) {
    const s = r * c;
    const d = r * cP;
    for (let k = 0; k < c; k++) dst[d + k] = src[s + k];
  }
}

/**
 * The SIMD weight gradient on wasm, or null where it does not apply (another backend, no SIMD,
 * dtypes, channel counts whose padding would cost too much). Channel counts that are not
 * multiples of 4 (input) and 8 (output) run on zero-padded copies of x and dy (the stem's 3 input
 * channels, the detection head's 1, 4 and 5 output channels).
 */
export function conv2dBackpropFilterSimd(args: { inputs: tf.NamedTensorInfoMap; backend: tf.KernelBackend; attrs: tf.NamedAttrMap }): tf.TensorInfo | null {
  const { inputs, backend } = args;
  const attrs = args.attrs as unknown as tf.Conv2DBackpropFilterAttrs;
  const { x, dy } = inputs as { x: tf.TensorInfo; dy: tf.TensorInfo };
  const memory = (backend as WasmBackendLike).wasm?.asm?.memory;
  if (!memory || x.dtype !== 'float32' || dy.dtype !== 'float32') return null;
  const g = convGeometry('Conv2DBackpropFilter', x.shape, attrs.filterShape, attrs);
  if (dy.shape[1] !== g.outHeight || dy.shape[2] !== g.outWidth || dy.shape[3] !== g.outChannels) {
    throw new Error(
      `Error in Conv2DBackpropFilter: dy has shape [${dy.shape}] but x [${x.shape}] with filter ` +
        `[${attrs.filterShape}] gives outputs [${g.batch},${g.outHeight},${g.outWidth},${g.outChannels}].`,
    );
  }
  const padded = paddedChannels(g.inChannels, g.outChannels);
  if (!padded) return null;
  const kernel = tapKernelFor(memory);
  if (!kernel) return null;
  const { batch, inHeight: H, inWidth: Wd, inChannels: ci, outHeight: OH, outWidth: OW, outChannels: co } = g;
  const { filterHeight: KH, filterWidth: KW, strideHeight: sh, strideWidth: sw, padTop, padLeft } = g;
  const [ciP, coP] = padded;
  // Everything allocated before any view is taken (an allocation can grow the heap).
  const temps: tf.TensorInfo[] = [];
  const xP = ciP === ci ? x : allocate(backend, [batch, H, Wd, ciP], 'float32').info;
  const dyP = coP === co ? dy : allocate(backend, [batch, OH, OW, coP], 'float32').info;
  const dwP = allocate(backend, [KH, KW, ciP, coP], 'float32').info; // zero-filled
  const dw = ciP === ci && coP === co ? dwP : allocate(backend, [KH, KW, ci, co], 'float32').info;
  for (const t of [xP, dyP, dwP]) if (t !== x && t !== dy && t !== dw) temps.push(t);
  try {
    const f32 = (t: tf.TensorInfo) => view(backend, t) as Float32Array;
    if (xP !== x) padChannels(f32(x), f32(xP), ci, ciP);
    if (dyP !== dy) padChannels(f32(dy), f32(dyP), co, coP);
    const xb = f32(xP).byteOffset;
    const dyb = f32(dyP).byteOffset;
    const dwb = f32(dwP).byteOffset;
    for (let kh = 0; kh < KH; kh++) {
      // Output rows whose input row oh·sh + kh − padTop lies in [0, H).
      const oh0 = Math.max(0, Math.ceil((padTop - kh) / sh));
      const oh1 = Math.min(OH, Math.floor((H - 1 + padTop - kh) / sh) + 1);
      if (oh1 <= oh0) continue;
      for (let kw = 0; kw < KW; kw++) {
        const ow0 = Math.max(0, Math.ceil((padLeft - kw) / sw));
        const ow1 = Math.min(OW, Math.floor((Wd - 1 + padLeft - kw) / sw) + 1);
        if (ow1 <= ow0) continue;
        const tapOut = dwb + (kh * KW + kw) * ciP * coP * 4;
        for (let n = 0; n < batch; n++) {
          const ih = oh0 * sh + kh - padTop;
          const iw = ow0 * sw + kw - padLeft;
          const xStart = xb + ((n * H + ih) * Wd + iw) * ciP * 4;
          const dyStart = dyb + ((n * OH + oh0) * OW + ow0) * coP * 4;
          kernel.tap(xStart, dyStart, tapOut, oh1 - oh0, sh * Wd * ciP * 4, OW * coP * 4, ow1 - ow0, sw * ciP * 4, ciP, coP);
        }
      }
    }
    if (dw !== dwP) {
      // dw[tap, i, j] = dwP[tap, i, j] for the real channels.
      const src = f32(dwP);
      const dst = f32(dw);
      for (let t = 0; t < KH * KW; t++) {
        for (let i = 0; i < ci; i++) {
          const s = (t * ciP + i) * coP;
          const d = (t * ci + i) * co;
          for (let j = 0; j < co; j++) dst[d + j] = src[s + j];
        }
      }
    }
    return dw;
  } finally {
    for (const t of temps) release(backend, t);
  }
}
