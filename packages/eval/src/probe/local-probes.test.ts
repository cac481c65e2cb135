import * as tf from '@tensorflow/tfjs-core';
import type { RgbImage } from '@scrl/augment';
import { createResNet } from '@scrl/models';
import { describeEachBackend } from '@scrl/testing';
import {
  boxProbe,
  denseProbe,
  denseTargets,
  fitSoftmaxRegression,
  logisticRegression,
  recomputeBatchNorm,
  segmentationScores,
  withRecomputedBatchNorm,
} from '../index';
import type { Backbone, DetectionSample } from '../index';
import { mulberry32 } from '@scrl/util';

const COLOURS: Array<[number, number, number]> = [
  [230, 40, 40],
  [40, 200, 60],
  [50, 70, 230],
];
const CATEGORIES = COLOURS.map((_, i) => ({ id: 10 + i, name: `colour${i}` }));

/**
 * 32 x 32 grey images with 1 or 2 solid squares of 8 or 16 px on the 8 px grid, in different
 * 16 px quadrants (no overlap); the class is the square's colour (category ids 10, 11, 12).
 */
function colourScenes(n: number, seed: number): DetectionSample[] {
  const rand = mulberry32(seed);
  return Array.from({ length: n }, (_, id) => {
    const data = new Uint8Array(32 * 32 * 3).fill(128);
    const bboxes: number[][] = [];
    const categoryIds: number[] = [];
    const count = 1 + Math.floor(rand() * 2);
    const first = Math.floor(rand() * 4);
    for (let o = 0; o < count; o++) {
      const quadrant = (first + 2 * o) % 4;
      const side = rand() < 0.5 ? 8 : 16;
      const x0 = 16 * (quadrant % 2) + (side === 8 ? 8 * Math.floor(rand() * 2) : 0);
      const y0 = 16 * Math.floor(quadrant / 2) + (side === 8 ? 8 * Math.floor(rand() * 2) : 0);
      const cls = Math.floor(rand() * 3);
      for (let y = y0; y < y0 + side; y++) for (let x = x0; x < x0 + side; x++) data.set(COLOURS[cls], (y * 32 + x) * 3);
      bboxes.push([x0, y0, side, side]);
      categoryIds.push(10 + cls);
    }
    return { id, image: { data, width: 32, height: 32 } as RgbImage, bboxes, categoryIds };
  });
}

/** A backbone whose C4 / C5 are the image average-pooled by 4 / 8: features that are the colour. */
function poolingBackbone(): Backbone {
  return {
    features(x: tf.Tensor4D) {
      const c4 = tf.avgPool(x, 4, 4, 'valid');
      const c5 = tf.avgPool(x, 8, 8, 'valid');
      return { c2: tf.avgPool(x, 1, 1, 'valid'), c3: tf.avgPool(x, 2, 2, 'valid'), c4, c5, pooled: tf.mean(c5, [1, 2]) as tf.Tensor2D };
    },
    parameters: () => [],
    buffers: () => [],
    dispose: () => undefined,
  };
}

describe('segmentationScores and denseTargets', () => {
  it('compute per-class IoU and mIoU by hand', () => {
    // class 0: TP 1; class 1: TP 1, FP 1; class 2: TP 1, FN 1; class 3 absent from both.
    const s = segmentationScores([0, 1, 1, 2], [0, 1, 2, 2], 4);
    expect(s.iou.slice(0, 3)).toEqual([1, 0.5, 0.5]);
    expect(Number.isNaN(s.iou[3])).toBe(true);
    expect(s.miou).toBeCloseTo(2 / 3, 12);
    expect(s.accuracy).toBe(0.75);
    expect(() => segmentationScores([0, 5], [0, 1], 3)).toThrow(/segmentationScores: value 1 has pred 5/);
  });

  it('label each cell by the smallest box holding its centre', () => {
    const sample: DetectionSample = {
      id: 1,
      image: { data: new Uint8Array(16 * 16 * 3), width: 16, height: 16 },
      // A big box over the left half (class index 0) and a small one over cell (1, 0) (class index 1).
      bboxes: [
        [0, 0, 8, 16],
        [0, 4, 4, 4],
      ],
      categoryIds: [10, 11],
    };
    const cat = new Map([
      [10, 0],
      [11, 1],
    ]);
    // 4 x 4 grid of 4 px cells, centres at 2, 6, 10, 14.
    expect(Array.from(denseTargets(sample, cat, 4, 4, 4))).toEqual([1, 1, 0, 0, 2, 1, 0, 0, 1, 1, 0, 0, 1, 1, 0, 0]);
    expect(() => denseTargets({ ...sample, categoryIds: [10, 99] }, cat, 4, 4, 4)).toThrow(/category id 99/);
  });
});

