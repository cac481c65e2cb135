import {
  boxPairBatchArrays,
  createRng,
  overlapFrame,
  pairIou,
  restoreRng,
  roundHalfEven,
  sampleBoxPairs,
  viewBoxToImage,
} from './index';
import type { BoxPair, Rng, ViewGeometry } from './index';
import { scriptedRng } from './__tests__/scripted-rng';
import fixtures from './__fixtures__/augment.json';

const S = 224;

function randomGeometry(rng: Rng, H: number, W: number): ViewGeometry {
  const h = rng.int(8, H);
  const w = rng.int(8, W);
  return { top: rng.int(0, H - h), left: rng.int(0, W - w), height: h, width: w, flipped: rng.bool(0.5) };
}

describe('roundHalfEven and pairIou', () => {
  it('rounds ties to even like Python', () => {
    expect([0.5, 1.5, 2.5, -0.5, -1.5, 2.4999, 2.5001, 3].map(roundHalfEven)).toEqual([0, 2, 2, 0, -2, 2, 3, 3]);
  });
  it('computes IoU of (x1, y1, x2, y2) boxes', () => {
    expect(pairIou([0, 0, 10, 10], [0, 0, 10, 10])).toBe(1);
    expect(pairIou([0, 0, 10, 10], [5, 0, 15, 10])).toBeCloseTo(50 / 150, 12);
    expect(pairIou([0, 0, 10, 10], [10, 0, 20, 10])).toBe(0);
    // One rule for the whole repo (torchvision's box_iou): two empty boxes have IoU 0 / 0 = NaN.
    expect(pairIou([0, 0, 0, 0], [0, 0, 0, 0])).toBeNaN();
  });
});

