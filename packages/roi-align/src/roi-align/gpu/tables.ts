/**
 * Tap tables for the GPU RoIAlign kernels (webgl, webgpu). The sampling geometry is computed
 * here on the CPU, with the same float32 steps as torchvision (sampling.ts, shared with the
 * cpu/wasm kernels), and handed to the shaders as small tables; the shaders only gather.
 *
 * Forward, per output bin (k, ph, pw): `sum_i sum_j rowW[k,ph,i] * colW[k,pw,j] * x[n_k, rowI, colI, c]`
 * (row weights carry the bin average's 1/count). Backward, per input pixel (n, r, c): the same
 * taps read the other way round: for each box k of image n, the bins whose taps touch row r
 * (`invRow`) and column c (`invCol`). Each gather is a fixed-bound loop over padded entries; a
 * zero weight ends a list (torchvision drops zero-weight taps too, so NaNs elsewhere in the map
 * do not leak in).
 */
import { type RoiAlignAttrs, roiTaps, type RoiTaps } from '../sampling';

/** Next power of two >= n (>= 1): table widths and loop bounds, so shaders are reused. */
export function roundUpPow2(n: number): number {
  let p = 1;
  while (p < n) p *= 2;
  return p;
}

export interface ForwardTables {
  /** [K * PH, 2 * TR]: (row index, row weight / count) pairs per (box, output row). */
  rows: Float32Array;
  /** [K * PW, 2 * TC]: (column index, column weight) pairs per (box, output column). */
  cols: Float32Array;
  /** [K]: the image of each box. */
  image: Float32Array;
  TR: number;
  TC: number;
}

export interface BackwardTables {
  /** [K * H, 2 * MR]: (output row ph, weight / count) pairs per (box, input row). */
  invRows: Float32Array;
  /** [K * W, 2 * MC]: (output column pw, weight) pairs per (box, input column). */
  invCols: Float32Array;
  /** [N, 2]: first position in `order` and number of the boxes of each image. */
  imageRange: Float32Array;
  /** [K]: box numbers sorted by image. */
  order: Float32Array;
  MR: number;
  MC: number;
  /** Most boxes of one image (rounded up): the bound of the shader's box loop. */
  KMAX: number;
}

function checkedImage(boxIndices: ArrayLike<number>, k: number, batch: number): number {
  const n = boxIndices[k];
  if (!(Number.isInteger(n) && n >= 0 && n < batch)) {
    throw new Error(
      `Error in roiAlign: boxIndices[${k}] is ${n} but the input has batch size ${batch}; box indices must be in [0, ${batch - 1}].`,
    );
  }
  return n;
}

function allTaps(boxes: ArrayLike<number>, K: number, H: number, W: number, attrs: RoiAlignAttrs): RoiTaps[] {
  const scratch = new Float64Array(Math.max(H, W));
  const taps: RoiTaps[] = [];
  for (let k = 0; k < K; k++) taps.push(roiTaps(boxes, 4 * k, H, W, attrs, scratch));
  return taps;
}

function maxRun(start: Int32Array): number {
  let m = 0;
  for (let p = 0; p + 1 < start.length; p++) m = Math.max(m, start[p + 1] - start[p]);
  return m;
}

export function forwardTables(
  boxes: ArrayLike<number>,
  boxIndices: ArrayLike<number>,
  batch: number,
  H: number,
  W: number,
  attrs: RoiAlignAttrs,
): ForwardTables {
  const K = boxIndices.length;
  const PH = attrs.pooledHeight;
  const PW = attrs.pooledWidth;
  const taps = allTaps(boxes, K, H, W, attrs);
  const image = new Float32Array(K);
  let tr = 1;
  let tc = 1;
  for (let k = 0; k < K; k++) {
    image[k] = checkedImage(boxIndices, k, batch);
    tr = Math.max(tr, maxRun(taps[k].rows.start));
    tc = Math.max(tc, maxRun(taps[k].cols.start));
  }
  const TR = roundUpPow2(tr);
  const TC = roundUpPow2(tc);
  const rows = new Float32Array(K * PH * 2 * TR);
  const cols = new Float32Array(K * PW * 2 * TC);
  for (let k = 0; k < K; k++) {
    const { rows: r, cols: c, scale } = taps[k];
    for (let p = 0; p < PH; p++) {
      const base = (k * PH + p) * 2 * TR;
      for (let t = r.start[p], i = 0; t < r.start[p + 1]; t++, i++) {
        rows[base + 2 * i] = r.index[t];
        rows[base + 2 * i + 1] = r.weight[t] * scale;
      }
    }
    for (let p = 0; p < PW; p++) {
      const base = (k * PW + p) * 2 * TC;
      for (let t = c.start[p], i = 0; t < c.start[p + 1]; t++, i++) {
        cols[base + 2 * i] = c.index[t];
        cols[base + 2 * i + 1] = c.weight[t];
      }
    }
  }
  return { rows, cols, image, TR, TC };
}

/** Inverts one axis' taps: for each cell, the (bin, weight) pairs that read it. */
function invert(
  axis: { start: Int32Array; index: Int32Array; weight: Float64Array },
  bins: number,
  extent: number,
  factor: number,
): Array<Array<[number, number]>> {
  const lists: Array<Array<[number, number]>> = Array.from({ length: extent }, () => []);
  for (let p = 0; p < bins; p++) {
    for (let t = axis.start[p]; t < axis.start[p + 1]; t++) lists[axis.index[t]].push([p, axis.weight[t] * factor]);
  }
  return lists;
}

export function backwardTables(
  boxes: ArrayLike<number>,
  boxIndices: ArrayLike<number>,
  shape: readonly number[],
  attrs: RoiAlignAttrs,
): BackwardTables {
  const [N, H, W] = shape;
  const K = boxIndices.length;
  const taps = allTaps(boxes, K, H, W, attrs);
  const rowLists = taps.map((t) => invert(t.rows, attrs.pooledHeight, H, t.scale));
  const colLists = taps.map((t) => invert(t.cols, attrs.pooledWidth, W, 1));
  let mr = 1;
  let mc = 1;
  for (let k = 0; k < K; k++) {
    for (const l of rowLists[k]) mr = Math.max(mr, l.length);
    for (const l of colLists[k]) mc = Math.max(mc, l.length);
  }
  const MR = roundUpPow2(mr);
  const MC = roundUpPow2(mc);
  const invRows = new Float32Array(K * H * 2 * MR);
  const invCols = new Float32Array(K * W * 2 * MC);
  const fill = (dst: Float32Array, lists: Array<Array<[number, number]>>, row0: number, M: number) =>
    lists.forEach((list, i) =>
      list.forEach(([p, w], j) => {
        dst[(row0 + i) * 2 * M + 2 * j] = p;
        dst[(row0 + i) * 2 * M + 2 * j + 1] = w;
      }),
    );
  const byImage: number[][] = Array.from({ length: N }, () => []);
  for (let k = 0; k < K; k++) {
    byImage[checkedImage(boxIndices, k, N)].push(k);
    fill(invRows, rowLists[k], k * H, MR);
    fill(invCols, colLists[k], k * W, MC);
  }
  const order = new Float32Array(K);
  const imageRange = new Float32Array(2 * N);
  let pos = 0;
  let kmax = 1;
  byImage.forEach((ks, n) => {
    imageRange[2 * n] = pos;
    imageRange[2 * n + 1] = ks.length;
    for (const k of ks) order[pos++] = k;
    kmax = Math.max(kmax, ks.length);
  });
  return { invRows, invCols, imageRange, order, MR, MC, KMAX: roundUpPow2(kmax) };
}
