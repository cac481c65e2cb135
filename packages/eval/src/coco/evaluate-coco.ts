/**
 * COCO bounding-box evaluation, the same algorithm as pycocotools' `COCOeval` with
 * `iouType='bbox'` and default parameters (our own code, written from reading `cocoeval.py`):
 *
 * - IoU thresholds 0.50:0.05:0.95 (computed as numpy's `linspace` does), 101 recall points
 *   0:0.01:1, area ranges all / small (< 32²) / medium / large (> 96²) on the ground truth's
 *   `area` field, maxDets 1 / 10 / 100.
 * - Crowd ground truth (`iscrowd: 1`) is ignored; its IoU is intersection / detection area and
 *   it can absorb several detections. As in pycocotools an `ignore` field on an annotation is
 *   overwritten by `iscrowd` (it has no effect).
 * - Detections are sorted by score with a stable sort (numpy `kind='mergesort'`), per image and
 *   again across images, so ties keep the input order.
 * - A detection's area (for area-range ignoring of unmatched detections) is `w * h`, and
 *   detection ids are 1..N in input order, as `COCO.loadRes` assigns them.
 * - -1 marks a statistic with nothing to average (no non-ignored ground truth).
 */
import { ScrlError } from '@scrl/util';

/** COCO ground truth for box evaluation: the parts of an `instances_*.json` that matter. */
export interface CocoGroundTruth {
  images: Array<{ id: number; [key: string]: unknown }>;
  annotations: CocoAnnotation[];
  categories: Array<{ id: number; name?: string; [key: string]: unknown }>;
}

export interface CocoAnnotation {
  id: number;
  image_id: number;
  category_id: number;
  /** `[x, y, width, height]` in pixels. */
  bbox: [number, number, number, number] | number[];
  /** Object area used for the area ranges; defaults to `width * height` when absent. */
  area?: number;
  /** 1 marks a crowd region (ignored, matched by intersection over detection area). */
  iscrowd?: number;
  [key: string]: unknown;
}

/** One detection in the COCO results format. */
export interface CocoDetection {
  image_id: number;
  category_id: number;
  /** `[x, y, width, height]` in pixels. */
  bbox: [number, number, number, number] | number[];
  score: number;
}

/** The 12 summary numbers in pycocotools' order. */
export const COCO_STAT_NAMES = [
  'AP',
  'AP50',
  'AP75',
  'APs',
  'APm',
  'APl',
  'AR1',
  'AR10',
  'AR100',
  'ARs',
  'ARm',
  'ARl',
] as const;
export type CocoStatName = (typeof COCO_STAT_NAMES)[number];

export interface CocoEvalResult {
  /** The 12 numbers of pycocotools' `summarize()`, in `COCO_STAT_NAMES` order; -1 = undefined. */
  stats: number[];
  /** The same numbers by name. */
  named: Record<CocoStatName, number>;
  /**
   * AP@[0.50:0.95] per category (area all, maxDets 100), in ascending category id order;
   * -1 for a category without (non-crowd) ground truth.
   */
  perClass: Array<{ categoryId: number; name: string; ap: number; ap50: number }>;
  /** Precision array [T=10][R=101][K][A=4][M=3] flattened row-major, -1 where undefined. */
  precision: Float64Array;
  /** Recall array [T=10][K][A=4][M=3] flattened row-major, -1 where undefined. */
  recall: Float64Array;
  /** Dimensions of `precision`: [T, R, K, A, M]. */
  counts: [number, number, number, number, number];
  /** Category ids in the order of the K axis. */
  categoryIds: number[];
}

/** numpy.linspace(start, stop, num) as numpy computes it (i * step + start, last = stop). */
function linspace(start: number, stop: number, num: number): number[] {
  const step = (stop - start) / (num - 1);
  const out: number[] = [];
  for (let i = 0; i < num; i++) out.push(i * step + start);
  out[num - 1] = stop;
  return out;
}

export const COCO_IOU_THRESHOLDS: readonly number[] = linspace(0.5, 0.95, Math.round((0.95 - 0.5) / 0.05) + 1);
export const COCO_RECALL_THRESHOLDS: readonly number[] = linspace(0, 1, Math.round(1 / 0.01) + 1);
export const COCO_AREA_RANGES: ReadonlyArray<readonly [number, number]> = [
  [0, 1e5 ** 2],
  [0, 32 ** 2],
  [32 ** 2, 96 ** 2],
  [96 ** 2, 1e5 ** 2],
];
export const COCO_AREA_LABELS = ['all', 'small', 'medium', 'large'] as const;
export const COCO_MAX_DETS: readonly number[] = [1, 10, 100];

