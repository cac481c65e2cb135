/**
 * Box operations on plain numbers, for code that holds boxes as arrays rather than tensors
 * (view geometry, box sampling, detector post-processing). Boxes are `(x1, y1, x2, y2)` with
 * `x1 <= x2`, `y1 <= y2` expected but not required; formulas are torchvision's, evaluated in
 * double precision.
 *
 * Every function accepts boxes as an array of 4-element rows (`number[][]`, `Box[]`, rows that
 * are typed arrays) or flat, 4K numbers in a row (`number[]`, `Float32Array`, `Float64Array`).
 */

/** One box `[x1, y1, x2, y2]` (or `[x, y, w, h]`, `[cx, cy, w, h]` for boxConvert). */
export type Box = [number, number, number, number];

/** K boxes: rows of 4 numbers, or 4K numbers flat (`[x1, y1, x2, y2, x1, ...]`). */
export type BoxesLike = ReadonlyArray<ArrayLike<number>> | ReadonlyArray<number> | Float32Array | Float64Array;

/** Box formats of {@link boxConvertArray} / `boxConvert`, as in torchvision. */
export type BoxFormat = 'xyxy' | 'xywh' | 'cxcywh';

export const BOX_FORMATS: readonly BoxFormat[] = ['xyxy', 'xywh', 'cxcywh'];

function describeValue(value: unknown): string {
  if (value === null) return 'null';
  if (value === undefined) return 'undefined';
  if (typeof value === 'object') return (value as object).constructor?.name ?? 'an object';
  return `${typeof value} ${String(value)}`;
}

/** Flattens `boxes` to 4K doubles, failing with `Error in <op>: <arg> ...` on a bad shape. */
export function flatBoxes(boxes: BoxesLike, op: string, arg: string): Float64Array {
  // Flat: a typed array, or an array whose first entry is a number (rows are arrays).
  if (boxes instanceof Float32Array || boxes instanceof Float64Array || (Array.isArray(boxes) && typeof boxes[0] === 'number')) {
    const values = boxes as ArrayLike<unknown>;
    if (values.length % 4 !== 0) {
      throw new Error(`Error in ${op}: ${arg} as a flat array must have a length divisible by 4 but had length ${values.length}`);
    }
    for (let i = 0; i < values.length; i++) {
      if (typeof values[i] !== 'number') {
        throw new Error(`Error in ${op}: ${arg}[${i}] must be a number (flat boxes) but got ${describeValue(values[i])}`);
      }
    }
    return Float64Array.from(values as ArrayLike<number>);
  }
  if (!Array.isArray(boxes)) {
    throw new Error(`Error in ${op}: ${arg} must be an array of [x1, y1, x2, y2] rows, or 4K numbers flat (number[], Float32Array, Float64Array), but got ${describeValue(boxes)}`);
  }
  const out = new Float64Array(4 * boxes.length);
  boxes.forEach((row: ArrayLike<number>, i: number) => {
    if (row == null || typeof row !== 'object' || row.length !== 4) {
      const got = row != null && typeof row === 'object' && 'length' in row ? `length ${row.length}` : describeValue(row);
      throw new Error(`Error in ${op}: ${arg} must have shape [K, 4] but ${arg}[${i}] has ${got}`);
    }
    for (let j = 0; j < 4; j++) {
      const v = row[j];
      if (typeof v !== 'number') throw new Error(`Error in ${op}: ${arg}[${i}][${j}] must be a number but got ${describeValue(v)}`);
      out[4 * i + j] = v;
    }
  });
  return out;
}

function rows(flat: Float64Array): Box[] {
  const out: Box[] = [];
  for (let i = 0; i < flat.length; i += 4) out.push([flat[i], flat[i + 1], flat[i + 2], flat[i + 3]]);
  return out;
}

/** Areas `(x2 - x1) * (y2 - y1)` of K boxes (negative for inverted boxes, as in torchvision). */
export function boxAreaArray(boxes: BoxesLike): number[] {
  const b = flatBoxes(boxes, 'boxAreaArray', 'boxes');
  const out: number[] = [];
  for (let i = 0; i < b.length; i += 4) out.push((b[i + 2] - b[i]) * (b[i + 3] - b[i + 1]));
  return out;
}

/** IoU of two single boxes; NaN when both are empty (0 / 0), as torchvision. */
export function boxPairIou(a: ArrayLike<number>, b: ArrayLike<number>): number {
  const w = Math.max(0, Math.min(a[2], b[2]) - Math.max(a[0], b[0]));
  const h = Math.max(0, Math.min(a[3], b[3]) - Math.max(a[1], b[1]));
  const inter = w * h;
  const areaA = (a[2] - a[0]) * (a[3] - a[1]);
  const areaB = (b[2] - b[0]) * (b[3] - b[1]);
  return inter / (areaA + areaB - inter);
}

