/**
 * Where RoIAlign samples, reproduced from torchvision's CPU kernel in float32 arithmetic.
 *
 * torchvision computes every sample position and bilinear weight in `float` (for float
 * inputs). We repeat each step with `Math.fround`, so a sample that lands exactly on the map
 * border (`y == H`, `x == -1`, ...) falls on the same side of the test as in torchvision.
 *
 * The bilinear weight of a sample is a product of a row weight and a column weight, and a
 * sample is dropped when its row *or* its column is outside the map. So the weight a bin gives
 * to pixel (r, c) is `rowWeight[r] * colWeight[c] / count`: we precompute, per RoI, one short
 * list of (row, weight) per output row and one of (column, weight) per output column, with
 * repeated pixels already summed. That is torchvision's `pre_calc`, merged.
 */

const f = Math.fround;

/** Attributes of the RoiAlign kernel (also what the op passes to its gradient). */
export interface RoiAlignAttrs {
  pooledHeight: number;
  pooledWidth: number;
  spatialScale: number;
  samplingRatio: number;
  aligned: boolean;
}

/** Start, bin size, samples per bin and sample count of one RoI, as torchvision computes them. */
export interface RoiGeometry {
  startH: number;
  startW: number;
  binH: number;
  binW: number;
  gridH: number;
  gridW: number;
  /** Divisor of the bin average: max(gridH * gridW, 1). */
  count: number;
}

export function roiGeometry(
  x1: number,
  y1: number,
  x2: number,
  y2: number,
  attrs: RoiAlignAttrs,
): RoiGeometry {
  const scale = f(attrs.spatialScale);
  const offset = attrs.aligned ? 0.5 : 0;
  const startW = f(f(f(x1) * scale) - offset);
  const startH = f(f(f(y1) * scale) - offset);
  const endW = f(f(f(x2) * scale) - offset);
  const endH = f(f(f(y2) * scale) - offset);
  let roiW = f(endW - startW);
  let roiH = f(endH - startH);
  if (!attrs.aligned) {
    // torchvision forces malformed RoIs to be at least 1x1 feature cells.
    roiW = Math.max(roiW, 1);
    roiH = Math.max(roiH, 1);
  }
  const binH = f(roiH / attrs.pooledHeight);
  const binW = f(roiW / attrs.pooledWidth);
  const adaptive = attrs.samplingRatio <= 0;
  const gridH = adaptive ? Math.ceil(binH) : attrs.samplingRatio;
  const gridW = adaptive ? Math.ceil(binW) : attrs.samplingRatio;
  return { startH, startW, binH, binW, gridH, gridW, count: Math.max(gridH * gridW, 1) };
}

/**
 * Per-bin taps along one axis: bin `p` uses `index[k]`, `weight[k]` for
 * `k` in `[start[p], start[p + 1])`. Weights are sums of the float32 bilinear weights of the
 * bin's samples (not yet divided by the sample count).
 */
export interface AxisTaps {
  start: Int32Array;
  index: Int32Array;
  weight: Float64Array;
}

/**
 * Taps of `bins` bins of size `binSize` starting at `roiStart`, `grid` samples per bin, on an
 * axis of `extent` cells. `scratch` must have at least `extent` zeroed entries; it is left zeroed.
 */
export function axisTaps(
  roiStart: number,
  binSize: number,
  bins: number,
  grid: number,
  extent: number,
  scratch: Float64Array,
): AxisTaps {
  const start = new Int32Array(bins + 1);
  // Each sample touches at most two cells, and a bin touches at most `extent` cells.
  const cap = bins * Math.min(2 * Math.max(grid, 0), extent);
  const index = new Int32Array(cap);
  const weight = new Float64Array(cap);
  let n = 0;
  for (let p = 0; p < bins; p++) {
    start[p] = n;
    let lo = extent;
    let hi = -1;
    const binStart = f(roiStart + f(p * binSize));
    // Only samples within [-1, extent] count. With a huge box (adaptive grids grow with it) skip
    // straight to them: positions increase with i, so bound i with a few samples of margin and
    // let the exact float32 test below decide at the edges.
    let iFrom = 0;
    let iTo = grid;
    if (binSize > 0 && grid > 64) {
      const step = binSize / grid;
      iFrom = Math.max(0, Math.floor((-1 - binStart) / step - 0.5) - 2);
      iTo = Math.min(grid, Math.ceil((extent - binStart) / step - 0.5) + 3);
    }
    for (let i = iFrom; i < iTo; i++) {
      let v = f(binStart + f(f(f(i + 0.5) * binSize) / grid));
      // Samples more than one cell outside the map contribute nothing.
      if (v < -1 || v > extent) continue;
      if (v <= 0) v = 0;
      let low = Math.trunc(v);
      let high: number;
      if (low >= extent - 1) {
        high = low = extent - 1;
        v = low;
      } else {
        high = low + 1;
      }
      const l = f(v - low);
      const h = f(1 - l);
      scratch[low] += h;
      scratch[high] += l;
      if (low < lo) lo = low;
      if (high > hi) hi = high;
    }
    for (let c = lo; c <= hi; c++) {
      const w = scratch[c];
      if (w !== 0) {
        index[n] = c;
        weight[n] = w;
        n++;
        scratch[c] = 0;
      }
    }
  }
  start[bins] = n;
  return { start, index, weight };
}

/** Row and column taps of one RoI on an H x W map. */
export interface RoiTaps {
  rows: AxisTaps;
  cols: AxisTaps;
  /** 1 / count: the bin average's factor. */
  scale: number;
}

export function roiTaps(
  box: ArrayLike<number>,
  offset: number,
  height: number,
  width: number,
  attrs: RoiAlignAttrs,
  scratch: Float64Array,
): RoiTaps {
  const g = roiGeometry(box[offset], box[offset + 1], box[offset + 2], box[offset + 3], attrs);
  return {
    rows: axisTaps(g.startH, g.binH, attrs.pooledHeight, g.gridH, height, scratch),
    cols: axisTaps(g.startW, g.binW, attrs.pooledWidth, g.gridW, width, scratch),
    scale: 1 / g.count,
  };
}