/** numpy's np.spacing(1): the gap after 1.0 in float64. */
const EPS = 2.220446049250313e-16;

interface Gt {
  id: number;
  bbox: number[];
  area: number;
  iscrowd: boolean;
}
interface Dt {
  id: number;
  bbox: number[];
  area: number;
  score: number;
}
interface ImageEval {
  /** Detection scores in matched order (sorted, truncated to maxDets[-1]). */
  dtScores: number[];
  /** [T][D] id of the matched gt (0 = none). */
  dtMatches: number[][];
  /** [T][D] whether the detection is ignored. */
  dtIgnore: boolean[][];
  /** [G] whether the gt is ignored. */
  gtIgnore: boolean[];
}

/** Indices that sort `keys` ascending, stable (equal keys keep their order), like mergesort. */
function stableArgsort(keys: number[]): number[] {
  const idx = keys.map((_, i) => i);
  // Array.prototype.sort is stable since ES2019.
  idx.sort((a, b) => (keys[a] < keys[b] ? -1 : keys[a] > keys[b] ? 1 : 0));
  return idx;
}

/**
 * IoU of boxes in [x, y, w, h], crowd gt measured by intersection over detection area. Not
 * roi-align's `boxPairIou` on purpose: this is pycocotools' `maskApi` rule (the crowd case, and
 * its own arithmetic order), which the parity cases check to 1e-9.
 */
function bboxIou(d: number[], g: number[], crowd: boolean): number {
  const w = Math.min(d[0] + d[2], g[0] + g[2]) - Math.max(d[0], g[0]);
  if (w <= 0) return 0;
  const h = Math.min(d[1] + d[3], g[1] + g[3]) - Math.max(d[1], g[1]);
  if (h <= 0) return 0;
  const i = w * h;
  const da = d[2] * d[3];
  const u = crowd ? da : da + g[2] * g[3] - i;
  return i / u;
}

function checkBox(fn: string, what: string, bbox: unknown): number[] {
  if (!Array.isArray(bbox) || bbox.length !== 4 || bbox.some((v) => typeof v !== 'number' || !Number.isFinite(v))) {
    throw new ScrlError(`Error in ${fn}: ${what} bbox must be [x, y, width, height] of 4 finite numbers, got ${JSON.stringify(bbox)}.`);
  }
  return bbox as number[];
}

function evaluateImage(
  gts: Gt[],
  dts: Dt[],
  ious: number[][],
  areaRange: readonly [number, number],
  maxDet: number,
): ImageEval | null {
  if (gts.length === 0 && dts.length === 0) return null;
  const gIgnoreRaw = gts.map((g) => g.iscrowd || g.area < areaRange[0] || g.area > areaRange[1]);
  const gtOrder = stableArgsort(gIgnoreRaw.map((b) => (b ? 1 : 0)));
  const gt = gtOrder.map((i) => gts[i]);
  const gtIg = gtOrder.map((i) => gIgnoreRaw[i]);
  // `dts` arrive already sorted by score and truncated to maxDets[-1] (see computeIous).
  const dt = dts.slice(0, maxDet);
  const T = COCO_IOU_THRESHOLDS.length;
  const G = gt.length;
  const D = dt.length;
  const gtm: number[][] = [];
  const dtm: number[][] = [];
  const dtIg: boolean[][] = [];
  for (let t = 0; t < T; t++) {
    gtm.push(new Array<number>(G).fill(0));
    dtm.push(new Array<number>(D).fill(0));
    dtIg.push(new Array<boolean>(D).fill(false));
  }
  if (G > 0 && D > 0) {
    for (let t = 0; t < T; t++) {
      for (let di = 0; di < D; di++) {
        let best = Math.min(COCO_IOU_THRESHOLDS[t], 1 - 1e-10);
        let m = -1;
        for (let gi = 0; gi < G; gi++) {
          if (gtm[t][gi] > 0 && !gt[gi].iscrowd) continue;
          // Matched a regular gt already and the rest are ignored ones: stop.
          if (m > -1 && !gtIg[m] && gtIg[gi]) break;
          const iou = ious[di][gtOrder[gi]];
          if (iou < best) continue;
          best = iou;
          m = gi;
        }
        if (m === -1) continue;
        dtIg[t][di] = gtIg[m];
        dtm[t][di] = gt[m].id;
        gtm[t][m] = dt[di].id;
      }
    }
  }
  // Unmatched detections outside the area range are ignored.
  for (let di = 0; di < D; di++) {
    const outside = dt[di].area < areaRange[0] || dt[di].area > areaRange[1];
    if (!outside) continue;
    for (let t = 0; t < T; t++) if (dtm[t][di] === 0) dtIg[t][di] = true;
  }
  return { dtScores: dt.map((d) => d.score), dtMatches: dtm, dtIgnore: dtIg, gtIgnore: gtIg };
}