describeEachBackend('logisticRegression', () => {
  /** Separable clusters: class c has mean 3 * e_c in 6 dimensions, noise 0.3. */
  function clusters(n: number, seed: number): { x: tf.Tensor2D; y: number[] } {
    const rand = mulberry32(seed);
    const y = Array.from({ length: n }, (_, i) => i % 3);
    const rows = y.map((c) => Array.from({ length: 6 }, (_, d) => (d === c ? 3 : 0) + 0.3 * (rand() - 0.5)));
    return { x: tf.tensor2d(rows), y };
  }

  it('reaches 100 % on separable clusters and reports every candidate', () => {
    const tr = clusters(60, 1);
    const te = clusters(30, 2);
    const r = logisticRegression(tr.x, tr.y, te.x, te.y, { steps: 100, lambdas: [1e-3, 1e-1] });
    expect(r.top1).toBe(1);
    expect(r.trainTop1).toBe(1);
    expect(r.validation.map((v) => v.lambda)).toEqual([1e-3, 1e-1]);
    expect(r.validation.every((v) => v.top1 === 1)).toBe(true);
    expect(r.lambda).toBe(1e-1); // a tie goes to the stronger penalty
    tf.dispose([tr.x, te.x]);
  });

  it('fits candidates side by side exactly as one at a time', () => {
    const tr = clusters(30, 3);
    const both = fitSoftmaxRegression(tr.x, tr.y, 3, [1e-3, 0.5], 20);
    const one = fitSoftmaxRegression(tr.x, tr.y, 3, [0.5], 20);
    const wBoth = both.w.arraySync() as number[][];
    const wOne = one.w.arraySync() as number[][];
    const bBoth = Array.from(both.b.dataSync());
    const bOne = Array.from(one.b.dataSync());
    for (let d = 0; d < 6; d++) for (let k = 0; k < 3; k++) expect(wBoth[d][3 + k]).toBeCloseTo(wOne[d][k], 5);
    for (let k = 0; k < 3; k++) expect(bBoth[3 + k]).toBeCloseTo(bOne[k], 5);
    // The stronger penalty gives smaller weights.
    const norm = (w: number[][], from: number) => w.reduce((s, row) => s + row.slice(from, from + 3).reduce((a, v) => a + v * v, 0), 0);
    expect(norm(wBoth, 3)).toBeLessThan(norm(wBoth, 0));
    tf.dispose([tr.x, both.w, both.b, one.w, one.b]);
  });

  it('rejects bad input with a clear message', () => {
    const tr = clusters(10, 4);
    expect(() => logisticRegression(tr.x, tr.y.slice(1), tr.x, tr.y)).toThrow(/logisticRegression: trainLabels has 9 labels for 10 rows/);
    expect(() => logisticRegression(tr.x, tr.y, tr.x, tr.y, { lambdas: [] })).toThrow(/lambdas must be a non-empty list/);
    tf.dispose(tr.x);
  });
});

