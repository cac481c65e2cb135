/**
 * The typed-array RoIAlign used by the `cpu` and `wasm` kernels: NHWC, so the channel loop is
 * innermost and reads and writes contiguous memory.
 */
import { RoiAlignAttrs, roiTaps } from './sampling';

export interface MapShape {
  batch: number;
  height: number;
  width: number;
  channels: number;
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
 * out[k, ph, pw, :] = sum over taps of weight * x[n_k, r, c, :]. `out` must be zeroed, of size
 * K * pooledHeight * pooledWidth * C.
 */
export function roiAlignForwardImpl(
  x: Float32Array,
  shape: MapShape,
  boxes: ArrayLike<number>,
  boxIndices: ArrayLike<number>,
  attrs: RoiAlignAttrs,
  out: Float32Array,
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
            const xb = (rowBase + cols.index[ci]) * C;
            for (let ch = 0; ch < C; ch++) out[o + ch] += w * x[xb + ch];
          }
        }
      }
    }
  }
}

/**
 * dx[n_k, r, c, :] += weight * dy[k, ph, pw, :] with the forward's weights. `dx` must be zeroed,
 * of size N * H * W * C.
 */
export function roiAlignBackwardImpl(
  dy: Float32Array,
  shape: MapShape,
  boxes: ArrayLike<number>,
  boxIndices: ArrayLike<number>,
  attrs: RoiAlignAttrs,
  dx: Float32Array,
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
            const xb = (rowBase + cols.index[ci]) * C;
            for (let ch = 0; ch < C; ch++) dx[xb + ch] += w * dy[o + ch];
          }
        }
      }
    }
  }
}
