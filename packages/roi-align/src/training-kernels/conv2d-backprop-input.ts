/**
 * `Conv2DBackpropInput` (the input gradient of conv2d) as forward `Conv2D`s of the backend.
 *
 * The input gradient of y = conv2d(x, w, stride s, pad p) is
 *   dx[n, ih, iw, ci] = sum over (kh, kw, co) with ih + p_top = oh*s + kh, iw + p_left = ow*s + kw
 *                       of dy[n, oh, ow, co] * w[kh, kw, ci, co].
 * Textbook: correlate dy, zero-upsampled by s, with the flipped, channel-swapped filter. For
 * s > 1 most of those products hit inserted zeros, so we split by phase instead (sub-pixel
 * convolution): the input rows with (ih + p_top) mod s = r only meet filter rows kh = r, r + s,
 * r + 2s, ..., so for each of the s*s phases (r, c)
 *   dx[n, ih(q), iw(t), :] = conv2d(dy, g_rc, stride 1)[n, q, t, :],
 *   g_rc[i, j, co, ci] = w[r + s*(A_r - 1 - i), c + s*(A_c - 1 - j), ci, co]  (A_r taps of phase r),
 * and the phase outputs interleave into dx. That is the exact number of multiply-adds, all in
 * XNNPACK on wasm, whose stock kernel is a scalar loop. For s = 1 there is one phase: the full
 * correlation of dy with the flipped filter.
 */
import * as tf from '@tensorflow/tfjs-core';
import { instanceOnMemory, W, wasmModuleBytes, type WasmMemory } from '../runtime/wasm';
import { allocate, convGeometry, release, runBackendKernel, view } from './kernel-utils';

/** A WebAssembly loop that copies pixels of the heap, 16 bytes at a time (built in memory). */
interface PixelCopy {
  /** Copies `count` pixels of `pixelBytes` (a multiple of 16) from src (contiguous) to dst, `dstStep` bytes apart. */
  pixels(src: number, dst: number, count: number, pixelBytes: number, dstStep: number): void;
}

function pixelCopyFunction(): number[] {
  const { get, set, i32c, add32, mul32, geU, block, loop, end, br, brIf, load, store } = W;
  const [src, dst, count, pixelBytes, dstStep, endL, c] = [0, 1, 2, 3, 4, 5, 6];
  return [
    ...get(src), ...get(count), ...get(pixelBytes), ...mul32, ...add32, ...set(endL),
    ...block, ...loop,
    ...get(src), ...get(endL), ...geU, ...brIf(1),
    ...i32c(0), ...set(c),
    ...block, ...loop,
    ...get(c), ...get(pixelBytes), ...geU, ...brIf(1),
    ...get(dst), ...get(c), ...add32, ...get(src), ...get(c), ...add32, ...load(), ...store(),
    ...get(c), ...i32c(16), ...add32, ...set(c),
    ...br(0), ...end, ...end,
    ...get(src), ...get(pixelBytes), ...add32, ...set(src),
    ...get(dst), ...get(dstStep), ...add32, ...set(dst),
    ...br(0), ...end, ...end,
  ];
}

const pixelCopies = new WeakMap<WasmMemory, PixelCopy | null>();

function pixelCopyFor(memory: WasmMemory): PixelCopy | null {
  return instanceOnMemory(pixelCopies, memory, () => wasmModuleBytes([{ name: 'pixels', params: 5, locals: [[2, W.I32]], code: pixelCopyFunction() }]));
}

/** One dimension of one phase: which filter taps, and how its outputs map to dx. */
interface Phase {
  /** Phase r: filter taps r, r + s, ... */
  r: number;
  /** Number of taps A_r (0: this phase of dx only gets zeros). */
  taps: number;
  /** First and count of q: dx index = s*q + r - pad. */
  qMin: number;
  count: number;
  /** Padding of dy for the stride-1 conv (negative: that many outputs are dropped). */
  before: number;
  after: number;
}

