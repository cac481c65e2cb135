/**
 * SCRL's matched box pairs (docs/scrl-reference.md section 2): boxes sampled inside the overlap
 * of two crops so that each pair covers the same image region in both views.
 *
 * Pure numbers, no TF.js: this runs in the data loader's worker threads.
 */
import type { Box, BoxPair, ViewGeometry } from './types';
import { boxPairIou } from '@scrl/roi-align/boxes';
import type { Rng } from '@scrl/util';
import { ScrlError } from '@scrl/util';

export interface BoxPairOptions {
  /** Side S of the square views, in pixels (both views are S x S). Required. */
  viewSize: number;
  /** Smallest box side in the coarser view's pixels; one stride-32 cell at S = 224. Default 32. */
  minSize?: number;
  /** Pairs K per image with a usable overlap. Default 10. */
  boxesPerImage?: number;
  /** A candidate is accepted if its view-1 IoU with every accepted box is below this. Default 0.5. */
  iouThreshold?: number;
  /** Candidates tried per box before the last one is kept anyway. Default 50. */
  maxTries?: number;
  /** Box jitter ratio r: view-2 box sides moved by U(1 - r, 1 + r) of its size. Default 0 (off). */
  jitter?: number;
}

export type ResolvedBoxPairOptions = Required<BoxPairOptions>;

export const BOX_PAIR_DEFAULTS: Omit<ResolvedBoxPairOptions, 'viewSize'> = {
  minSize: 32,
  boxesPerImage: 10,
  iouThreshold: 0.5,
  maxTries: 50,
  jitter: 0,
};

/** Python's `round`: nearest integer, ties to the even one. */
export function roundHalfEven(x: number): number {
  const f = Math.floor(x);
  const d = x - f;
  if (d > 0.5) return f + 1;
  if (d < 0.5) return f;
  return f % 2 === 0 ? f : f + 1;
}

/**
 * IoU of two `(x1, y1, x2, y2)` boxes: @scrl/roi-align's `boxPairIou` (torchvision's rule: 0 for
 * disjoint boxes, NaN for two empty ones). Kept under this name for existing callers.
 * @deprecated Use `boxPairIou` from @scrl/roi-align.
 */
export const pairIou = boxPairIou;

function checkGeometry(g: ViewGeometry, name: string): void {
  const fields = ['top', 'left', 'height', 'width'] as const;
  for (const f of fields) {
    if (!Number.isFinite(g?.[f])) {
      throw new ScrlError(`Error in sampleBoxPairs: ${name}.${f} must be a finite number, got ${g?.[f]}.`);
    }
  }
  if (!(g.height > 0) || !(g.width > 0)) {
    throw new ScrlError(`Error in sampleBoxPairs: ${name} must have positive height and width, got ${g.height} x ${g.width}.`);
  }
  if (typeof g.flipped !== 'boolean') {
    throw new ScrlError(`Error in sampleBoxPairs: ${name}.flipped must be a boolean, got ${String(g.flipped)}.`);
  }
}

/** Fills in defaults and checks every option, naming the bad one. */
export function resolveBoxPairOptions(options: BoxPairOptions): ResolvedBoxPairOptions {
  const o = { ...BOX_PAIR_DEFAULTS, ...options } as ResolvedBoxPairOptions;
  const fn = 'sampleBoxPairs';
  if (!(Number.isFinite(o.viewSize) && o.viewSize > 0)) {
    throw new ScrlError(`Error in ${fn}: options.viewSize must be a positive number (the views' side S), got ${o.viewSize}.`);
  }
  if (!(Number.isInteger(o.minSize) && o.minSize >= 1)) {
    throw new ScrlError(`Error in ${fn}: options.minSize must be a positive integer, got ${o.minSize}.`);
  }
  if (!(Number.isInteger(o.boxesPerImage) && o.boxesPerImage >= 0)) {
    throw new ScrlError(`Error in ${fn}: options.boxesPerImage must be a non-negative integer, got ${o.boxesPerImage}.`);
  }
  if (!(o.iouThreshold >= 0 && o.iouThreshold <= 1)) {
    throw new ScrlError(`Error in ${fn}: options.iouThreshold must be in [0, 1], got ${o.iouThreshold}.`);
  }
  if (!(Number.isInteger(o.maxTries) && o.maxTries >= 1)) {
    throw new ScrlError(`Error in ${fn}: options.maxTries must be an integer >= 1, got ${o.maxTries}.`);
  }
  if (!(o.jitter >= 0 && o.jitter < 1)) {
    throw new ScrlError(`Error in ${fn}: options.jitter must be in [0, 1) (0 turns it off), got ${o.jitter}.`);
  }
  return o;
}

/**
 * The overlap of two views in the sampling frame, or null when it cannot hold a box: the
 * intersection in original pixels, the per-view scales and the sampling frame's size W x H.
 */