describeEachBackend('recomputeBatchNorm', () => {
  it('sets the first BatchNorm to the batch statistics of conv1 and restores them after', () => {
    const model = createResNet({ depth: 18, smallInput: true, baseWidth: 4, seed: 3 });
    const images = colourScenes(6, 5).map((s) => s.image);
    const buffer = (name: string) => model.buffers().find((b) => b.name === name)!.variable;
    const before = Array.from(buffer('layer1.0.bn1.running_mean').dataSync());
    expect(Array.from(buffer('bn1.running_mean').dataSync())).toEqual([0, 0, 0, 0]);
    // Expected: the average over the two batches of 3 of conv1's per-batch mean and unbiased variance.
    const conv1 = model.parameters().find((p) => p.name === 'conv1.weight')!.variable as tf.Tensor4D;
    const expected = tf.tidy(() => {
      const stats = [0, 3].map((s) => {
        const x = tf.div(tf.sub(tf.div(tf.stack(images.slice(s, s + 3).map((im) => tf.tensor3d(Float32Array.from(im.data), [32, 32, 3]))), 255), [0.485, 0.456, 0.406]), [0.229, 0.224, 0.225]);
        const y = tf.conv2d(x as tf.Tensor4D, conv1, 1, 'same');
        const { mean, variance } = tf.moments(y, [0, 1, 2]);
        const count = 3 * 32 * 32;
        return { mean, variance: tf.mul(variance, count / (count - 1)) };
      });
      return {
        mean: Array.from(tf.div(tf.add(stats[0].mean, stats[1].mean), 2).dataSync()),
        variance: Array.from(tf.div(tf.add(stats[0].variance, stats[1].variance), 2).dataSync()),
      };
    });
    const r = withRecomputedBatchNorm(model, images, { batchSize: 3 }, () => ({
      mean: Array.from(buffer('bn1.running_mean').dataSync()),
      variance: Array.from(buffer('bn1.running_var').dataSync()),
      deeper: Array.from(buffer('layer1.0.bn1.running_mean').dataSync()),
    }));
    r.mean.forEach((v, i) => expect(v).toBeCloseTo(expected.mean[i], 4));
    r.variance.forEach((v, i) => expect(v / expected.variance[i]).toBeCloseTo(1, 4));
    expect(r.deeper).not.toEqual(before);
    // Restored afterwards.
    expect(Array.from(buffer('bn1.running_mean').dataSync())).toEqual([0, 0, 0, 0]);
    expect(Array.from(buffer('bn1.running_var').dataSync())).toEqual([1, 1, 1, 1]);
    // recomputeBatchNorm itself keeps the new statistics.
    expect(recomputeBatchNorm(model, images, { batchSize: 3 })).toEqual({ layers: 20, images: 6 });
    expect(Array.from(buffer('bn1.running_mean').dataSync())[0]).toBeCloseTo(expected.mean[0], 4);
    expect(() => recomputeBatchNorm(model, images.slice(0, 1))).toThrow(/at least 2 training images/);
    model.dispose();
  });
});

describeEachBackend('boxProbe and denseProbe', () => {
  const train = colourScenes(24, 11);
  const test = colourScenes(12, 12);

  it('box probe: features that are the colour, and raw pixels, classify every object', () => {
    const backbone = poolingBackbone();
    const r = boxProbe(backbone, train, test, CATEGORIES, { steps: 100, lambdas: [1e-3, 1e-2] });
    expect(r.top1).toBe(1);
    expect(r.knnTop1).toBe(1);
    expect(r.featureDim).toBe(2 * 3 * 2 * 2);
    expect(r.testObjects).toBe(test.reduce((s, t) => s + t.bboxes.length, 0));
    const raw = boxProbe('raw-pixels', train, test, CATEGORIES, { steps: 100, lambdas: [1e-3] });
    expect(raw.top1).toBe(1);
    expect(raw.featureDim).toBe(8 * 8 * 3);
    const p1 = boxProbe(backbone, train, test, CATEGORIES, { steps: 20, lambdas: [1e-3], poolSize: 1 });
    expect(p1.featureDim).toBe(2 * 3);
  });

  it('box probe names the failing argument', () => {
    expect(() => boxProbe('raw-pixels', [], test, CATEGORIES)).toThrow(/boxProbe: train must be a non-empty array/);
    const odd = [{ ...train[0], image: { data: new Uint8Array(16 * 16 * 3), width: 16, height: 16 } }, ...train];
    expect(() => boxProbe('raw-pixels', odd, test, CATEGORIES)).toThrow(/train\[1\] is 32x32 but train\[0\] is 16x16/);
    expect(() => boxProbe('raw-pixels', train, test, CATEGORIES, { poolSize: 0 })).toThrow(/options.poolSize must be an integer >= 1/);
  });

  it('dense probe: colour features segment grid-aligned squares perfectly', () => {
    const r = denseProbe(poolingBackbone(), train, test, CATEGORIES, { steps: 200, cellsPerStep: 256 });
    expect(r.cellStride).toBe(4);
    expect(r.grid).toEqual([8, 8]);
    expect(r.classes).toEqual(['background', 'colour0', 'colour1', 'colour2']);
    expect(r.testCells).toBe(12 * 64);
    expect(r.miou).toBe(1);
    expect(r.accuracy).toBe(1);
  });
});
