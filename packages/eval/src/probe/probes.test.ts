import * as tf from '@tensorflow/tfjs-core';
import type { RgbImage } from '@scrl/augment';
import { describeEachBackend } from '@scrl/testing';
import { extractFeatures, knnClassify, linearProbe } from '../index';
import { tinyBackbone } from '../__tests__/tiny-backbone';

/** Seeded standard normal samples. */
function normal(seed: number): () => number {
  let a = seed >>> 0;
  const u = (): number => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (((t ^ (t >>> 14)) >>> 0) + 0.5) / 4294967296;
  };
  return () => Math.sqrt(-2 * Math.log(u())) * Math.cos(2 * Math.PI * u());
}

/** `perClass` points per class around well separated random centres (distance ~ 8 sigma). */
function clusters(numClasses: number, perClass: number, dim: number, seed: number): { x: number[][]; y: number[] } {
  const rand = normal(seed);
  const centres = Array.from({ length: numClasses }, () => Array.from({ length: dim }, () => 4 * rand()));
  const x: number[][] = [];
  const y: number[] = [];
  for (let i = 0; i < numClasses * perClass; i++) {
    const c = i % numClasses;
    x.push(centres[c].map((v) => v + 0.5 * rand()));
    y.push(c);
  }
  return { x, y };
}

describeEachBackend('linearProbe and knnClassify', () => {
  const C = 4;
  const train = clusters(C, 40, 16, 1);
  const test = clusters(C, 20, 16, 1); // same centres (same seed), fresh noise below
  const rand = normal(99);
  test.x = test.x.map((row, i) => row.map((v, j) => v + 0.3 * rand() + 0 * i * j));

  it('separate well separated Gaussian clusters', () => {
    const tr = tf.tensor2d(train.x);
    const te = tf.tensor2d(test.x);
    const lin = linearProbe(tr, train.y, te, test.y, { steps: 100 });
    const knn = knnClassify(tr, train.y, te, test.y);
    expect(lin.top1).toBeGreaterThanOrEqual(0.98);
    expect(lin.trainTop1).toBeGreaterThanOrEqual(0.98);
    expect(knn.top1).toBeGreaterThanOrEqual(0.98);
    tf.dispose([tr, te]);
  });

  it('stay near chance with random labels', () => {
    const r = normal(7);
    const shuffled = (n: number): number[] => Array.from({ length: n }, () => Math.floor(C * (0.5 + 0.5 * Math.tanh(r()))) % C);
    const yTrain = shuffled(train.y.length);
    const yTest = shuffled(test.y.length);
    const tr = tf.tensor2d(train.x);
    const te = tf.tensor2d(test.x);
    const lin = linearProbe(tr, yTrain, te, yTest, { steps: 100 });
    const knn = knnClassify(tr, yTrain, te, yTest);
    // Chance is 1/4; 80 test rows put 0.5 far in the tail.
    expect(lin.top1).toBeLessThan(0.5);
    expect(knn.top1).toBeLessThan(0.5);
    tf.dispose([tr, te]);
  });

  it('kNN votes with exp(cos / T) over the k nearest', () => {
    // Class 0 at 0 degrees, class 1 at 40 and 45 degrees; query at 2 degrees, k = 3.
    // A majority vote says 1; weighted votes exp(cos / 0.07) give class 0
    // e^(0.9994/0.07) = e^14.28 against e^11.26 + e^10.45 for class 1: class 0 wins.
    // At temperature 10 the weights are nearly equal and the majority (class 1) wins.
    const deg = (d: number): number[] => [Math.cos((d * Math.PI) / 180), Math.sin((d * Math.PI) / 180)];
    const tr = tf.tensor2d([deg(0), deg(40), deg(45)]);
    const te = tf.tensor2d([deg(2)]);
    expect(Array.from(knnClassify(tr, [0, 1, 1], te, [0], { k: 3 }).predictions)).toEqual([0]);
    expect(Array.from(knnClassify(tr, [0, 1, 1], te, [0], { k: 3, temperature: 10 }).predictions)).toEqual([1]);
    tf.dispose([tr, te]);
  });

  it('reject mismatched labels with a clear message', () => {
    const tr = tf.tensor2d([[1, 2]]);
    expect(() => linearProbe(tr, [0, 1], tr, [0])).toThrow(/linearProbe: trainLabels has 2 labels for 1 feature rows/);
    expect(() => knnClassify(tr, [0], tr, [-1])).toThrow(/knnClassify: testLabels\[0\] = -1/);
    tr.dispose();
  });
});

describeEachBackend('extractFeatures end to end (tiny random-init backbone)', () => {
  /** Solid images of a colour with a little per-pixel noise. */
  function solid(rgb: [number, number, number], seed: number): RgbImage {
    const rand = normal(seed);
    const size = 32;
    const data = new Uint8Array(size * size * 3);
    for (let i = 0; i < data.length; i++) data[i] = Math.max(0, Math.min(255, Math.round(rgb[i % 3] + 8 * rand())));
    return { data, width: size, height: size };
  }

  it('probes separate reddish from bluish images, and fail on random labels', () => {
    const backbone = tinyBackbone();
    const images: RgbImage[] = [];
    const labels: number[] = [];
    for (let i = 0; i < 40; i++) {
      const c = i % 2;
      images.push(solid(c === 0 ? [200, 60, 60] : [60, 60, 200], i + 1));
      labels.push(c);
    }
    const before = tf.memory().numTensors;
    const feats = extractFeatures(backbone, images, { batchSize: 16, size: 32 });
    expect(feats.shape).toEqual([40, 32]);
    expect(tf.memory().numTensors).toBe(before + 1);
    const trF = tf.slice(feats, [0, 0], [20, -1]) as tf.Tensor2D;
    const teF = tf.slice(feats, [20, 0], [20, -1]) as tf.Tensor2D;
    const lin = linearProbe(trF, labels.slice(0, 20), teF, labels.slice(20), { steps: 100 });
    const knn = knnClassify(trF, labels.slice(0, 20), teF, labels.slice(20));
    expect(lin.top1).toBe(1);
    expect(knn.top1).toBe(1);
    // Labels unrelated to the colour (i / 2 mod 2 pairs a red and a blue image per label).
    const random = labels.map((_, i) => Math.floor(i / 2) % 2);
    const linR = linearProbe(trF, random.slice(0, 20), teF, random.slice(20), { steps: 100 });
    expect(linR.top1).toBeLessThanOrEqual(0.75);
    tf.dispose([feats, trF, teF]);
    backbone.dispose();
  });
});
