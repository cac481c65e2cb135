/**
 * The dense probe: how well frozen features say, at every cell of C4's grid, which object
 * class (or background) is there. C4 and C5 upsampled to C4's grid feed a linear classifier
 * per cell; the score is the mean intersection-over-union over classes.
 */
import * as tf from '@tensorflow/tfjs-core';
import { imagesToTensor } from '../backbone';
import type { Backbone } from '../backbone';
import type { DetectionCategory, DetectionSample } from '../detection/finetune';
import { withRecomputedBatchNorm } from './batch-norm';
import { linearProbe } from './probes';

export interface DenseProbeOptions {
  /** Training images whose forward passes replace the BatchNorm statistics (default 256; 0 keeps them). */
  batchNormImages?: number;
  /** Images per forward pass (default 64). */
  batchSize?: number;
  /** Adam steps of the linear head (default 300, learning rate 0.01). */
  steps?: number;
  /** Cells per Adam step (default 4096). */
  cellsPerStep?: number;
  /** L2 penalty of the linear head (default 1e-4). */
  weightDecay?: number;
  /** Seed of the cell sampler (default 0). */
  seed?: number;
}

export interface SegmentationScores {
  /** IoU per class (index 0 = background), NaN for a class absent from both prediction and target. */
  iou: number[];
  /** Mean of the defined IoUs. */
  miou: number;
  /** Fraction of cells predicted correctly. */
  accuracy: number;
}

export interface DenseProbeResult extends SegmentationScores {
  /** Class names, `background` first. */
  classes: string[];
  /** Side of a cell in input pixels (C4's stride) and the grid of one image. */
  cellStride: number;
  grid: [number, number];
  trainCells: number;
  testCells: number;
  featureDim: number;
  /** Cell accuracy on the training images. */
  trainAccuracy: number;
  seconds: { batchNorm: number; features: number; classifier: number; total: number };
}

/**
 * The class map of one image on a `gridH` x `gridW` grid of `stride`-pixel cells: 0 for
 * background, 1 + class index for a cell whose centre lies inside a (non-crowd) ground-truth
 * box, `[x, x + w) x [y, y + h)`; where boxes overlap the smallest box wins (ties: the later
 * annotation), since the smaller object is the likelier to be in front.
 */
export function denseTargets(
  sample: DetectionSample,
  catIndex: ReadonlyMap<number, number>,
  stride: number,
  gridH: number,
  gridW: number,
): Int32Array {
  const out = new Int32Array(gridH * gridW);
  const area = new Float64Array(gridH * gridW).fill(Infinity);
  sample.bboxes.forEach((bb, j) => {
    if (sample.iscrowd?.[j]) return;
    const label = catIndex.get(sample.categoryIds[j]);
    if (label === undefined) throw new Error(`denseTargets: image ${sample.id} has category id ${sample.categoryIds[j]}, which is not in categories.`);
    const a = bb[2] * bb[3];
    for (let i = 0; i < gridH; i++) {
      const cy = (i + 0.5) * stride;
      if (cy < bb[1] || cy >= bb[1] + bb[3]) continue;
      for (let k = 0; k < gridW; k++) {
        const cx = (k + 0.5) * stride;
        if (cx < bb[0] || cx >= bb[0] + bb[2]) continue;
        const c = i * gridW + k;
        if (a <= area[c]) {
          area[c] = a;
          out[c] = label + 1;
        }
      }
    }
  });
  return out;
}

/**
 * Per-class IoU `TP / (TP + FP + FN)` from predicted and true class indices in
 * `[0, numClasses)`, their mean over the classes that occur in either (mIoU, background
 * included when it is one of the classes), and the overall accuracy.
 */
export function segmentationScores(pred: ArrayLike<number>, target: ArrayLike<number>, numClasses: number): SegmentationScores {
  const fn = 'segmentationScores';
  if (pred.length !== target.length) throw new Error(`${fn}: pred has ${pred.length} values but target ${target.length}; they must match.`);
  if (!Number.isInteger(numClasses) || numClasses < 1) throw new Error(`${fn}: numClasses must be a positive integer, got ${numClasses}.`);
  const tp = new Float64Array(numClasses);
  const fp = new Float64Array(numClasses);
  const fnc = new Float64Array(numClasses);
  let hit = 0;
  for (let i = 0; i < pred.length; i++) {
    const p = pred[i];
    const t = target[i];
    if (!(p >= 0 && p < numClasses && t >= 0 && t < numClasses)) {
      throw new Error(`${fn}: value ${i} has pred ${p} / target ${t}; both must be integers in [0, ${numClasses}).`);
    }
    if (p === t) {
      tp[t]++;
      hit++;
    } else {
      fp[p]++;
      fnc[t]++;
    }
  }
  const iou = Array.from(tp, (v, c) => (v + fp[c] + fnc[c] > 0 ? v / (v + fp[c] + fnc[c]) : NaN));
  const defined = iou.filter((v) => !Number.isNaN(v));
  return {
    iou,
    miou: defined.length ? defined.reduce((a, b) => a + b, 0) / defined.length : NaN,
    accuracy: pred.length ? hit / pred.length : NaN,
  };
}

