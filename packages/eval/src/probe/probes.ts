/**
 * Global-representation probes on frozen features: a linear classifier (softmax cross-entropy,
 * Adam with weight decay on standardised features) and the weighted kNN of InstDisc / DINO.
 */
import * as tf from '@tensorflow/tfjs-core';
import { mulberry32, ScrlError } from '@scrl/util';
import type { RgbImage } from '@scrl/augment';
import { imagesToTensor, type Backbone, type ImagesToTensorOptions } from '../backbone';

export interface ExtractFeaturesOptions extends ImagesToTensorOptions {
  /** Images per forward pass (default 64). */
  batchSize?: number;
}

/**
 * Pooled backbone features of `images`, computed in inference mode (BatchNorm running
 * statistics, no gradient). Returns `[N, C]` (C = the backbone's pooled width); the caller
 * disposes it.
 */
export function extractFeatures(
  backbone: Backbone,
  images: RgbImage[] | tf.Tensor4D,
  options: ExtractFeaturesOptions = {},
): tf.Tensor2D {
  const batchSize = options.batchSize ?? 64;
  if (!Number.isInteger(batchSize) || batchSize < 1) {
    throw new ScrlError(`Error in extractFeatures: batchSize must be a positive integer, got ${batchSize}.`);
  }
  const n = Array.isArray(images) ? images.length : images.shape[0];
  if (n === 0) throw new ScrlError('Error in extractFeatures: images is empty; pass at least one image.');
  const parts: tf.Tensor2D[] = [];
  for (let start = 0; start < n; start += batchSize) {
    const end = Math.min(n, start + batchSize);
    parts.push(
      tf.tidy(() => {
        const x = Array.isArray(images)
          ? imagesToTensor(images.slice(start, end), options)
          : (tf.slice(images, [start, 0, 0, 0], [end - start, -1, -1, -1]) as tf.Tensor4D);
        const f = backbone.features(x, { training: false });
        return f.pooled;
      }),
    );
  }
  const out = parts.length === 1 ? parts[0] : (tf.concat(parts, 0) as tf.Tensor2D);
  if (parts.length > 1) parts.forEach((p) => p.dispose());
  return out;
}

export interface LinearProbeOptions {
  /** Optimisation steps (full batch, or mini-batches of `batchSize`). Default 300. */
  steps?: number;
  /** Adam learning rate. Default 0.01. */
  lr?: number;
  /** L2 penalty on the weights (not the bias), added to the loss. Default 1e-4. */
  weightDecay?: number;
  /** Mini-batch size; default: all training rows every step. */
  batchSize?: number;
  /** Number of classes; default max label + 1. */
  numClasses?: number;
  /** Seed of the mini-batch sampler. Default 0. */
  seed?: number;
}

export interface ProbeResult {
  /** Top-1 accuracy on the test set, in [0, 1]. */
  top1: number;
  /** Predicted class per test row. */
  predictions: Int32Array;
}

export interface LinearProbeResult extends ProbeResult {
  /** Top-1 accuracy on the training set. */
  trainTop1: number;
  /** Cross-entropy (without the penalty) at the last step. */
  finalLoss: number;
}

function checkLabels(fn: string, what: string, labels: ArrayLike<number>, rows: number): void {
  if (labels.length !== rows) {
    throw new ScrlError(`Error in ${fn}: ${what} has ${labels.length} labels for ${rows} feature rows; they must match.`);
  }
  for (let i = 0; i < labels.length; i++) {
    const l = labels[i];
    if (!Number.isInteger(l) || l < 0) throw new ScrlError(`Error in ${fn}: ${what}[${i}] = ${l}; labels must be integers >= 0.`);
  }
}

function checkFeatures(fn: string, what: string, x: tf.Tensor): void {
  if (x.rank !== 2) throw new ScrlError(`Error in ${fn}: ${what} must be [N, C], got shape [${x.shape}].`);
}

function accuracy(pred: Int32Array, labels: ArrayLike<number>): number {
  let hit = 0;
  for (let i = 0; i < pred.length; i++) if (pred[i] === labels[i]) hit++;
  return pred.length === 0 ? 0 : hit / pred.length;
}

