/**
 * The typed-array RoIAlign used by the `cpu` and `wasm` kernels. NHWC keeps a pixel's C
 * channels contiguous, so each (bin, pixel) tap is one `axpy` over C floats: in WebAssembly
 * SIMD where available (simd_axpy.ts), else a plain JS loop.
 */
import { RoiAlignAttrs, roiTaps } from './sampling';

export interface MapShape {
  batch: number;
  height: number;
  width: number;
  channels: number;
}

/** `dst[d, d + n) += w * src[s, s + n)`, offsets in floats into the caller's two arrays. */
export type Axpy = (d: number, s: number, w: number, n: number) => void;

/** Axpy between two Float32Arrays, in JS. */
export function jsAxpy(dst: Float32Array, src: Float32Array): Axpy {
  return (d, s, w, n) => {
    for (let i = 0; i < n; i++) dst[d + i] += w * src[s + i];
  };
}

function checkBatchIndex(n: number, batch: number, k: number): void {
  if (!(n >= 0 && n < batch)) {
    throw new Error(
      `Error in roiAlign: boxIndices[${k}] is ${n} but the input has batch size ${batch}; ` +
        `box indices must be in [0, ${batch - 1}].`,
    );
  }
}

/**
 * Calls `tap(o, xb, w)` for every (output bin, input pixel) pair with a non-zero weight: `o` is
 * the bin's offset in the [K, PH, PW, C] output, `xb` the pixel's offset in the [N, H, W, C]
 * input, `w` the bin-averaged bilinear weight.
 */
function forEachTap(
  shape: MapShape,
  boxes: ArrayLike<number>,
  boxIndices: ArrayLike<number>,
  attrs: RoiAlignAttrs,
  tap: (o: number, xb: number, w: number) => void,
): void {
  const { batch, height: H, width: W, channels: C } = shape;
  const PH = attrs.pooledHeight;
  const PW = attrs.pooledWidth;
  const K = boxIndices.length;
  const scratch = new Float64Array(Math.max(H, W));
  for (let k = 0; k < K; k++) {
    const n = boxIndices[k];
    checkBatchIndex(n, batch, k);
    const { rows, cols, scale } = roiTaps(boxes, 4 * k, H, W, attrs, scratch);
    for (let ph = 0; ph < PH; ph++) {
      const r0 = rows.start[ph];
      const r1 = rows.start[ph + 1];
      for (let pw = 0; pw < PW; pw++) {
        const o = ((k * PH + ph) * PW + pw) * C;
        const c0 = cols.start[pw];
        const c1 = cols.start[pw + 1];
        for (let ri = r0; ri < r1; ri++) {
          const rowBase = (n * H + rows.index[ri]) * W;
          const wy = rows.weight[ri] * scale;
          for (let ci = c0; ci < c1; ci++) {
            const w = wy * cols.weight[ci];
            if (w !== 0) tap(o, (rowBase + cols.index[ci]) * C, w);
          }
        }
      }
    }
  }
}

/** out[k, ph, pw, :] += sum over taps of w * x[n_k, r, c, :]; `axpy` writes `out`, reads `x`. */
export function roiAlignForwardImpl(
  shape: MapShape,
  boxes: ArrayLike<number>,
  boxIndices: ArrayLike<number>,
  attrs: RoiAlignAttrs,
  axpy: Axpy,
): void {
  const C = shape.channels;
  forEachTap(shape, boxes, boxIndices, attrs, (o, xb, w) => axpy(o, xb, w, C));
}

/** dx[n_k, r, c, :] += w * dy[k, ph, pw, :] with the forward's taps; `axpy` writes dx, reads dy. */
export function roiAlignBackwardImpl(
  shape: MapShape,
  boxes: ArrayLike<number>,
  boxIndices: ArrayLike<number>,
  attrs: RoiAlignAttrs,
  axpy: Axpy,
): void {
  const C = shape.channels;
  forEachTap(shape, boxes, boxIndices, attrs, (o, xb, w) => axpy(xb, o, w, C));
}