/**
 * Scores box detections against COCO ground truth exactly as pycocotools'
 * `COCOeval(gt, dt, 'bbox').evaluate(); accumulate(); summarize()` does.
 *
 * @param groundTruth COCO dict `{ images, annotations, categories }`; every image and category
 *   listed is evaluated (images without annotations count, categories without ground truth
 *   get -1).
 * @param detections `[{ image_id, category_id, bbox: [x, y, w, h], score }]`. Detections on
 *   an image absent from `groundTruth.images` are an error (pycocotools asserts the same);
 *   detections of a category absent from `categories` are dropped, as pycocotools does.
 * @returns `stats` (the 12 summary numbers), per-class AP and the raw precision / recall arrays.
 */
export function evaluateCoco(groundTruth: CocoGroundTruth, detections: CocoDetection[]): CocoEvalResult {
  const fn = 'evaluateCoco';
  if (groundTruth == null || !Array.isArray(groundTruth.images) || !Array.isArray(groundTruth.annotations) || !Array.isArray(groundTruth.categories)) {
    throw new ScrlError(`Error in ${fn}: groundTruth must be a COCO dict with arrays 'images', 'annotations' and 'categories'.`);
  }
  if (!Array.isArray(detections)) {
    throw new ScrlError(`Error in ${fn}: detections must be an array of { image_id, category_id, bbox, score }, got ${typeof detections}.`);
  }
  const imgIds = [...new Set(groundTruth.images.map((im) => im.id))].sort((a, b) => a - b);
  const catIds = [...new Set(groundTruth.categories.map((c) => c.id))].sort((a, b) => a - b);
  const imgSet = new Set(imgIds);
  const catIndex = new Map(catIds.map((c, k) => [c, k]));
  const imgIndex = new Map(imgIds.map((id, i) => [id, i]));
  const I = imgIds.length;
  const K = catIds.length;

  // Group gt and dt per (image, category), in input order within a group.
  const gtGroups = new Map<number, Gt[]>();
  const dtGroups = new Map<number, Dt[]>();
  const key = (i: number, k: number): number => k * I + i;
  const seenGt = new Set<number>();
  for (const a of groundTruth.annotations) {
    const bbox = checkBox(fn, `groundTruth annotation ${a.id}`, a.bbox);
    if (seenGt.has(a.id)) {
      throw new ScrlError(`Error in ${fn}: groundTruth annotation id ${a.id} appears twice; annotation ids must be unique.`);
    }
    seenGt.add(a.id);
    const i = imgIndex.get(a.image_id);
    const k = catIndex.get(a.category_id);
    if (i === undefined || k === undefined) continue;
    const g: Gt = { id: a.id, bbox, area: a.area ?? bbox[2] * bbox[3], iscrowd: Boolean(a.iscrowd) };
    const list = gtGroups.get(key(i, k));
    if (list) list.push(g);
    else gtGroups.set(key(i, k), [g]);
  }
  detections.forEach((d, n) => {
    const bbox = checkBox(fn, `detection ${n}`, d.bbox);
    if (!imgSet.has(d.image_id)) {
      throw new ScrlError(`Error in ${fn}: detection ${n} has image_id ${d.image_id}, which is not in groundTruth.images; results must refer to ground-truth images.`);
    }
    if (typeof d.score !== 'number' || Number.isNaN(d.score)) {
      throw new ScrlError(`Error in ${fn}: detection ${n} score must be a number, got ${JSON.stringify(d.score)}.`);
    }
    const k = catIndex.get(d.category_id);
    if (k === undefined) return;
    const i = imgIndex.get(d.image_id)!;
    const dt: Dt = { id: n + 1, bbox, area: bbox[2] * bbox[3], score: d.score };
    const list = dtGroups.get(key(i, k));
    if (list) list.push(dt);
    else dtGroups.set(key(i, k), [dt]);
  });

  const maxDetLast = COCO_MAX_DETS[COCO_MAX_DETS.length - 1];
  const T = COCO_IOU_THRESHOLDS.length;
  const R = COCO_RECALL_THRESHOLDS.length;
  const A = COCO_AREA_RANGES.length;
  const M = COCO_MAX_DETS.length;
  const precision = new Float64Array(T * R * K * A * M).fill(-1);
  const recall = new Float64Array(T * K * A * M).fill(-1);
  const pIdx = (t: number, r: number, k: number, a: number, m: number): number => (((t * R + r) * K + k) * A + a) * M + m;
  const rIdx = (t: number, k: number, a: number, m: number): number => ((t * K + k) * A + a) * M + m;

  for (let k = 0; k < K; k++) {
    // Per image: sort detections by score (stable), keep maxDets[-1], compute IoUs once.
    const perImage: Array<{ gts: Gt[]; dts: Dt[]; ious: number[][] }> = [];
    for (let i = 0; i < I; i++) {
      const gts = gtGroups.get(key(i, k)) ?? [];
      const raw = dtGroups.get(key(i, k)) ?? [];
      const order = stableArgsort(raw.map((d) => -d.score));
      const dts = order.map((j) => raw[j]).slice(0, maxDetLast);
      const ious = dts.map((d) => gts.map((g) => bboxIou(d.bbox, g.bbox, g.iscrowd)));
      perImage.push({ gts, dts, ious });
    }
    for (let a = 0; a < A; a++) {
      const evals: ImageEval[] = [];
      for (let i = 0; i < I; i++) {
        const e = evaluateImage(perImage[i].gts, perImage[i].dts, perImage[i].ious, COCO_AREA_RANGES[a], maxDetLast);
        if (e) evals.push(e);
      }
      if (evals.length === 0) continue;
      let npig = 0;
      for (const e of evals) for (const ig of e.gtIgnore) if (!ig) npig++;
      if (npig === 0) continue;
      for (let m = 0; m < M; m++) {
        const maxDet = COCO_MAX_DETS[m];
        const scores: number[] = [];
        const cols: Array<{ e: ImageEval; j: number }> = [];
        for (const e of evals) {
          const n = Math.min(maxDet, e.dtScores.length);
          for (let j = 0; j < n; j++) {
            scores.push(e.dtScores[j]);
            cols.push({ e, j });
          }
        }
        const order = stableArgsort(scores.map((s) => -s));
        const nd = order.length;
        for (let t = 0; t < T; t++) {
          const rc = new Float64Array(nd);
          const pr = new Float64Array(nd);
          let tp = 0;
          let fp = 0;
          for (let n = 0; n < nd; n++) {
            const { e, j } = cols[order[n]];
            const ignored = e.dtIgnore[t][j];
            const matched = e.dtMatches[t][j] !== 0;
            if (matched && !ignored) tp++;
            else if (!matched && !ignored) fp++;
            rc[n] = tp / npig;
            pr[n] = tp / (fp + tp + EPS);
          }
          recall[rIdx(t, k, a, m)] = nd ? rc[nd - 1] : 0;
          // Precision envelope: make it non-increasing from the right.
          for (let n = nd - 1; n > 0; n--) if (pr[n] > pr[n - 1]) pr[n - 1] = pr[n];
          // searchsorted(rc, recThrs, side='left'); points past the last recall stay 0.
          let pos = 0;
          for (let r = 0; r < R; r++) {
            const thr = COCO_RECALL_THRESHOLDS[r];
            while (pos < nd && rc[pos] < thr) pos++;
            precision[pIdx(t, r, k, a, m)] = pos < nd ? pr[pos] : 0;
          }
        }
      }
    }
  }

  const aAll = 0;
  const m100 = M - 1;
  const summarize = (ap: boolean, iouThr: number | null, area: number, m: number): number => {
    let sum = 0;
    let count = 0;
    const ts = iouThr === null ? [...Array(T).keys()] : [COCO_IOU_THRESHOLDS.findIndex((x) => x === iouThr)];
    for (const t of ts) {
      for (let k = 0; k < K; k++) {
        if (ap) {
          for (let r = 0; r < R; r++) {
            const v = precision[pIdx(t, r, k, area, m)];
            if (v > -1) {
              sum += v;
              count++;
            }
          }
        } else {
          const v = recall[rIdx(t, k, area, m)];
          if (v > -1) {
            sum += v;
            count++;
          }
        }
      }
    }
    return count === 0 ? -1 : sum / count;
  };
  const stats = [
    summarize(true, null, aAll, m100),
    summarize(true, 0.5, aAll, m100),
    summarize(true, 0.75, aAll, m100),
    summarize(true, null, 1, m100),
    summarize(true, null, 2, m100),
    summarize(true, null, 3, m100),
    summarize(false, null, aAll, 0),
    summarize(false, null, aAll, 1),
    summarize(false, null, aAll, m100),
    summarize(false, null, 1, m100),
    summarize(false, null, 2, m100),
    summarize(false, null, 3, m100),
  ];
  const named = Object.fromEntries(COCO_STAT_NAMES.map((n, i) => [n, stats[i]])) as Record<CocoStatName, number>;
  const names = new Map(groundTruth.categories.map((c) => [c.id, c.name ?? String(c.id)]));
  const classAp = (k: number, thresholds: number[]): number => {
    let sum = 0;
    let count = 0;
    for (const t of thresholds) {
      for (let r = 0; r < R; r++) {
        const v = precision[pIdx(t, r, k, aAll, m100)];
        if (v > -1) {
          sum += v;
          count++;
        }
      }
    }
    return count === 0 ? -1 : sum / count;
  };
  const perClass = catIds.map((c, k) => ({
    categoryId: c,
    name: String(names.get(c)),
    ap: classAp(k, [...Array(T).keys()]),
    ap50: classAp(k, [0]),
  }));
  return { stats, named, perClass, precision, recall, counts: [T, R, K, A, M], categoryIds: catIds };
}