/** Validates the train/test features and labels every probe takes, naming `fn` in errors. */
function checkProbeInputs(
  fn: string,
  trainFeats: tf.Tensor2D,
  trainLabels: ArrayLike<number>,
  testFeats: tf.Tensor2D,
  testLabels: ArrayLike<number>,
): void {
  checkFeatures(fn, 'trainFeats', trainFeats);
  checkFeatures(fn, 'testFeats', testFeats);
  checkLabels(fn, 'trainLabels', trainLabels, trainFeats.shape[0]);
  checkLabels(fn, 'testLabels', testLabels, testFeats.shape[0]);
  if (trainFeats.shape[1] !== testFeats.shape[1]) {
    throw new ScrlError(`Error in ${fn}: trainFeats has ${trainFeats.shape[1]} columns but testFeats has ${testFeats.shape[1]}.`);
  }
}

/**
 * Trains a linear classifier on frozen features and reports top-1 on the test features.
 * Features are standardised with the training set's per-dimension mean and standard
 * deviation; weights start at zero (the problem is convex, so the start does not matter).
 *
 * @param trainFeats `[N, C]`; @param trainLabels N integers in [0, numClasses).
 * @param testFeats `[M, C]`; @param testLabels M integers.
 */
export function linearProbe(
  trainFeats: tf.Tensor2D,
  trainLabels: ArrayLike<number>,
  testFeats: tf.Tensor2D,
  testLabels: ArrayLike<number>,
  options: LinearProbeOptions = {},
): LinearProbeResult {
  const fn = 'linearProbe';
  checkProbeInputs(fn, trainFeats, trainLabels, testFeats, testLabels);
  const steps = options.steps ?? 300;
  const lr = options.lr ?? 0.01;
  const weightDecay = options.weightDecay ?? 1e-4;
  let maxLabel = 0;
  for (let i = 0; i < trainLabels.length; i++) maxLabel = Math.max(maxLabel, trainLabels[i]);
  for (let i = 0; i < testLabels.length; i++) maxLabel = Math.max(maxLabel, testLabels[i]);
  const numClasses = options.numClasses ?? maxLabel + 1;
  if (numClasses <= maxLabel) throw new ScrlError(`Error in ${fn}: numClasses = ${numClasses} but a label is ${maxLabel}.`);
  const n = trainFeats.shape[0];
  const dim = trainFeats.shape[1];
  const batchSize = Math.min(options.batchSize ?? n, n);
  const rand = mulberry32(options.seed ?? 0);

  const { mean, std } = tf.tidy(() => {
    const m = tf.mean(trainFeats, 0);
    const s = tf.add(tf.sqrt(tf.mean(tf.square(tf.sub(trainFeats, m)), 0)), 1e-6);
    return { mean: m, std: s };
  });
  const xTrain = tf.tidy(() => tf.div(tf.sub(trainFeats, mean), std) as tf.Tensor2D);
  const yTrain = tf.tidy(() => tf.cast(tf.oneHot(tf.tensor1d(Array.from(trainLabels), 'int32'), numClasses), 'float32') as tf.Tensor2D);
  const w = tf.tidy(() => tf.variable(tf.zeros([dim, numClasses]), true));
  const b = tf.tidy(() => tf.variable(tf.zeros([numClasses]), true));
  const optimizer = tf.train.adam(lr);
  let finalLoss = NaN;
  try {
    for (let step = 0; step < steps; step++) {
      let xb = xTrain;
      let yb = yTrain;
      let idx: tf.Tensor1D | null = null;
      if (batchSize < n) {
        const rows = Int32Array.from({ length: batchSize }, () => Math.floor(rand() * n));
        idx = tf.tensor1d(rows, 'int32');
        xb = tf.gather(xTrain, idx);
        yb = tf.gather(yTrain, idx) as tf.Tensor2D;
      }
      const last = step === steps - 1;
      const cost = optimizer.minimize(
        () => {
          const logits = tf.add(tf.matMul(xb, w), b);
          const ce = tf.losses.softmaxCrossEntropy(yb, logits) as tf.Scalar;
          return tf.add(ce, tf.mul(weightDecay / 2, tf.sum(tf.square(w)))) as tf.Scalar;
        },
        last,
        [w, b],
      );
      if (last && cost) {
        finalLoss = cost.dataSync()[0];
        cost.dispose();
      }
      if (idx) {
        idx.dispose();
        xb.dispose();
        yb.dispose();
      }
    }
    const predict = (x: tf.Tensor2D): Int32Array =>
      tf.tidy(() => tf.argMax(tf.add(tf.matMul(tf.div(tf.sub(x, mean), std), w), b), 1)).dataSync() as Int32Array;
    const trainPred = predict(trainFeats);
    const predictions = Int32Array.from(predict(testFeats));
    return {
      top1: accuracy(predictions, testLabels),
      trainTop1: accuracy(trainPred, trainLabels),
      predictions,
      finalLoss,
    };
  } finally {
    optimizer.dispose();
    tf.dispose([mean, std, xTrain, yTrain, w, b]);
  }
}