/**
 * Pairwise IoU (Jaccard index), `torchvision.ops.box_iou`: `[N][M]` for N boxes in `boxes1` and
 * M in `boxes2`.
 */
export function boxIouArray(boxes1: BoxesLike, boxes2: BoxesLike): number[][] {
  const a = flatBoxes(boxes1, 'boxIouArray', 'boxes1');
  const b = flatBoxes(boxes2, 'boxIouArray', 'boxes2');
  const out: number[][] = [];
  for (let i = 0; i < a.length; i += 4) {
    const row: number[] = [];
    const bi = a.subarray(i, i + 4);
    for (let j = 0; j < b.length; j += 4) row.push(boxPairIou(bi, b.subarray(j, j + 4)));
    out.push(row);
  }
  return out;
}

function checkFormat(fmt: unknown, op: string, arg: string): asserts fmt is BoxFormat {
  if (!BOX_FORMATS.includes(fmt as BoxFormat)) {
    throw new Error(`Error in ${op}: ${arg} must be one of ${BOX_FORMATS.join(', ')} but got ${JSON.stringify(fmt)}`);
  }
}

/** Converts one box in place between formats (via xyxy), with torchvision's formulas. */
export function convertBoxValues(b: Float64Array, i: number, inFmt: BoxFormat, outFmt: BoxFormat): void {
  if (inFmt === outFmt) return;
  let x1 = b[i];
  let y1 = b[i + 1];
  let x2 = b[i + 2];
  let y2 = b[i + 3];
  if (inFmt === 'xywh') {
    x2 = x1 + x2;
    y2 = y1 + y2;
  } else if (inFmt === 'cxcywh') {
    const [cx, cy, w, h] = [x1, y1, x2, y2];
    x1 = cx - 0.5 * w;
    y1 = cy - 0.5 * h;
    x2 = cx + 0.5 * w;
    y2 = cy + 0.5 * h;
  }
  if (outFmt === 'xyxy') {
    b.set([x1, y1, x2, y2], i);
  } else if (outFmt === 'xywh') {
    b.set([x1, y1, x2 - x1, y2 - y1], i);
  } else {
    b.set([(x1 + x2) / 2, (y1 + y2) / 2, x2 - x1, y2 - y1], i);
  }
}

/** `torchvision.ops.box_convert`: converts K boxes from `inFmt` to `outFmt`. */
export function boxConvertArray(boxes: BoxesLike, inFmt: BoxFormat, outFmt: BoxFormat): Box[] {
  checkFormat(inFmt, 'boxConvertArray', 'inFmt');
  checkFormat(outFmt, 'boxConvertArray', 'outFmt');
  const b = flatBoxes(boxes, 'boxConvertArray', 'boxes');
  for (let i = 0; i < b.length; i += 4) convertBoxValues(b, i, inFmt, outFmt);
  return rows(b);
}

/** Checks `size` = `[height, width]` for the clip functions. */
export function checkImageSize(size: unknown, op: string): [number, number] {
  if (!Array.isArray(size) || size.length !== 2 || !size.every((s) => typeof s === 'number' && s >= 0 && Number.isFinite(s))) {
    throw new Error(`Error in ${op}: size must be [height, width] of finite numbers >= 0 but got ${JSON.stringify(size)}`);
  }
  return [size[0], size[1]];
}

/**
 * `torchvision.ops.clip_boxes_to_image`: clamps x to `[0, width]` and y to `[0, height]`.
 * @param size `[height, width]` of the image, as in torchvision.
 */
export function clipBoxesArray(boxes: BoxesLike, size: readonly [number, number]): Box[] {
  const [height, width] = checkImageSize(size, 'clipBoxesArray');
  const b = flatBoxes(boxes, 'clipBoxesArray', 'boxes');
  const clamp = (v: number, hi: number) => Math.min(Math.max(v, 0), hi);
  for (let i = 0; i < b.length; i += 4) {
    b[i] = clamp(b[i], width);
    b[i + 1] = clamp(b[i + 1], height);
    b[i + 2] = clamp(b[i + 2], width);
    b[i + 3] = clamp(b[i + 3], height);
  }
  return rows(b);
}

