/**
 * Antialiased bicubic resampling on typed arrays, the algorithm of PIL's `Image.resize(...,
 * BICUBIC)` (Keys cubic with a = -0.5, support widened by the scale when shrinking, weights
 * normalised per output pixel, horizontal pass then vertical pass), computed in floating point
 * instead of PIL's 8-bit fixed point. `torch.nn.functional.interpolate(mode='bicubic',
 * antialias=True)` implements the same filter.
 */

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
    throw new Error(`resampleBicubic: region [${offset}, ${offset + inLength}) must be integer pixels inside 0..${inSize}.`);
  }
  if (!(Number.isInteger(outSize) && outSize >= 1)) {
    throw new Error(`resampleBicubic: output size must be a positive integer, got ${outSize}.`);
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
 * output is mirrored left-right. Returns a new Float32Array (HWC).
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