export interface KnnOptions {
  /** Neighbours that vote (default 20; capped at the training set size). */
  k?: number;
  /** Softmax temperature of the votes: weight = exp(cos / T). Default 0.07. */
  temperature?: number;
  /** Number of classes; default max label + 1. */
  numClasses?: number;
  /** Test rows per similarity block (bounds memory). Default 256. */
  chunkSize?: number;
}

/**
 * Weighted k-nearest-neighbour classification (Wu et al. 2018 "InstDisc", as in DINO's
 * `eval_knn`): features are L2-normalised, the k most cosine-similar training rows vote for
 * their class with weight exp(similarity / temperature), the class with most weight wins
 * (ties: lowest class index).
 */
export function knnClassify(
  trainFeats: tf.Tensor2D,
  trainLabels: ArrayLike<number>,
  testFeats: tf.Tensor2D,
  testLabels: ArrayLike<number>,
  options: KnnOptions = {},
): ProbeResult {
  const fn = 'knnClassify';
  checkProbeInputs(fn, trainFeats, trainLabels, testFeats, testLabels);
  const temperature = options.temperature ?? 0.07;
  if (!(temperature > 0)) throw new ScrlError(`Error in ${fn}: temperature must be > 0, got ${temperature}.`);
  const k = Math.min(options.k ?? 20, trainFeats.shape[0]);
  if (!Number.isInteger(k) || k < 1) throw new ScrlError(`Error in ${fn}: k must be a positive integer, got ${options.k}.`);
  let maxLabel = 0;
  for (let i = 0; i < trainLabels.length; i++) maxLabel = Math.max(maxLabel, trainLabels[i]);
  const numClasses = options.numClasses ?? maxLabel + 1;
  const chunk = options.chunkSize ?? 256;
  const m = testFeats.shape[0];
  const predictions = new Int32Array(m);
  const normTrain = tf.tidy(() => tf.div(trainFeats, tf.maximum(tf.norm(trainFeats, 2, 1, true), 1e-12)));
  try {
    for (let start = 0; start < m; start += chunk) {
      const rows = Math.min(chunk, m - start);
      const { values, indices } = tf.tidy(() => {
        const q = tf.slice(testFeats, [start, 0], [rows, -1]);
        const qn = tf.div(q, tf.maximum(tf.norm(q, 2, 1, true), 1e-12));
        const sim = tf.matMul(qn, normTrain, false, true);
        const top = tf.topk(sim, k, true);
        return { values: top.values, indices: top.indices };
      });
      const v = values.dataSync();
      const ix = indices.dataSync();
      tf.dispose([values, indices]);
      const votes = new Float64Array(numClasses);
      for (let r = 0; r < rows; r++) {
        votes.fill(0);
        for (let j = 0; j < k; j++) votes[trainLabels[ix[r * k + j]]] += Math.exp(v[r * k + j] / temperature);
        let best = 0;
        for (let c = 1; c < numClasses; c++) if (votes[c] > votes[best]) best = c;
        predictions[start + r] = best;
      }
    }
  } finally {
    normTrain.dispose();
  }
  return { top1: accuracy(predictions, testLabels), predictions };
}
