/**
 * The typed-array RoIAlign used by the `cpu` and `wasm` kernels. NHWC keeps a pixel's C
 * channels contiguous, so each (bin, pixel) tap is one `axpy` over C floats. The loops here
 * only enumerate taps; a `TapSink` applies them: in WebAssembly SIMD, in batches, where
 * available (simd-axpy.ts, kernels.ts), else a plain JS loop (`jsSink`).
 */
import { RoiAlignAttrs, roiTaps } from './sampling';

export interface MapShape {
  batch: number;
  height: number;
  width: number;
  channels: number;
}

/**
 * Applies taps `dst[d, d + C) += w * src[s, s + C)` (offsets in floats into the sink's two
 * arrays), possibly later: `flush` applies any that are pending.
 */
export interface TapSink {
  tap: (d: number, s: number, w: number) => void;
  flush: () => void;
}

/** A sink that applies each tap at once, in JS, over `n` floats. */
export function jsSink(dst: Float32Array, src: Float32Array, n: number): TapSink {
  return {
    tap: (d, s, w) => {
      for (let i = 0; i < n; i++) dst[d + i] += w * src[s + i];
    },
    flush: () => undefined,
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

/** out[k, ph, pw, :] += sum over taps of w * x[n_k, r, c, :]; `sink` writes `out`, reads `x`. */
export function roiAlignForwardImpl(
  shape: MapShape,
  boxes: ArrayLike<number>,
  boxIndices: ArrayLike<number>,
  attrs: RoiAlignAttrs,
  sink: TapSink,
): void {
  forEachTap(shape, boxes, boxIndices, attrs, sink.tap);
  sink.flush();
}

/** dx[n_k, r, c, :] += w * dy[k, ph, pw, :] with the forward's taps; `sink` writes dx, reads dy. */
export function roiAlignBackwardImpl(
  shape: MapShape,
  boxes: ArrayLike<number>,
  boxIndices: ArrayLike<number>,
  attrs: RoiAlignAttrs,
  sink: TapSink,
): void {
  const tap = sink.tap;
  forEachTap(shape, boxes, boxIndices, attrs, (o, xb, w) => tap(xb, o, w));
  sink.flush();
}