function phases(inSize: number, outSize: number, kernel: number, stride: number, pad: number): Phase[] {
  const list: Phase[] = [];
  for (let r = 0; r < stride; r++) {
    const taps = kernel > r ? Math.ceil((kernel - r) / stride) : 0;
    const qMin = Math.ceil((pad - r) / stride);
    const qMax = Math.floor((inSize - 1 + pad - r) / stride);
    const count = Math.max(0, qMax - qMin + 1);
    const before = taps - 1 - qMin;
    const after = count + taps - 1 - outSize - before;
    list.push({ r, taps, qMin, count, before, after });
  }
  return list;
}

/** dst[dOff + o*rows + r] = src[sOff + r*cols + o], in 32x32 blocks to stay in cache. */
function transposeInto(src: Float32Array, sOff: number, rows: number, cols: number, dst: Float32Array, dOff: number): void {
  const B = 32;
  for (let r0 = 0; r0 < rows; r0 += B) {
    const r1 = Math.min(r0 + B, rows);
    for (let c0 = 0; c0 < cols; c0 += B) {
      const c1 = Math.min(c0 + B, cols);
      for (let r = r0; r < r1; r++) {
        const sRow = sOff + r * cols;
        for (let c = c0; c < c1; c++) dst[dOff + c * rows + r] = src[sRow + c];
      }
    }
  }
}

/**
 * Writes one stride phase's output into dx: output pixel (n, q + dropTop, t + dropLeft) goes to
 * dx pixel (n, rowStart + rowStride*q, colStart + colStride*t), ci channels each. A function of
 * its own so that V8 optimises the loop once, not by on-stack replacement on every call; a plain
 * loop per pixel, since a subarray per pixel (an allocation each) made the interleave cost more
 * than the convolutions (40 ms for [16, 64, 64, 8]). On wasm, with `copy` (`res` and `target`
 * views of the heap that `copy` works on) and channels a multiple of 4, the copies run in
 * WebAssembly SIMD, a row of pixels per call.
 */
function interleavePhase(
  res: Float32Array,
  target: Float32Array,
  p: {
    batch: number;
    outH: number;
    outW: number;
    inH: number;
    inW: number;
    ci: number;
    rowStart: number;
    rowStride: number;
    rows: number;
    colStart: number;
    colStride: number;
    cols: number;
    dropTop: number;
    dropLeft: number;
  },
  copy: PixelCopy | null,
): void {
  const { batch, outH, outW, inH, inW, ci, rowStart, rowStride, rows, colStart, colStride, cols, dropTop, dropLeft } = p;
  const dstStep = colStride * ci;
  if (copy && ci % 4 === 0) {
    // Both arrays are views of the wasm heap: a row of pixels per call, 16 bytes per copy.
    for (let n = 0; n < batch; n++) {
      for (let q = 0; q < rows; q++) {
        const s0 = ((n * outH + q + dropTop) * outW + dropLeft) * ci;
        const d0 = ((n * inH + rowStart + rowStride * q) * inW + colStart) * ci;
        copy.pixels(res.byteOffset + 4 * s0, target.byteOffset + 4 * d0, cols, 4 * ci, 4 * dstStep);
      }
    }
    return;
  }
  for (let n = 0; n < batch; n++) {
    for (let q = 0; q < rows; q++) {
      let s0 = ((n * outH + q + dropTop) * outW + dropLeft) * ci;
      let d0 = ((n * inH + rowStart + rowStride * q) * inW + colStart) * ci;
      for (let t = 0; t < cols; t++) {
        for (let c = 0; c < ci; c++) target[d0 + c] = res[s0 + c];
        s0 += ci;
        d0 += dstStep;
      }
    }
  }
}