export interface OverlapFrame {
  /** Intersection in original-image pixels. */
  left: number;
  top: number;
  right: number;
  bottom: number;
  /** View pixels per original pixel, per view (x then y). */
  sx1: number;
  sy1: number;
  sx2: number;
  sy2: number;
  /** Scale of the sampling frame: the coarser of the two views, per axis. */
  sx: number;
  sy: number;
  /** Overlap size in the sampling frame, rounded half to even. */
  W: number;
  H: number;
}

/** Step 1-2 of the reference: overlap and sampling frame; null when no box can be sampled. */
export function overlapFrame(view1: ViewGeometry, view2: ViewGeometry, viewSize: number, minSize: number): OverlapFrame | null {
  const left = Math.max(view1.left, view2.left);
  const right = Math.min(view1.left + view1.width, view2.left + view2.width);
  const top = Math.max(view1.top, view2.top);
  const bottom = Math.min(view1.top + view1.height, view2.top + view2.height);
  if (left >= right || top >= bottom) return null;
  const sx1 = viewSize / view1.width;
  const sy1 = viewSize / view1.height;
  const sx2 = viewSize / view2.width;
  const sy2 = viewSize / view2.height;
  const sx = Math.min(sx1, sx2);
  const sy = Math.min(sy1, sy2);
  const W = roundHalfEven((right - left) * sx);
  const H = roundHalfEven((bottom - top) * sy);
  if (W <= minSize || H <= minSize) return null;
  return { left, top, right, bottom, sx1, sy1, sx2, sy2, sx, sy, W, H };
}

/**
 * Samples SCRL's matched box pairs for one image (docs/scrl-reference.md section 2).
 *
 * Boxes are drawn on a random grid over the two views' overlap, in the frame where the overlap
 * looks smallest (so every box is at least `minSize` pixels in both views), then mapped into
 * each view, mirrored where that view was flipped, and clipped to `[0, S]`. A candidate whose
 * view-1 box has IoU >= `iouThreshold` with an accepted one is redrawn, up to `maxTries` times;
 * then the last candidate is kept anyway, as the reference does.
 *
 * @param view1 geometry of view 1 in original-image pixels (`top`, `left`, `height`, `width`, `flipped`).
 * @param view2 geometry of view 2, same frame.
 * @param options `viewSize` S (required); `minSize` 32, `boxesPerImage` 10, `iouThreshold` 0.5,
 *   `maxTries` 50, `jitter` 0.
 * @param rng the random source (see `createRng`); the same state gives the same pairs.
 * @returns `boxesPerImage` pairs of `(x1, y1, x2, y2)` boxes in view pixels (floats), or `[]` when
 *   the views do not overlap or the overlap is at most `minSize` in the sampling frame.
 */
export function sampleBoxPairs(view1: ViewGeometry, view2: ViewGeometry, options: BoxPairOptions, rng: Rng): BoxPair[] {
  checkGeometry(view1, 'view1');
  checkGeometry(view2, 'view2');
  const o = resolveBoxPairOptions(options);
  if (!rng || typeof rng.int !== 'function') {
    throw new ScrlError('Error in sampleBoxPairs: rng must be an Rng from createRng(seed) or restoreRng(state).');
  }
  const S = o.viewSize;
  const f = overlapFrame(view1, view2, S, o.minSize);
  if (!f) return [];
  const nW = Math.floor(f.W / o.minSize);
  const nH = Math.floor(f.H / o.minSize);

  const toView = (bx: number, by: number, bw: number, bh: number, g: ViewGeometry, sxk: number, syk: number): Box => {
    let x1 = (bx / f.sx) * sxk + (f.left - g.left) * sxk;
    let x2 = x1 + (bw / f.sx) * sxk;
    const y1 = (by / f.sy) * syk + (f.top - g.top) * syk;
    const y2 = y1 + (bh / f.sy) * syk;
    if (g.flipped) [x1, x2] = [S - x2, S - x1];
    return [x1, y1, x2, y2];
  };

  const accepted: Box[] = [];
  const pairs: BoxPair[] = [];
  for (let k = 0; k < o.boxesPerImage; k++) {
    let b1: Box = [0, 0, 0, 0];
    let b2: Box = [0, 0, 0, 0];
    for (let attempt = 0; attempt < o.maxTries; attempt++) {
      const dw = rng.int(1, nW);
      const dh = rng.int(1, nH);
      const gw = f.W / dw;
      const gh = f.H / dh;
      const gx = rng.int(0, dw - 1);
      const gy = rng.int(0, dh - 1);
      const bw = rng.int(o.minSize, Math.floor(gw));
      const bh = rng.int(o.minSize, Math.floor(gh));
      const bx = rng.int(0, Math.floor(gw - bw)) + Math.floor(gx * gw);
      const by = rng.int(0, Math.floor(gh - bh)) + Math.floor(gy * gh);
      b1 = toView(bx, by, bw, bh, view1, f.sx1, f.sy1);
      b2 = toView(bx, by, bw, bh, view2, f.sx2, f.sy2);
      if (o.jitter > 0) b2 = jitterBox(b2, o.jitter, rng);
      if (accepted.length === 0) break;
      let ok = true;
      for (const a of accepted) {
        if (boxPairIou(b1, a) >= o.iouThreshold) {
          ok = false;
          break;
        }
      }
      if (ok) break;
    }
    accepted.push(b1);
    pairs.push({ view1: clipBox(b1, S), view2: clipBox(b2, S) });
  }
  return pairs;
}