/** Python's `'{:0.3f}'.format(x)`: like toFixed(3) but ties (exact in binary) go to even. */
function formatFixed3(x: number): string {
  const s16 = x * 16; // exact: ties at 3 decimals are exactly the odd multiples of 1/16
  if (Number.isInteger(s16) && Math.abs(s16) % 2 === 1) {
    const k = Math.floor(Math.abs(x) * 1000); // x*1000 = k + 0.5 exactly
    const even = k % 2 === 0 ? k : k + 1;
    return (x < 0 ? '-' : '') + (even / 1000).toFixed(3);
  }
  return x.toFixed(3);
}

/**
 * pycocotools' summary table, the 12 lines `summarize()` prints, e.g.
 * ` Average Precision  (AP) @[ IoU=0.50:0.95 | area=   all | maxDets=100 ] = 0.414`.
 */
export function formatCocoStats(stats: number[] | CocoEvalResult): string {
  const values = Array.isArray(stats) ? stats : stats.stats;
  if (values.length !== 12) {
    throw new ScrlError(`Error in formatCocoStats: expected the 12 COCO summary numbers, got ${values.length}.`);
  }
  const rows: Array<[boolean, string, string, number]> = [
    [true, '0.50:0.95', 'all', 100],
    [true, '0.50', 'all', 100],
    [true, '0.75', 'all', 100],
    [true, '0.50:0.95', 'small', 100],
    [true, '0.50:0.95', 'medium', 100],
    [true, '0.50:0.95', 'large', 100],
    [false, '0.50:0.95', 'all', 1],
    [false, '0.50:0.95', 'all', 10],
    [false, '0.50:0.95', 'all', 100],
    [false, '0.50:0.95', 'small', 100],
    [false, '0.50:0.95', 'medium', 100],
    [false, '0.50:0.95', 'large', 100],
  ];
  return rows
    .map(([ap, iou, area, maxDets], i) => {
      const title = (ap ? 'Average Precision' : 'Average Recall').padEnd(18);
      const type = ap ? '(AP)' : '(AR)';
      return ` ${title} ${type} @[ IoU=${iou.padEnd(9)} | area=${area.padStart(6)} | maxDets=${String(maxDets).padStart(3)} ] = ${formatFixed3(values[i])}`;
    })
    .join('\n');
}