export function conv2dBackpropInputViaConv2D(args: {
  inputs: tf.NamedTensorInfoMap;
  backend: tf.KernelBackend;
  attrs: tf.NamedAttrMap;
}): tf.TensorInfo {
  const { inputs, backend } = args;
  const attrs = args.attrs as unknown as tf.Conv2DBackpropInputAttrs;
  const { dy, filter } = inputs as { dy: tf.TensorInfo; filter: tf.TensorInfo };
  const g = convGeometry('Conv2DBackpropInput', attrs.inputShape, filter.shape, attrs);
  if (dy.shape[0] !== g.batch || dy.shape[1] !== g.outHeight || dy.shape[2] !== g.outWidth || dy.shape[3] !== g.outChannels) {
    throw new Error(
      `Error in Conv2DBackpropInput: dy has shape [${dy.shape}] but inputShape [${attrs.inputShape}] with filter ` +
        `[${filter.shape}] gives outputs [${g.batch},${g.outHeight},${g.outWidth},${g.outChannels}].`,
    );
  }
  const { strideHeight: sh, strideWidth: sw, filterHeight: kh, filterWidth: kw } = g;
  const ci = g.inChannels;
  const co = g.outChannels;
  const rows = phases(g.inHeight, g.outHeight, kh, sh, g.padTop);
  const cols = phases(g.inWidth, g.outWidth, kw, sw, g.padLeft);
  const single = sh === 1 && sw === 1 && rows[0].before >= 0 && rows[0].after >= 0 && cols[0].before >= 0 && cols[0].after >= 0;

  const dx = single ? null : allocate(backend, [g.batch, g.inHeight, g.inWidth, ci], 'float32');
  const memory = (backend as { wasm?: { asm?: { memory?: WasmMemory } } }).wasm?.asm?.memory;
  const copy = !single && memory ? pixelCopyFor(memory) : null;
  for (const pr of rows) {
    for (const pc of cols) {
      if (pr.taps === 0 || pc.taps === 0 || pr.count === 0 || pc.count === 0) continue; // zeros
      const temps: tf.TensorInfo[] = [];
      try {
        // Sub-filter of this phase, flipped, channels swapped: [A_r, A_c, co, ci].
        const sub = allocate(backend, [pr.taps, pc.taps, co, ci], 'float32');
        temps.push(sub.info);
        const w = view(backend, filter) as Float32Array;
        for (let i = 0; i < pr.taps; i++) {
          for (let j = 0; j < pc.taps; j++) {
            const fr = pr.r + sh * (pr.taps - 1 - i);
            const fc = pc.r + sw * (pc.taps - 1 - j);
            transposeInto(w, (fr * kw + fc) * ci * co, ci, co, sub.data, (i * pc.taps + j) * co * ci);
          }
        }
        const out = runBackendKernel('Conv2D', backend, { x: dy, filter: sub.info }, {
          strides: [1, 1],
          pad: [
            [0, 0],
            [Math.max(pr.before, 0), Math.max(pr.after, 0)],
            [Math.max(pc.before, 0), Math.max(pc.after, 0)],
            [0, 0],
          ],
          dataFormat: 'NHWC',
          dilations: [1, 1],
          dimRoundingMode: 'floor',
        } as unknown as tf.NamedAttrMap);
        if (single) return out;
        temps.push(out);
        // Interleave: output (q - qMin + dropped) of this phase is dx row s*q + r - pad.
        const outH = out.shape[1];
        const outW = out.shape[2];
        const dropTop = Math.max(0, -pr.before);
        const dropLeft = Math.max(0, -pc.before);
        const res = view(backend, out) as Float32Array;
        const target = view(backend, (dx as { info: tf.TensorInfo }).info) as Float32Array;
        interleavePhase(res, target, {
          batch: g.batch,
          outH,
          outW,
          inH: g.inHeight,
          inW: g.inWidth,
          ci,
          rowStart: pr.r - g.padTop + sh * pr.qMin,
          rowStride: sh,
          rows: pr.count,
          colStart: pc.r - g.padLeft + sw * pc.qMin,
          colStride: sw,
          cols: pc.count,
          dropTop,
          dropLeft,
        }, copy);
      } finally {
        for (const t of temps) release(backend, t);
      }
    }
  }
  if (!dx) {
    // Stride 1 and nothing to do (a zero-sized output): an all-zero gradient.
    return allocate(backend, [g.batch, g.inHeight, g.inWidth, ci], 'float32').info;
  }
  return dx.info;
}