describe('sampleBoxPairs: hand-worked examples', () => {
  // View 1 sees a 448 x 448 crop at half scale; view 2 sees its bottom-right quarter at full scale.
  const big: ViewGeometry = { top: 0, left: 0, height: 448, width: 448, flipped: false };
  const quarter: ViewGeometry = { top: 224, left: 224, height: 224, width: 224, flipped: true };

  it('one view flipped: exact boxes from known draws', () => {
    // Overlap [224, 448]^2; coarser scale 0.5 -> W = H = 112, nW = nH = 3.
    // dw=2 dh=1 gx=1 gy=0 bw=40 bh=50 offsets 5, 10 -> bx = 5 + floor(1 * 56) = 61, by = 10.
    const rng = scriptedRng([], [2, 1, 1, 0, 40, 50, 5, 10]);
    const pairs = sampleBoxPairs(big, quarter, { viewSize: S, boxesPerImage: 1 }, rng);
    expect(pairs).toEqual([{ view1: [173, 122, 213, 172], view2: [22, 20, 102, 120] }]);
    expect(rng.remaining()).toBe(0);
  });

  it('one view flipped: every pair satisfies the mirror relation', () => {
    const pairs = sampleBoxPairs(big, quarter, { viewSize: S }, createRng(1));
    expect(pairs).toHaveLength(10);
    for (const { view1: a, view2: b } of pairs) {
      expect(b[0]).toBeCloseTo(448 - 2 * a[2], 9);
      expect(b[2]).toBeCloseTo(448 - 2 * a[0], 9);
      expect(b[1]).toBeCloseTo(2 * (a[1] - 112), 9);
      expect(b[3]).toBeCloseTo(2 * (a[3] - 112), 9);
    }
  });

  it('both views flipped: mirrored in both, so view 2 = 2 x view 1 in x', () => {
    const pairs = sampleBoxPairs({ ...big, flipped: true }, quarter, { viewSize: S }, createRng(2));
    expect(pairs).toHaveLength(10);
    for (const { view1: a, view2: b } of pairs) {
      expect(a[2]).toBeLessThanOrEqual(112 + 1e-9); // the overlap is the left half of flipped view 1
      expect(b[0]).toBeCloseTo(2 * a[0], 9);
      expect(b[2]).toBeCloseTo(2 * a[2], 9);
      expect(b[1]).toBeCloseTo(2 * (a[1] - 112), 9);
    }
  });

  it('identical unflipped views give identical boxes in both views', () => {
    const g: ViewGeometry = { top: 10, left: 20, height: 300, width: 200, flipped: false };
    for (const { view1, view2 } of sampleBoxPairs(g, g, { viewSize: S }, createRng(3))) expect(view2).toEqual(view1);
  });

  it('no overlap, or overlap only along an edge: no boxes', () => {
    const a: ViewGeometry = { top: 0, left: 0, height: 100, width: 100, flipped: false };
    expect(sampleBoxPairs(a, { ...a, left: 150 }, { viewSize: S }, createRng(0))).toEqual([]);
    expect(sampleBoxPairs(a, { ...a, left: 100 }, { viewSize: S }, createRng(0))).toEqual([]);
    expect(sampleBoxPairs(a, { ...a, top: 100 }, { viewSize: S }, createRng(0))).toEqual([]);
  });

  it('a sliver of overlap: W <= minSize gives none, rounding half to even decides the edge', () => {
    const a: ViewGeometry = { top: 0, left: 0, height: 224, width: 224, flipped: false };
    const at = (left: number) => sampleBoxPairs(a, { ...a, left }, { viewSize: S }, createRng(4)).length;
    expect(at(192)).toBe(0); // W = 32 = minSize
    expect(at(191.5)).toBe(0); // 32.5 rounds to 32
    expect(at(190.5)).toBe(10); // 33.5 rounds to 34
    expect(at(191)).toBe(10); // W = 33
    // A sliver that becomes usable at the coarser scale? No: the coarser view decides.
    const wide: ViewGeometry = { top: 0, left: 0, height: 448, width: 448, flipped: false };
    expect(sampleBoxPairs(wide, { ...a, left: 400 }, { viewSize: S }, createRng(4))).toEqual([]); // 48 px * 0.5 = 24
  });

  it('keeps the last candidate after maxTries rejections', () => {
    const g: ViewGeometry = { top: 0, left: 0, height: 224, width: 224, flipped: false };
    // W = 224, nW = 7. First box: the whole frame (dw = dh = 1, bw = bh = 224).
    const whole = [1, 1, 0, 0, 224, 224, 0, 0];
    // Candidates 2..4 all overlap it with IoU >= 0.5; the third of them must be kept.
    const near = (w: number) => [1, 1, 0, 0, w, w, 0, 0];
    const rng = scriptedRng([], [...whole, ...near(200), ...near(190), ...near(180)]);
    const pairs = sampleBoxPairs(g, g, { viewSize: S, boxesPerImage: 2, maxTries: 3 }, rng);
    expect(rng.remaining()).toBe(0);
    expect(pairs.map((p) => p.view1)).toEqual([
      [0, 0, 224, 224],
      [0, 0, 180, 180],
    ]);
    // An accepted candidate stops the tries early.
    const rng2 = scriptedRng([], [...whole, 2, 2, 0, 0, 32, 32, 0, 0]);
    const pairs2 = sampleBoxPairs(g, g, { viewSize: S, boxesPerImage: 2, maxTries: 3 }, rng2);
    expect(pairs2[1].view1).toEqual([0, 0, 32, 32]);
    expect(rng2.remaining()).toBe(0);
  });

  it('jitter moves only the view-2 box, by at most the ratio of its size per side', () => {
    const g: ViewGeometry = { top: 0, left: 0, height: 224, width: 224, flipped: false };
    const plain = sampleBoxPairs(g, g, { viewSize: S, boxesPerImage: 1 }, createRng(8));
    const jit = sampleBoxPairs(g, g, { viewSize: S, boxesPerImage: 1, jitter: 0.1 }, createRng(8));
    expect(jit[0].view1).toEqual(plain[0].view1);
    expect(jit[0].view2).not.toEqual(plain[0].view2);
    const [x1, y1, x2, y2] = plain[0].view2;
    const w = x2 - x1;
    const h = y2 - y1;
    const j = jit[0].view2;
    expect(Math.abs(j[0] - x1)).toBeLessThanOrEqual(0.1 * w + 1e-9);
    expect(Math.abs(j[1] - y1)).toBeLessThanOrEqual(0.1 * h + 1e-9);
    expect(Math.abs(j[2] - x2)).toBeLessThanOrEqual(0.2 * w + 1e-9);
  });

  it('rejects bad input with messages naming the argument', () => {
    const g: ViewGeometry = { top: 0, left: 0, height: 10, width: 10, flipped: false };
    expect(() => sampleBoxPairs(g, { ...g, width: 0 }, { viewSize: S }, createRng(0))).toThrow(/sampleBoxPairs: view2 must have positive height and width/);
    expect(() => sampleBoxPairs({ ...g, top: NaN }, g, { viewSize: S }, createRng(0))).toThrow(/view1.top must be a finite number/);
    expect(() => sampleBoxPairs(g, { ...g, flipped: 1 as never }, { viewSize: S }, createRng(0))).toThrow(/view2.flipped must be a boolean/);
    expect(() => sampleBoxPairs(g, g, {} as never, createRng(0))).toThrow(/options.viewSize must be a positive number/);
    expect(() => sampleBoxPairs(g, g, { viewSize: S, minSize: 0 }, createRng(0))).toThrow(/options.minSize/);
    expect(() => sampleBoxPairs(g, g, { viewSize: S, iouThreshold: 2 }, createRng(0))).toThrow(/options.iouThreshold/);
    expect(() => sampleBoxPairs(g, g, { viewSize: S, maxTries: 0 }, createRng(0))).toThrow(/options.maxTries/);
    expect(() => sampleBoxPairs(g, g, { viewSize: S }, undefined as never)).toThrow(/sampleBoxPairs: rng must be an Rng/);
  });
});

