import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { COCO_IOU_THRESHOLDS, evaluateCoco, formatCocoStats } from '../index';
import type { CocoAnnotation, CocoDetection, CocoGroundTruth } from '../index';

const fixture = JSON.parse(readFileSync(join(__dirname, '../__fixtures__/coco_eval_cases.json'), 'utf8')) as {
  statsOrder: string;
  cases: Array<{ groundTruth: CocoGroundTruth; detections: CocoDetection[]; stats: number[] }>;
};

/** Ground truth with images 1..nImages, categories 1..nCats, annotations numbered 1..n. */
function gtOf(
  nImages: number,
  nCats: number,
  anns: Array<Omit<CocoAnnotation, 'id' | 'area'> & { area?: number }>,
): CocoGroundTruth {
  return {
    images: Array.from({ length: nImages }, (_, i) => ({ id: i + 1 })),
    categories: Array.from({ length: nCats }, (_, i) => ({ id: i + 1, name: `c${i + 1}` })),
    annotations: anns.map((a, n) => ({
      iscrowd: 0,
      ...a,
      id: n + 1,
      area: a.area ?? a.bbox[2] * a.bbox[3],
    })),
  };
}

const det = (image_id: number, bbox: number[], score: number, category_id = 1): CocoDetection => ({
  image_id,
  category_id,
  bbox,
  score,
});

/** Expects all 12 stats, to 1e-12. */
function expectStats(actual: number[], expected: number[]): void {
  expect(actual).toHaveLength(12);
  actual.forEach((v, i) => expect(v).toBeCloseTo(expected[i], 12));
}

describe('evaluateCoco against pycocotools (fixture cases)', () => {
  it('uses the same stat order as the fixture', () => {
    expect(fixture.statsOrder).toBe('AP,AP50,AP75,APs,APm,APl,AR1,AR10,AR100,ARs,ARm,ARl');
  });
  fixture.cases.forEach((c, n) => {
    it(`case ${n}: ${c.groundTruth.annotations.length} gts, ${c.detections.length} detections`, () => {
      const { stats } = evaluateCoco(c.groundTruth, c.detections);
      for (let i = 0; i < 12; i++) expect(Math.abs(stats[i] - c.stats[i])).toBeLessThan(1e-9);
    });
  });
});

