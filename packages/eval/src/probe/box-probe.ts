/**
 * The box probe: how well frozen features name the object inside a known box. Ground-truth
 * boxes are pooled with RoIAlign from C4 and C5, and a logistic regression (and a kNN) learnt
 * on the training images' objects classifies the held-out images' objects.
 */
import * as tf from '@tensorflow/tfjs-core';
import { roiAlign } from '@scrl/roi-align';
import { imagesToTensor, type Backbone } from '../backbone';
import type { DetectionCategory, DetectionSample } from '../detection/finetune';
import { withRecomputedBatchNorm } from './batch-norm';
import { DEFAULT_LAMBDAS, logisticRegression } from './logistic';
import { knnClassify } from './probes';

/** What the box probe classifies: a backbone's C4 + C5, or the raw pixels of the box. */
export type BoxProbeFeatures = Backbone | 'raw-pixels';

export interface BoxProbeOptions {
  /** RoIAlign output side k: each box becomes k x k cells of C4 and of C5 (default 2). */
  poolSize?: number;
  /** Side of the resized box for `'raw-pixels'` (default 8: 8 x 8 x RGB = 192 values). */
  rawPixelSize?: number;
  /**
   * Training images whose training-mode forward passes replace the BatchNorm statistics
   * before probing (default 256, the first ones; 0 keeps the backbone's own statistics).
   * The backbone's statistics are restored afterwards.
   */
  batchNormImages?: number;
  /** Images per forward pass (default 64). */
  batchSize?: number;
  /** Candidate L2 penalties of the logistic regression (default 1e-4 .. 10, factors of 10). */
  lambdas?: readonly number[];
  /** Fraction of the training objects held out to choose the penalty (default 0.2). */
  valFraction?: number;
  /** Adam steps per logistic-regression fit (default 500). */
  steps?: number;
  /** Neighbours of the kNN (default 20). */
  k?: number;
}

export interface BoxProbeResult {
  /** Logistic-regression top-1 on the held-out objects, in [0, 1]. */
  top1: number;
  /** Weighted kNN (cosine on standardised features) top-1 on the held-out objects. */
  knnTop1: number;
  /** Penalty chosen on the validation split, and every candidate's validation top-1. */
  lambda: number;
  validation: Array<{ lambda: number; top1: number }>;
  /** Logistic-regression top-1 on the training objects. */
  trainTop1: number;
  /** Objects classified (crowd boxes are skipped). */
  trainObjects: number;
  testObjects: number;
  /** Length of one object's feature vector. */
  featureDim: number;
  poolSize: number;
  features: 'c4+c5' | 'raw-pixels';
  /** Held-out top-1 per class (NaN for a class with no held-out object). */
  perClassTop1: number[];
  /** Wall-clock seconds of each phase. */
  seconds: { batchNorm: number; features: number; classifier: number; total: number };
}

interface ObjectSet {
  feats: tf.Tensor2D;
  labels: number[];
}

/** Boxes (x1, y1, x2, y2), image index in the batch and class index of a batch's objects. */
function batchObjects(samples: DetectionSample[], catIndex: Map<number, number>, fn: string) {
  const boxes: number[][] = [];
  const boxIndex: number[] = [];
  const labels: number[] = [];
  samples.forEach((s, b) => {
    s.bboxes.forEach((bb, j) => {
      if (s.iscrowd?.[j]) return;
      const label = catIndex.get(s.categoryIds[j]);
      if (label === undefined) throw new Error(`${fn}: image ${s.id} has category id ${s.categoryIds[j]}, which is not in categories.`);
      boxes.push([bb[0], bb[1], bb[0] + bb[2], bb[1] + bb[3]]);
      boxIndex.push(b);
      labels.push(label);
    });
  });
  return { boxes, boxIndex, labels };
}

function objectFeatures(
  features: BoxProbeFeatures,
  samples: DetectionSample[],
  catIndex: Map<number, number>,
  poolSize: number,
  rawPixelSize: number,
  batchSize: number,
  fn: string,
): ObjectSet {
  const parts: tf.Tensor2D[] = [];
  const labels: number[] = [];
  for (let start = 0; start < samples.length; start += batchSize) {
    const batch = samples.slice(start, start + batchSize);
    const { boxes, boxIndex, labels: l } = batchObjects(batch, catIndex, fn);
    if (boxes.length === 0) continue;
    labels.push(...l);
    parts.push(
      tf.tidy(() => {
        const x = imagesToTensor(batch.map((s) => s.image));
        const opts = { samplingRatio: 2, aligned: true };
        if (features === 'raw-pixels') {
          return tf.reshape(roiAlign(x, boxes, boxIndex, rawPixelSize, { ...opts, spatialScale: 1 }), [boxes.length, -1]) as tf.Tensor2D;
        }
        const f = features.features(x, { training: false });
        const pooled = [f.c4, f.c5].map((c) => {
          const spatialScale = c.shape[1] / x.shape[1];
          return tf.reshape(roiAlign(c, boxes, boxIndex, poolSize, { ...opts, spatialScale }), [boxes.length, -1]);
        });
        return tf.concat(pooled, 1) as tf.Tensor2D;
      }),
    );
  }
  if (parts.length === 0) throw new Error(`${fn}: the ${samples.length} images have no (non-crowd) boxes.`);
  const feats = parts.length === 1 ? parts[0] : (tf.concat(parts, 0) as tf.Tensor2D);
  if (parts.length > 1) tf.dispose(parts);
  return { feats, labels };
}