function checkScores(scores: ArrayLike<number>, k: number, op: string, arg = 'scores'): void {
  if (scores == null || typeof scores !== 'object' || typeof scores.length !== 'number') {
    throw new Error(`Error in ${op}: ${arg} must be an array of numbers but got ${describeValue(scores)}`);
  }
  if (scores.length !== k) {
    throw new Error(`Error in ${op}: ${arg} must have one entry per box (${k}) but had ${scores.length}`);
  }
}

function checkThreshold(t: unknown, op: string): void {
  if (typeof t !== 'number' || Number.isNaN(t)) {
    throw new Error(`Error in ${op}: iouThreshold must be a number but got ${String(t)}`);
  }
}

/**
 * Greedy NMS core over a subset `order` of boxes sorted by decreasing score. `round` is
 * identity for doubles, Math.fround to evaluate like torchvision's float kernel.
 */
export function nmsOrdered(
  b: ArrayLike<number>,
  order: number[],
  iouThreshold: number,
  round: (v: number) => number,
): number[] {
  const keep: number[] = [];
  const suppressed = new Uint8Array(order.length);
  const area = (i: number) => round(round(b[4 * i + 2] - b[4 * i]) * round(b[4 * i + 3] - b[4 * i + 1]));
  const areas = order.map(area);
  for (let oi = 0; oi < order.length; oi++) {
    if (suppressed[oi]) continue;
    const i = order[oi];
    keep.push(i);
    const [ix1, iy1, ix2, iy2] = [b[4 * i], b[4 * i + 1], b[4 * i + 2], b[4 * i + 3]];
    for (let oj = oi + 1; oj < order.length; oj++) {
      if (suppressed[oj]) continue;
      const j = order[oj];
      const w = Math.max(0, round(Math.min(ix2, b[4 * j + 2]) - Math.max(ix1, b[4 * j])));
      const h = Math.max(0, round(Math.min(iy2, b[4 * j + 3]) - Math.max(iy1, b[4 * j + 1])));
      const inter = round(w * h);
      const ovr = round(inter / round(round(areas[oi] + areas[oj]) - inter));
      if (ovr > iouThreshold) suppressed[oj] = 1;
    }
  }
  return keep;
}

/** Box indices sorted by decreasing score, ties by increasing index (a stable sort). */
export function orderByScore(scores: ArrayLike<number>, indices?: number[]): number[] {
  const idx = indices ?? Array.from({ length: scores.length }, (_, i) => i);
  return idx.slice().sort((a, b) => scores[b] - scores[a] || a - b);
}

/**
 * `torchvision.ops.nms`: greedy non-maximum suppression. Returns the indices of the kept boxes
 * by decreasing score. A box is dropped when its IoU with a kept, higher-scoring box is
 * strictly greater than `iouThreshold`.
 */
export function nmsArray(boxes: BoxesLike, scores: ArrayLike<number>, iouThreshold: number): number[] {
  const b = flatBoxes(boxes, 'nmsArray', 'boxes');
  checkScores(scores, b.length / 4, 'nmsArray');
  checkThreshold(iouThreshold, 'nmsArray');
  return nmsOrdered(b, orderByScore(scores), iouThreshold, (v) => v);
}

/** Class-aware NMS core: per category, then all kept indices by decreasing score. */
export function batchedNmsOrdered(
  b: ArrayLike<number>,
  scores: ArrayLike<number>,
  idxs: ArrayLike<number>,
  iouThreshold: number,
  round: (v: number) => number,
): number[] {
  const groups = new Map<number, number[]>();
  for (let i = 0; i < idxs.length; i++) {
    const g = groups.get(idxs[i]);
    if (g) g.push(i);
    else groups.set(idxs[i], [i]);
  }
  const keep: number[] = [];
  for (const members of groups.values()) {
    keep.push(...nmsOrdered(b, orderByScore(scores, members), iouThreshold, round));
  }
  return orderByScore(scores, keep);
}

/**
 * `torchvision.ops.batched_nms`: NMS done independently per category `idxs[i]` (boxes of
 * different categories never suppress each other). Returns kept indices by decreasing score.
 */
export function batchedNmsArray(
  boxes: BoxesLike,
  scores: ArrayLike<number>,
  idxs: ArrayLike<number>,
  iouThreshold: number,
): number[] {
  const b = flatBoxes(boxes, 'batchedNmsArray', 'boxes');
  checkScores(scores, b.length / 4, 'batchedNmsArray');
  checkScores(idxs, b.length / 4, 'batchedNmsArray', 'idxs');
  checkThreshold(iouThreshold, 'batchedNmsArray');
  return batchedNmsOrdered(b, scores, idxs, iouThreshold, (v) => v);
}