describe('sampleBoxPairs: properties over random geometries', () => {
  const geo = createRng('box-properties');
  const cases: Array<{ v1: ViewGeometry; v2: ViewGeometry; pairs: BoxPair[]; seed: number; S: number; minSize: number }> = [];
  for (let i = 0; i < 3000; i++) {
    const H = geo.int(40, 1200);
    const W = geo.int(40, 1200);
    const v1 = randomGeometry(geo, H, W);
    const v2 = randomGeometry(geo, H, W);
    const size = [224, 224, 160, 96][i % 4];
    const minSize = size === 96 ? 16 : 32;
    cases.push({ v1, v2, seed: i, S: size, minSize, pairs: sampleBoxPairs(v1, v2, { viewSize: size, minSize }, createRng(i)) });
  }

  it('gives K pairs exactly when the overlap is usable, none otherwise (both kinds occur)', () => {
    let usable = 0;
    for (const c of cases) {
      const f = overlapFrame(c.v1, c.v2, c.S, c.minSize);
      expect(c.pairs.length).toBe(f ? 10 : 0);
      if (f) usable++;
    }
    expect(usable).toBeGreaterThan(300);
    expect(usable).toBeLessThan(cases.length - 300);
  });

  it('maps each pair back to the same original region (flip undone), inside the overlap, at least minSize', () => {
    let worstMismatch = 0;
    let bad = 0;
    for (const c of cases) {
      const f = overlapFrame(c.v1, c.v2, c.S, c.minSize);
      if (!f) continue;
      // Clipping to [0, S] trims at most the rounding slack of W: half a pixel of the coarser frame.
      const slackX = 0.5 / f.sx + 1e-9 * (1 + f.right);
      const slackY = 0.5 / f.sy + 1e-9 * (1 + f.bottom);
      for (const p of c.pairs) {
        const a = viewBoxToImage(p.view1, c.v1, c.S);
        const b = viewBoxToImage(p.view2, c.v2, c.S);
        for (let k = 0; k < 4; k++) worstMismatch = Math.max(worstMismatch, Math.abs(a[k] - b[k]) / (k % 2 === 0 ? slackX : slackY));
        for (const box of [a, b]) {
          // W is rounded, so a box may pass the overlap's far edge by that same slack (as in the reference).
          if (box[0] < f.left - 1e-9 || box[2] > f.right + slackX || box[1] < f.top - 1e-9 || box[3] > f.bottom + slackY) bad++;
          if ((box[2] - box[0]) * f.sx < c.minSize - 0.5 - 1e-6 || (box[3] - box[1]) * f.sy < c.minSize - 0.5 - 1e-6) bad++;
        }
        for (const v of [p.view1, p.view2]) {
          if (!(v[0] >= 0 && v[1] >= 0 && v[2] <= c.S && v[3] <= c.S && v[0] < v[2] && v[1] < v[3])) bad++;
        }
      }
    }
    expect(bad).toBe(0);
    expect(worstMismatch).toBeLessThanOrEqual(1);
  });

  it('keeps same-image view-1 IoU >= 0.5 rare: none in large overlaps, a few in small ones (maxTries fallback)', () => {
    const count = { large: 0, largeHigh: 0, all: 0, allHigh: 0 };
    for (const c of cases) {
      const f = overlapFrame(c.v1, c.v2, c.S, c.minSize);
      const large = f !== null && f.W >= 4 * c.minSize && f.H >= 4 * c.minSize;
      for (let i = 0; i < c.pairs.length; i++) {
        for (let j = 0; j < i; j++) {
          const high = pairIou(c.pairs[i].view1, c.pairs[j].view1) >= 0.5 ? 1 : 0;
          count.all++;
          count.allHigh += high;
          if (large) {
            count.large++;
            count.largeHigh += high;
          }
        }
      }
    }
    expect(count.large).toBeGreaterThan(5000);
    expect(count.largeHigh / count.large).toBeLessThan(0.01);
    // Overlaps of 1-3 cells cannot hold 10 boxes apart: the kept last candidates make up the rest.
    expect(count.allHigh / count.all).toBeLessThan(0.1);
  });

  it('replays by seed and by restored state', () => {
    for (const c of cases.slice(0, 200)) {
      expect(sampleBoxPairs(c.v1, c.v2, { viewSize: c.S, minSize: c.minSize }, createRng(c.seed))).toEqual(c.pairs);
    }
    const rng = createRng(77);
    rng.next();
    const state = JSON.parse(JSON.stringify(rng.getState()));
    const c = cases.find((x) => x.pairs.length > 0)!;
    const first = sampleBoxPairs(c.v1, c.v2, { viewSize: c.S, minSize: c.minSize }, rng);
    expect(sampleBoxPairs(c.v1, c.v2, { viewSize: c.S, minSize: c.minSize }, restoreRng(state))).toEqual(first);
  });

  it('matches a Python re-implementation of the reference, driven by the same sfc32 stream', () => {
    let compared = 0;
    for (const fx of fixtures.box_pairs) {
      const rng = restoreRng({ algorithm: 'sfc32', key: [0, 0, 0, 0], state: fx.state as [number, number, number, number] });
      const got = sampleBoxPairs(fx.view1, fx.view2, { viewSize: fx.viewSize, minSize: fx.minSize }, rng);
      expect(got.length).toBe(fx.pairs.length);
      got.forEach((p, i) => {
        for (let k = 0; k < 4; k++) {
          expect(p.view1[k]).toBeCloseTo(fx.pairs[i][0][k], 6);
          expect(p.view2[k]).toBeCloseTo(fx.pairs[i][1][k], 6);
        }
        compared++;
      });
    }
    expect(compared).toBeGreaterThanOrEqual(150);
  });
});