/** Per-cell features `[cells, C4 + C5]` (C5 bilinearly upsampled to C4's grid) and the grid. */
function cellFeatures(backbone: Backbone, samples: DetectionSample[], batchSize: number) {
  const parts: tf.Tensor2D[] = [];
  let grid: [number, number] = [0, 0];
  let stride = 0;
  for (let start = 0; start < samples.length; start += batchSize) {
    const batch = samples.slice(start, start + batchSize);
    parts.push(
      tf.tidy(() => {
        const x = imagesToTensor(batch.map((s) => s.image));
        const f = backbone.features(x, { training: false });
        const [, h, w] = f.c4.shape;
        grid = [h, w];
        stride = x.shape[1] / h;
        const up = tf.image.resizeBilinear(f.c5, [h, w], false, true);
        const both = tf.concat([f.c4, up], 3);
        return tf.reshape(both, [batch.length * h * w, -1]) as tf.Tensor2D;
      }),
    );
  }
  const feats = parts.length === 1 ? parts[0] : (tf.concat(parts, 0) as tf.Tensor2D);
  if (parts.length > 1) tf.dispose(parts);
  return { feats, grid, stride };
}

/**
 * Dense probe. For every image of `train` and `test`, the frozen backbone's C4 and its C5
 * (bilinearly upsampled to C4's grid, half-pixel centres) are concatenated per cell
 * (inference mode, after the BatchNorm statistics were recomputed on the first
 * `batchNormImages` training images and restored afterwards). A linear head (softmax over
 * background + the categories, standardised features, Adam on random cells of the training
 * images) learns each cell's class from {@link denseTargets}; the score is the mIoU over
 * background and the classes on the test images' cells. Images must share one size.
 */
export function denseProbe(
  backbone: Backbone,
  train: DetectionSample[],
  test: DetectionSample[],
  categories: DetectionCategory[],
  options: DenseProbeOptions = {},
): DenseProbeResult {
  const fn = 'denseProbe';
  const t0 = Date.now();
  for (const [what, samples] of [['train', train], ['test', test]] as const) {
    if (!Array.isArray(samples) || samples.length === 0) throw new Error(`${fn}: ${what} must be a non-empty array of samples.`);
    const { width, height } = samples[0].image;
    samples.forEach((s, i) => {
      if (s.image.width !== width || s.image.height !== height) {
        throw new Error(`${fn}: ${what}[${i}] is ${s.image.width}x${s.image.height} but ${what}[0] is ${width}x${height}; the probes need images of one size.`);
      }
    });
  }
  if (!Array.isArray(categories) || categories.length < 1) throw new Error(`${fn}: categories must list at least one class.`);
  const int = (name: string, v: number, min: number): number => {
    if (!Number.isInteger(v) || v < min) throw new Error(`${fn}: options.${name} must be an integer >= ${min}, got ${v}.`);
    return v;
  };
  const bnImages = int('batchNormImages', options.batchNormImages ?? 256, 0);
  const batchSize = int('batchSize', options.batchSize ?? 64, 1);
  const steps = int('steps', options.steps ?? 300, 1);
  const cellsPerStep = int('cellsPerStep', options.cellsPerStep ?? 4096, 1);
  const catIndex = new Map(categories.map((c, i) => [c.id, i]));
  const numClasses = categories.length + 1;
  let tBn = 0;
  let tFeat = 0;
  const extracted = withRecomputedBatchNorm(backbone, train.slice(0, bnImages).map((s) => s.image), { batchSize: 32 }, () => {
    tBn = Date.now() - t0;
    const tr = cellFeatures(backbone, train, batchSize);
    const te = cellFeatures(backbone, test, batchSize);
    tFeat = Date.now() - t0 - tBn;
    return { tr, te };
  });
  const { tr, te } = extracted;
  const t1 = Date.now();
  try {
    const [gh, gw] = tr.grid;
    const labelsOf = (samples: DetectionSample[]): Int32Array => {
      const out = new Int32Array(samples.length * gh * gw);
      samples.forEach((s, i) => out.set(denseTargets(s, catIndex, tr.stride, gh, gw), i * gh * gw));
      return out;
    };
    const trainLabels = labelsOf(train);
    const testLabels = labelsOf(test);
    const fit = linearProbe(tr.feats, trainLabels, te.feats, testLabels, {
      steps,
      batchSize: cellsPerStep,
      weightDecay: options.weightDecay ?? 1e-4,
      numClasses,
      seed: options.seed ?? 0,
    });
    const scores = segmentationScores(fit.predictions, testLabels, numClasses);
    return {
      ...scores,
      classes: ['background', ...categories.map((c) => c.name)],
      cellStride: tr.stride,
      grid: [gh, gw],
      trainCells: trainLabels.length,
      testCells: testLabels.length,
      featureDim: tr.feats.shape[1],
      trainAccuracy: fit.trainTop1,
      seconds: { batchNorm: tBn / 1000, features: tFeat / 1000, classifier: (Date.now() - t1) / 1000, total: (Date.now() - t0) / 1000 },
    };
  } finally {
    tf.dispose([tr.feats, te.feats]);
  }
}