/** The reference's jitter: left and top move by U(-r, r) of the size, then width and height scale by U(1-r, 1+r). */
function jitterBox(b: Box, r: number, rng: Rng): Box {
  const w = b[2] - b[0];
  const h = b[3] - b[1];
  const x1 = b[0] + w * (rng.uniform(1 - r, 1 + r) - 1);
  const y1 = b[1] + h * (rng.uniform(1 - r, 1 + r) - 1);
  const x2 = x1 + w * rng.uniform(1 - r, 1 + r);
  const y2 = y1 + h * rng.uniform(1 - r, 1 + r);
  return [x1, y1, x2, y2];
}

function clipBox(b: Box, S: number): Box {
  return [Math.max(0, b[0]), Math.max(0, b[1]), Math.min(S, b[2]), Math.min(S, b[3])];
}

/**
 * Maps a box in view pixels back to original-image pixels (flip undone): the inverse of the
 * view's crop-resize-flip. Handy for checking pairs and for drawing them on the original.
 */
export function viewBoxToImage(box: ArrayLike<number>, geometry: ViewGeometry, viewSize: number): Box {
  let x1 = box[0];
  let x2 = box[2];
  if (geometry.flipped) [x1, x2] = [viewSize - x2, viewSize - x1];
  const kx = geometry.width / viewSize;
  const ky = geometry.height / viewSize;
  return [geometry.left + x1 * kx, geometry.top + box[1] * ky, geometry.left + x2 * kx, geometry.top + box[3] * ky];
}

/** Plain-array form of a batch's box pairs (what `boxPairBatch` turns into tensors). */
export interface BoxPairBatchArrays {
  /** `[2P * 4]` row-major `(x1, y1, x2, y2)`: the P view-1 boxes, then the P view-2 boxes. */
  boxes: Float32Array;
  /** `[2P]`: the view-1 box of image i -> i, its view-2 box -> B + i. */
  boxIndices: Int32Array;
  /** P, the number of pairs in the batch (may be 0). */
  numPairs: number;
  /** `[P]`: the image each pair comes from. */
  pairImage: Int32Array;
  /** B, the number of images. */
  numImages: number;
}

/**
 * Packs per-image box pairs for `roiAlign` over a batch whose views are stacked
 * `[view 1 of images 0..B-1, view 2 of images 0..B-1]` (2B images). Works with no pairs at all.
 */
export function boxPairBatchArrays(pairsPerImage: BoxPair[][]): BoxPairBatchArrays {
  if (!Array.isArray(pairsPerImage)) {
    throw new ScrlError(`Error in boxPairBatch: pairsPerImage must be an array (one array of BoxPair per image), got ${typeof pairsPerImage}.`);
  }
  const B = pairsPerImage.length;
  let P = 0;
  pairsPerImage.forEach((pairs, i) => {
    if (!Array.isArray(pairs)) {
      throw new ScrlError(`Error in boxPairBatch: pairsPerImage[${i}] must be an array of BoxPair (possibly empty), got ${typeof pairs}.`);
    }
    P += pairs.length;
  });
  const boxes = new Float32Array(2 * P * 4);
  const boxIndices = new Int32Array(2 * P);
  const pairImage = new Int32Array(P);
  let p = 0;
  for (let i = 0; i < B; i++) {
    for (const pair of pairsPerImage[i]) {
      for (let c = 0; c < 4; c++) {
        const v1 = pair.view1?.[c];
        const v2 = pair.view2?.[c];
        if (!Number.isFinite(v1) || !Number.isFinite(v2)) {
          throw new ScrlError(`Error in boxPairBatch: pairsPerImage[${i}] has a pair with a non-finite or missing coordinate (${JSON.stringify(pair)}).`);
        }
        boxes[p * 4 + c] = v1;
        boxes[(P + p) * 4 + c] = v2;
      }
      boxIndices[p] = i;
      boxIndices[P + p] = B + i;
      pairImage[p] = i;
      p++;
    }
  }
  return { boxes, boxIndices, numPairs: P, pairImage, numImages: B };
}