describe('evaluateCoco rules (hand-worked cases)', () => {
  it('IoU thresholds are numpy linspace values', () => {
    expect(COCO_IOU_THRESHOLDS).toHaveLength(10);
    expect(COCO_IOU_THRESHOLDS[8]).toBe(0.8999999999999999); // as numpy prints it
    expect(COCO_IOU_THRESHOLDS[9]).toBe(0.95);
  });

  it('a perfect detection scores 1; area ranges without gt are -1', () => {
    // One small (area 100 < 32²) gt, found exactly: precision 1 at every recall point.
    // Medium and large have no gt: -1.
    const r = evaluateCoco(gtOf(1, 1, [{ image_id: 1, category_id: 1, bbox: [0, 0, 10, 10] }]), [
      det(1, [0, 0, 10, 10], 0.9),
    ]);
    expectStats(r.stats, [1, 1, 1, 1, -1, -1, 1, 1, 1, 1, -1, -1]);
    // Precision is tp / (tp + fp + eps) as in pycocotools, hence closeTo rather than 1 exactly.
    expect(r.perClass).toEqual([{ categoryId: 1, name: 'c1', ap: expect.closeTo(1, 12), ap50: expect.closeTo(1, 12) }]);
  });

  it('counts a match at each IoU threshold the IoU reaches', () => {
    // IoU = 72/100 = 0.72: matched at 0.50, 0.55, 0.60, 0.65, 0.70 (5 of 10 thresholds),
    // so AP = AR = 0.5, AP50 = 1, AP75 = 0.
    const r = evaluateCoco(gtOf(1, 1, [{ image_id: 1, category_id: 1, bbox: [0, 0, 10, 10] }]), [
      det(1, [0, 0, 10, 7.2], 0.9),
    ]);
    expectStats(r.stats, [0.5, 1, 0, 0.5, -1, -1, 0.5, 0.5, 0.5, 0.5, -1, -1]);
  });

  it('crowd gt: IoU over detection area, absorbs several detections, ignored', () => {
    // gt 1 regular [0,0,10,10]; gt 2 crowd [20,0,20,20]. Two detections inside the crowd region
    // (IoU = inter / det area = 1) score above the true positive. Both match the crowd gt (it
    // can match many) and are ignored, so the only counted detection is the TP: AP = 1.
    // (Treating them as false positives would give precision 1/3 at recall 1, or 1/2 if the
    // crowd matched only once.)
    const gt = gtOf(1, 1, [
      { image_id: 1, category_id: 1, bbox: [0, 0, 10, 10] },
      { image_id: 1, category_id: 1, bbox: [20, 0, 20, 20], iscrowd: 1 },
    ]);
    const r = evaluateCoco(gt, [det(1, [22, 2, 5, 5], 0.95), det(1, [30, 10, 5, 5], 0.93), det(1, [0, 0, 10, 10], 0.9)]);
    // AR1: the top-1 detection hits the crowd (ignored): recall 0.
    expectStats(r.stats, [1, 1, 1, 1, -1, -1, 0, 1, 1, 1, -1, -1]);
    // A detection half inside the crowd: inter 50 / det area 100 = 0.5 -> matched (ignored) at
    // IoU 0.50 only, a false positive at the other 9 thresholds. It scores above the TP:
    // at t = 0.50 precision is 1 everywhere, at the other nine the sequence FP, TP gives
    // envelope precision 1/2 at every recall point: AP = (1 + 9 * 0.5) / 10 = 0.55.
    const half = evaluateCoco(gt, [det(1, [15, 0, 10, 10], 0.95), det(1, [0, 0, 10, 10], 0.9)]);
    expect(half.stats[0]).toBeCloseTo(0.55, 12);
    expect(half.stats[1]).toBeCloseTo(1, 12);
  });

  it("an annotation's own `ignore` field has no effect, as in pycocotools", () => {
    // pycocotools sets gt['ignore'] = iscrowd, overwriting any ignore flag in the file. So a
    // missed gt with ignore: 1 (not crowd) still counts: 1 of 2 found -> AP 51/101, AR 0.5.
    const r = evaluateCoco(
      gtOf(1, 1, [
        { image_id: 1, category_id: 1, bbox: [0, 0, 10, 10] },
        { image_id: 1, category_id: 1, bbox: [50, 50, 10, 10], ignore: 1 },
      ]),
      [det(1, [0, 0, 10, 10], 0.9)],
    );
    expect(r.stats[0]).toBeCloseTo(51 / 101, 12);
    expect(r.stats[8]).toBeCloseTo(0.5, 12);
  });

  it('area ranges and maxDets', () => {
    // One image: small gt (area 100), medium gt (1600, missed), large gt (10000).
    // Detections: FP of medium size (area 1600) at 0.95, exact small at 0.9, exact large at 0.8.
    const gt = gtOf(1, 1, [
      { image_id: 1, category_id: 1, bbox: [0, 0, 10, 10] },
      { image_id: 1, category_id: 1, bbox: [50, 50, 40, 40] },
      { image_id: 1, category_id: 1, bbox: [100, 100, 100, 100] },
    ]);
    const r = evaluateCoco(gt, [det(1, [300, 300, 40, 40], 0.95), det(1, [0, 0, 10, 10], 0.9), det(1, [100, 100, 100, 100], 0.8)]);
    // all: FP, TP, TP over 3 gts -> recall 0, 1/3, 2/3; precision 0, 1/2, 2/3, envelope 2/3.
    //   Recall points 0.00..0.66 (67 of 101) get 2/3, the rest 0: AP = 67/101 * 2/3 at every
    //   IoU threshold (all matches are exact). AR100 = 2/3; AR1 keeps only the FP: 0.
    // small: medium/large gts ignored; the FP (area 1600, unmatched) is outside the range
    //   -> ignored; the large detection matches an ignored gt -> ignored. APs = ARs = 1.
    // medium: the one medium gt is missed; the small/large detections match ignored gts;
    //   the FP is in range and counts: APm = ARm = 0.
    // large: the large detection is the only one counted: APl = ARl = 1.
    const ap = ((67 / 101) * 2) / 3;
    expectStats(r.stats, [ap, ap, ap, 1, 0, 1, 0, 2 / 3, 2 / 3, 1, 0, 1]);
  });

  it('ties in score keep input order (stable sort), across and within images', () => {
    // Across images: image 1 has a FP at 0.5, image 2 a TP at 0.5; both images have one gt.
    // Image order: FP then TP -> recall 0, 1/2; precision 0, 1/2 -> envelope 1/2 on recall
    // points 0.00..0.50 (51): AP = 51/101 * 0.5. (TP first would give 51/101.)
    const across = evaluateCoco(
      gtOf(2, 1, [
        { image_id: 1, category_id: 1, bbox: [0, 0, 10, 10] },
        { image_id: 2, category_id: 1, bbox: [0, 0, 10, 10] },
      ]),
      [det(1, [50, 50, 10, 10], 0.5), det(2, [0, 0, 10, 10], 0.5)],
    );
    expect(across.stats[0]).toBeCloseTo((51 / 101) * 0.5, 12);
    // Within one image: d1 (IoU 0.62, listed first) and d2 (exact) tie at 0.5. d1 is matched
    // first: at IoU 0.50/0.55/0.60 it takes the gt (TP, then d2 FP: AP 1); at the other seven
    // thresholds d1 misses (FP, then TP: envelope 1/2 everywhere). AP = (3 + 7 * 0.5) / 10.
    // AR1 keeps d1 only: recall 1 at 3 thresholds -> 0.3.
    const within = evaluateCoco(gtOf(1, 1, [{ image_id: 1, category_id: 1, bbox: [0, 0, 10, 10] }]), [
      det(1, [0, 0, 10, 6.2], 0.5),
      det(1, [0, 0, 10, 10], 0.5),
    ]);
    expect(within.stats[0]).toBeCloseTo(0.65, 12);
    expect(within.stats[6]).toBeCloseTo(0.3, 12);
    expect(within.stats[8]).toBeCloseTo(1, 12);
  });

  it('a category without gt is -1 and left out; an image without detections counts its gts', () => {
    // Category 2 has only a FP detection: no gt -> -1, excluded from the means.
    // Category 1: image 1 found exactly, image 2's gt has no detection at all:
    // recall 1/2, precision 1 -> recall points 0.00..0.50: AP = 51/101, AR = 1/2.
    const r = evaluateCoco(
      gtOf(3, 2, [
        { image_id: 1, category_id: 1, bbox: [0, 0, 10, 10] },
        { image_id: 2, category_id: 1, bbox: [0, 0, 10, 10] },
      ]),
      [det(1, [0, 0, 10, 10], 0.9), det(1, [40, 40, 10, 10], 0.8, 2)],
    );
    const ap = 51 / 101;
    expectStats(r.stats, [ap, ap, ap, ap, -1, -1, 0.5, 0.5, 0.5, 0.5, -1, -1]);
    expect(r.perClass.map((c) => c.ap)).toEqual([ap, -1].map((v) => expect.closeTo(v, 12)));
  });

  it('no detections: 0 where gt exists; no gt: every stat -1', () => {
    const gt = gtOf(1, 1, [{ image_id: 1, category_id: 1, bbox: [0, 0, 10, 10] }]);
    expectStats(evaluateCoco(gt, []).stats, [0, 0, 0, 0, -1, -1, 0, 0, 0, 0, -1, -1]);
    expectStats(evaluateCoco(gtOf(1, 1, []), [det(1, [0, 0, 5, 5], 1)]).stats, new Array(12).fill(-1));
  });

  it('drops detections of unknown categories and rejects unknown images', () => {
    const gt = gtOf(1, 1, [{ image_id: 1, category_id: 1, bbox: [0, 0, 10, 10] }]);
    const r = evaluateCoco(gt, [det(1, [0, 0, 10, 10], 0.1), det(1, [50, 50, 10, 10], 0.9, 7)]);
    expect(r.stats[0]).toBeCloseTo(1, 12);
    expect(() => evaluateCoco(gt, [det(9, [0, 0, 1, 1], 1)])).toThrow(/evaluateCoco: detection 0 has image_id 9/);
    expect(() => evaluateCoco(gt, [det(1, [0, 0, 1], 1)])).toThrow(/evaluateCoco: detection 0 bbox must be/);
  });
});

describe('formatCocoStats', () => {
  it('prints pycocotools lines, with Python rounding of ties', () => {
    const lines = formatCocoStats(fixture.cases[0].stats).split('\n');
    expect(lines).toHaveLength(12);
    // Lines printed by pycocotools' format string for these stats.
    expect(lines[0]).toBe(' Average Precision  (AP) @[ IoU=0.50:0.95 | area=   all | maxDets=100 ] = 0.414');
    expect(lines[10]).toBe(' Average Recall     (AR) @[ IoU=0.50:0.95 | area=medium | maxDets=100 ] = 0.269');
    expect(lines[6]).toContain('maxDets=  1 ]');
    // Python: '{:0.3f}'.format(0.0625) == '0.062', 0.1875 -> '0.188', -1 -> '-1.000'.
    const tie = formatCocoStats([0.0625, 0.1875, -1, 0.9375, 0.3125, 0, 0, 0, 0, 0, 0, 0]).split('\n');
    expect(tie.slice(0, 5).map((l) => l.slice(-6).trim())).toEqual(['0.062', '0.188', '-1.000', '0.938', '0.312']);
  });
});