describe('boxPairBatchArrays', () => {
  it('stacks view-1 boxes then view-2 boxes with indices i and B + i', () => {
    const pair = (v: number): BoxPair => ({ view1: [v, v, v + 1, v + 1], view2: [v + 10, v, v + 11, v + 1] });
    const a = boxPairBatchArrays([[pair(1), pair(2)], [], [pair(3)]]);
    expect(a.numPairs).toBe(3);
    expect(a.numImages).toBe(3);
    expect(Array.from(a.boxIndices)).toEqual([0, 0, 2, 3, 3, 5]);
    expect(Array.from(a.pairImage)).toEqual([0, 0, 2]);
    expect(Array.from(a.boxes.subarray(0, 4))).toEqual([1, 1, 2, 2]);
    expect(Array.from(a.boxes.subarray(12, 16))).toEqual([11, 1, 12, 2]);
    expect(Array.from(a.boxes.subarray(20, 24))).toEqual([13, 3, 14, 4]);
  });
  it('handles a batch without any pair', () => {
    const a = boxPairBatchArrays([[], []]);
    expect(a.numPairs).toBe(0);
    expect(a.boxes.length).toBe(0);
    expect(a.boxIndices.length).toBe(0);
    expect(boxPairBatchArrays([]).numPairs).toBe(0);
  });
  it('rejects malformed input', () => {
    expect(() => boxPairBatchArrays(null as never)).toThrow(/boxPairBatch: pairsPerImage must be an array/);
    expect(() => boxPairBatchArrays([null as never])).toThrow(/pairsPerImage\[0\] must be an array/);
    expect(() => boxPairBatchArrays([[{ view1: [0, 0, 1, NaN], view2: [0, 0, 1, 1] }]])).toThrow(/non-finite/);
  });
});