function checkSamples(fn: string, what: string, samples: DetectionSample[]): void {
  if (!Array.isArray(samples) || samples.length === 0) throw new Error(`${fn}: ${what} must be a non-empty array of samples.`);
  const { width, height } = samples[0].image;
  samples.forEach((s, i) => {
    if (s.image.width !== width || s.image.height !== height) {
      throw new Error(`${fn}: ${what}[${i}] is ${s.image.width}x${s.image.height} but ${what}[0] is ${width}x${height}; the probes need images of one size.`);
    }
    if (s.bboxes.length !== s.categoryIds.length) {
      throw new Error(`${fn}: ${what}[${i}] has ${s.bboxes.length} boxes but ${s.categoryIds.length} category ids.`);
    }
  });
}

function positiveInt(fn: string, name: string, v: number, min = 1): number {
  if (!Number.isInteger(v) || v < min) throw new Error(`${fn}: ${name} must be an integer >= ${min}, got ${v}.`);
  return v;
}

/**
 * Box probe. Every ground-truth box (COCO `[x, y, w, h]`, crowd boxes skipped) of `train` and
 * `test` becomes one feature vector: RoIAlign (aligned, 2 samples per bin) of the box on the
 * frozen backbone's C4 and on its C5, each pooled to `poolSize` x `poolSize`, flattened and
 * concatenated (inference mode, after the BatchNorm statistics were recomputed on the first
 * `batchNormImages` training images); or, with `'raw-pixels'`, the box's normalised RGB pixels
 * resized to `rawPixelSize` x `rawPixelSize` the same way. A multinomial logistic regression
 * on standardised features, its L2 penalty chosen on every 5th training object, is refitted
 * on all training objects; a weighted kNN (k = 20) runs on the same standardised features.
 * Both report top-1 on the test objects. Images must share one size.
 */
export function boxProbe(
  features: BoxProbeFeatures,
  train: DetectionSample[],
  test: DetectionSample[],
  categories: DetectionCategory[],
  options: BoxProbeOptions = {},
): BoxProbeResult {
  const fn = 'boxProbe';
  const t0 = Date.now();
  checkSamples(fn, 'train', train);
  checkSamples(fn, 'test', test);
  if (!Array.isArray(categories) || categories.length < 2) throw new Error(`${fn}: categories must list at least 2 classes.`);
  const poolSize = positiveInt(fn, 'options.poolSize', options.poolSize ?? 2);
  const rawPixelSize = positiveInt(fn, 'options.rawPixelSize', options.rawPixelSize ?? 8);
  const batchSize = positiveInt(fn, 'options.batchSize', options.batchSize ?? 64);
  const bnImages = positiveInt(fn, 'options.batchNormImages', options.batchNormImages ?? 256, 0);
  const k = positiveInt(fn, 'options.k', options.k ?? 20);
  const catIndex = new Map(categories.map((c, i) => [c.id, i]));
  const numClasses = categories.length;
  const bnSet = features === 'raw-pixels' ? [] : train.slice(0, bnImages).map((s) => s.image);
  let tBn = 0;
  let tFeat = 0;
  const sets = (): { tr: ObjectSet; te: ObjectSet } => {
    tBn = Date.now() - t0;
    const tr = objectFeatures(features, train, catIndex, poolSize, rawPixelSize, batchSize, fn);
    const te = objectFeatures(features, test, catIndex, poolSize, rawPixelSize, batchSize, fn);
    tFeat = Date.now() - t0 - tBn;
    return { tr, te };
  };
  const { tr, te } = features === 'raw-pixels' ? sets() : withRecomputedBatchNorm(features, bnSet, { batchSize: 32 }, sets);
  const t1 = Date.now();
  try {
    const lr = logisticRegression(tr.feats, tr.labels, te.feats, te.labels, {
      lambdas: options.lambdas ?? DEFAULT_LAMBDAS,
      valFraction: options.valFraction,
      steps: options.steps,
      numClasses,
    });
    const [trStd, teStd] = tf.tidy(() => {
      const mean = tf.mean(tr.feats, 0);
      const std = tf.add(tf.sqrt(tf.mean(tf.square(tf.sub(tr.feats, mean)), 0)), 1e-6);
      return [tf.div(tf.sub(tr.feats, mean), std) as tf.Tensor2D, tf.div(tf.sub(te.feats, mean), std) as tf.Tensor2D];
    });
    const knn = knnClassify(trStd, tr.labels, teStd, te.labels, { k, numClasses });
    tf.dispose([trStd, teStd]);
    const hits = new Array<number>(numClasses).fill(0);
    const counts = new Array<number>(numClasses).fill(0);
    te.labels.forEach((l, i) => {
      counts[l]++;
      if (lr.predictions[i] === l) hits[l]++;
    });
    return {
      top1: lr.top1,
      knnTop1: knn.top1,
      lambda: lr.lambda,
      validation: lr.validation,
      trainTop1: lr.trainTop1,
      trainObjects: tr.labels.length,
      testObjects: te.labels.length,
      featureDim: tr.feats.shape[1],
      poolSize: features === 'raw-pixels' ? rawPixelSize : poolSize,
      features: features === 'raw-pixels' ? 'raw-pixels' : 'c4+c5',
      perClassTop1: hits.map((h, c) => (counts[c] ? h / counts[c] : NaN)),
      seconds: { batchNorm: tBn / 1000, features: tFeat / 1000, classifier: (Date.now() - t1) / 1000, total: (Date.now() - t0) / 1000 },
    };
  } finally {
    tf.dispose([tr.feats, te.feats]);
  }
}
