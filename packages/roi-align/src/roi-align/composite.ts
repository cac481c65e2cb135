/**
 * RoIAlign from core ops, for backends without a RoiAlign kernel (tensorflow, webgl, webgpu).
 *
 * The sample positions and bilinear weights depend on box values (adaptive sampling changes
 * the number of samples), so they are computed on the CPU from the (small) box arrays, with
 * the same code as the typed-array kernels. Each output bin becomes a padded list of
 * (pixel, weight) taps; the forward gathers the taps' pixel vectors and sums them weighted,
 * the backward scatters dy with the same weights (`scatterND` adds duplicate indices). Both are
 * plain core ops, so this runs on every backend with the same results as the kernels.
 */
import * as tf from '@tensorflow/tfjs-core';
import { type RoiAlignAttrs, roiTaps } from './sampling';

/** Largest gathered block, in elements; bigger problems run in chunks of bins. */
const CHUNK_ELEMENTS = 1 << 24;

interface BinTaps {
  /** [bins, taps] flat pixel index into [N * H * W] (padding points at pixel 0). */
  pixel: Int32Array;
  /** [bins, taps] weight (0 for padding). */
  weight: Float32Array;
  bins: number;
  taps: number;
}

function binTaps(
  shape: number[],
  boxes: ArrayLike<number>,
  boxIndices: ArrayLike<number>,
  attrs: RoiAlignAttrs,
): BinTaps {
  const [, H, W] = shape;
  const PH = attrs.pooledHeight;
  const PW = attrs.pooledWidth;
  const K = boxIndices.length;
  const scratch = new Float64Array(Math.max(H, W));
  const perRoi = [];
  let taps = 1;
  for (let k = 0; k < K; k++) {
    const t = roiTaps(boxes, 4 * k, H, W, attrs, scratch);
    for (let ph = 0; ph < PH; ph++) {
      for (let pw = 0; pw < PW; pw++) {
        const n = (t.rows.start[ph + 1] - t.rows.start[ph]) * (t.cols.start[pw + 1] - t.cols.start[pw]);
        if (n > taps) taps = n;
      }
    }
    perRoi.push(t);
  }
  const bins = K * PH * PW;
  const pixel = new Int32Array(bins * taps);
  const weight = new Float32Array(bins * taps);
  for (let k = 0; k < K; k++) {
    const { rows, cols, scale } = perRoi[k];
    const n = boxIndices[k];
    for (let ph = 0; ph < PH; ph++) {
      for (let pw = 0; pw < PW; pw++) {
        let j = ((k * PH + ph) * PW + pw) * taps;
        for (let ri = rows.start[ph]; ri < rows.start[ph + 1]; ri++) {
          const rowBase = (n * H + rows.index[ri]) * W;
          const wy = rows.weight[ri] * scale;
          for (let ci = cols.start[pw]; ci < cols.start[pw + 1]; ci++) {
            pixel[j] = rowBase + cols.index[ci];
            weight[j] = wy * cols.weight[ci];
            j++;
          }
        }
      }
    }
  }
  return { pixel, weight, bins, taps };
}

/** Bin ranges [start, end) of at most CHUNK_ELEMENTS gathered elements each. */
function chunks(bins: number, taps: number, channels: number, limit: number): Array<[number, number]> {
  const step = Math.max(1, Math.floor(limit / Math.max(1, taps * channels)));
  const out: Array<[number, number]> = [];
  for (let s = 0; s < bins; s += step) out.push([s, Math.min(bins, s + step)]);
  return out;
}

/**
 * RoIAlign of `x` [N, H, W, C] over validated `boxes` / `boxIndices` (plain arrays), built
 * from core ops and differentiable with respect to `x`. Returns [K, PH, PW, C].
 * `chunkElements` bounds the gathered block (tests set it low to exercise chunking).
 */
export function roiAlignComposite(
  x: tf.Tensor4D,
  boxes: ArrayLike<number>,
  boxIndices: ArrayLike<number>,
  attrs: RoiAlignAttrs,
  chunkElements = CHUNK_ELEMENTS,
): tf.Tensor4D {
  const [N, H, W, C] = x.shape;
  const K = boxIndices.length;
  const outShape: [number, number, number, number] = [K, attrs.pooledHeight, attrs.pooledWidth, C];
  const { pixel, weight, bins, taps } = binTaps(x.shape, boxes, boxIndices, attrs);
  const parts = chunks(bins, taps, C, chunkElements);
  const pixels = N * H * W;

  const f = tf.customGrad(((input: tf.Tensor) => {
    const value = tf.tidy(() => {
      if (bins === 0 || C === 0 || pixels === 0) return tf.zeros(outShape);
      const flat = tf.reshape(input, [pixels, C]);
      const pooled = parts.map(([s, e]) => {
        const idx = tf.tensor2d(pixel.subarray(s * taps, e * taps), [e - s, taps], 'int32');
        const w = tf.tensor3d(weight.subarray(s * taps, e * taps), [e - s, taps, 1], 'float32');
        return tf.sum(tf.mul(tf.gather(flat, idx), w), 1);
      });
      return tf.reshape(pooled.length === 1 ? pooled[0] : tf.concat(pooled, 0), outShape);
    });
    const gradFunc = (dy: tf.Tensor) =>
      tf.tidy(() => {
        if (bins === 0 || C === 0 || pixels === 0) return tf.zerosLike(input);
        const dyFlat = tf.reshape(dy, [bins, 1, C]);
        let dx: tf.Tensor | null = null;
        for (const [s, e] of parts) {
          const idx = tf.tensor2d(pixel.subarray(s * taps, e * taps), [(e - s) * taps, 1], 'int32');
          const w = tf.tensor3d(weight.subarray(s * taps, e * taps), [e - s, taps, 1], 'float32');
          const updates = tf.reshape(tf.mul(tf.slice(dyFlat, [s, 0, 0], [e - s, 1, C]), w), [(e - s) * taps, C]);
          const part = tf.scatterND(idx, updates, [pixels, C]);
          dx = dx === null ? part : tf.add(dx, part);
        }
        return tf.reshape(dx as tf.Tensor, input.shape);
      });
    return { value, gradFunc };
  }) as unknown as Parameters<typeof tf.customGrad>[0]);
  return f(x) as tf.Tensor4D;
}
