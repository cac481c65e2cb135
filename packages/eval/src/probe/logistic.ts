/**
 * Multinomial logistic regression whose L2 penalty is chosen on a held-out part of the
 * training rows, then refitted on all of them: the classifier of the box probe.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { LinearProbeResult } from './probes';

export interface LogisticRegressionOptions {
  /** Candidate L2 penalties (added to the mean cross-entropy as `lambda / 2 * ||W||^2`). Default 1e-4 .. 10 (6 values, factors of 10). */
  lambdas?: readonly number[];
  /** Every `round(1 / valFraction)`-th training row is held out to choose lambda. Default 0.2. */
  valFraction?: number;
  /** Full-batch Adam steps per fit (default 300, learning rate 0.01). */
  steps?: number;
  numClasses?: number;
}

export interface LogisticRegressionResult extends LinearProbeResult {
  /** The chosen penalty. */
  lambda: number;
  /** Validation top-1 of every candidate, in the order of `lambdas`. */
  validation: Array<{ lambda: number; top1: number }>;
}

export const DEFAULT_LAMBDAS: readonly number[] = [1e-4, 1e-3, 1e-2, 1e-1, 1, 10];

/**
 * Fits a softmax regression (features standardised by the fitted rows' mean and std, zero
 * start, full-batch Adam, see {@link fitSoftmaxRegression}) for every candidate penalty on
 * the training rows minus a validation split (every `round(1 / valFraction)`-th row), keeps
 * the penalty with the best validation top-1 (ties: the larger penalty), refits on all
 * training rows and reports top-1 on the test rows. The same objective as `linearProbe`.
 */
export function logisticRegression(
  trainFeats: tf.Tensor2D,
  trainLabels: ArrayLike<number>,
  testFeats: tf.Tensor2D,
  testLabels: ArrayLike<number>,
  options: LogisticRegressionOptions = {},
): LogisticRegressionResult {
  const fn = 'logisticRegression';
  const lambdas = options.lambdas ?? DEFAULT_LAMBDAS;
  if (lambdas.length === 0 || !lambdas.every((l) => Number.isFinite(l) && l >= 0)) {
    throw new Error(`${fn}: lambdas must be a non-empty list of numbers >= 0, got [${lambdas.join(', ')}].`);
  }
  const valFraction = options.valFraction ?? 0.2;
  if (!(valFraction > 0 && valFraction < 1)) throw new Error(`${fn}: valFraction must be in (0, 1), got ${valFraction}.`);
  if (trainFeats.rank !== 2 || testFeats.rank !== 2 || trainFeats.shape[1] !== testFeats.shape[1]) {
    throw new Error(`${fn}: trainFeats and testFeats must be [N, C] with the same C, got [${trainFeats.shape}] and [${testFeats.shape}].`);
  }
  const n = trainFeats.shape[0];
  if (trainLabels.length !== n) throw new Error(`${fn}: trainLabels has ${trainLabels.length} labels for ${n} rows.`);
  if (testLabels.length !== testFeats.shape[0]) throw new Error(`${fn}: testLabels has ${testLabels.length} labels for ${testFeats.shape[0]} rows.`);
  const steps = options.steps ?? 300;
  if (!Number.isInteger(steps) || steps < 1) throw new Error(`${fn}: steps must be a positive integer, got ${steps}.`);
  let maxLabel = 0;
  for (const ls of [trainLabels, testLabels]) {
    for (let i = 0; i < ls.length; i++) {
      if (!Number.isInteger(ls[i]) || ls[i] < 0) throw new Error(`${fn}: label ${i} is ${ls[i]}; labels must be integers >= 0.`);
      maxLabel = Math.max(maxLabel, ls[i]);
    }
  }
  const numClasses = options.numClasses ?? maxLabel + 1;
  if (numClasses <= maxLabel) throw new Error(`${fn}: numClasses = ${numClasses} but a label is ${maxLabel}.`);
  const validation: Array<{ lambda: number; top1: number }> = [];
  let best = lambdas[0];
  if (lambdas.length > 1) {
    const every = Math.max(2, Math.round(1 / valFraction));
    const valRows: number[] = [];
    const fitRows: number[] = [];
    for (let i = 0; i < n; i++) (i % every === every - 1 ? valRows : fitRows).push(i);
    if (valRows.length === 0 || fitRows.length < 2) throw new Error(`${fn}: ${n} training rows are too few to hold out a validation split.`);
    const pick = (rows: number[]) => tf.tidy(() => tf.gather(trainFeats, tf.tensor1d(rows, 'int32')) as tf.Tensor2D);
    const fitX = pick(fitRows);
    const valX = pick(valRows);
    const { mean, std } = standardiser(fitX);
    const fitStd = tf.tidy(() => tf.div(tf.sub(fitX, mean), std) as tf.Tensor2D);
    const { w, b } = fitSoftmaxRegression(fitStd, fitRows.map((i) => trainLabels[i]), numClasses, lambdas, steps);
    const pred = predictCandidates(valX, mean, std, w, b, lambdas.length, numClasses);
    tf.dispose([fitX, valX, mean, std, fitStd, w, b]);
    let bestTop1 = -1;
    lambdas.forEach((lambda, l) => {
      let hit = 0;
      valRows.forEach((row, i) => {
        if (pred[i * lambdas.length + l] === trainLabels[row]) hit++;
      });
      const top1 = hit / valRows.length;
      validation.push({ lambda, top1 });
      // Ties go to the stronger penalty.
      if (top1 > bestTop1 || (top1 === bestTop1 && lambda > best)) {
        best = lambda;
        bestTop1 = top1;
      }
    });
  }
  const { mean, std } = standardiser(trainFeats);
  const xStd = tf.tidy(() => tf.div(tf.sub(trainFeats, mean), std) as tf.Tensor2D);
  const { w, b } = fitSoftmaxRegression(xStd, trainLabels, numClasses, [best], steps);
  try {
    const trainPred = predictCandidates(trainFeats, mean, std, w, b, 1, numClasses);
    const predictions = predictCandidates(testFeats, mean, std, w, b, 1, numClasses);
    const finalLoss = tf.tidy(() => {
      const y = tf.oneHot(tf.tensor1d(Array.from(trainLabels), 'int32'), numClasses);
      return tf.losses.softmaxCrossEntropy(y, tf.add(tf.matMul(xStd, w), b)).dataSync()[0];
    });
    return {
      top1: accuracy(predictions, testLabels),
      trainTop1: accuracy(trainPred, trainLabels),
      predictions,
      finalLoss,
      lambda: best,
      validation,
    };
  } finally {
    tf.dispose([mean, std, xStd, w, b]);
  }
}

function accuracy(pred: Int32Array, labels: ArrayLike<number>): number {
  let hit = 0;
  for (let i = 0; i < pred.length; i++) if (pred[i] === labels[i]) hit++;
  return pred.length ? hit / pred.length : 0;
}

/**
 * Full-batch Adam (learning rate 0.01, PyTorch's betas and eps) from zero weights on
 * `L = lambdas.length` softmax regressions at once, side by side in one `[D, L * K]` weight
 * matrix: the mean cross-entropy of each plus `lambda / 2 * ||W||^2` of its own weights
 * (not the bias). Adam works element by element, so every candidate follows exactly the
 * trajectory a fit of its own would. The gradient is written out (`X^T (softmax - Y) / N`)
 * against a transposed copy of X made once, which the wasm backend multiplies far faster than
 * the transposed product autodiff would use. `x` must be standardised already.
 */
export function fitSoftmaxRegression(
  x: tf.Tensor2D,
  labels: ArrayLike<number>,
  numClasses: number,
  lambdas: readonly number[],
  steps: number,
): { w: tf.Tensor2D; b: tf.Tensor1D } {
  const L = lambdas.length;
  const K = numClasses;
  const [n, dim] = x.shape;
  const lr = 0.01;
  const beta1 = 0.9;
  const beta2 = 0.999;
  const eps = 1e-8;
  const xT = tf.transpose(x) as tf.Tensor2D;
  const y = tf.tidy(() => tf.tile(tf.cast(tf.oneHot(tf.tensor1d(Array.from(labels), 'int32'), K), 'float32'), [1, L]) as tf.Tensor2D);
  const decay = tf.tidy(() => tf.reshape(tf.tile(tf.reshape(tf.tensor1d(lambdas.map(Number)), [L, 1]), [1, K]), [1, L * K]));
  let w = tf.zeros([dim, L * K]) as tf.Tensor2D;
  let b = tf.zeros([L * K]) as tf.Tensor1D;
  let mw: tf.Tensor = tf.zerosLike(w);
  let vw: tf.Tensor = tf.zerosLike(w);
  let mb: tf.Tensor = tf.zerosLike(b);
  let vb: tf.Tensor = tf.zerosLike(b);
  try {
    for (let step = 1; step <= steps; step++) {
      const c1 = 1 - Math.pow(beta1, step);
      const c2 = 1 - Math.pow(beta2, step);
      const next = tf.tidy(() => {
        const logits = tf.reshape(tf.add(tf.matMul(x, w), b), [n, L, K]);
        const residual = tf.div(tf.sub(tf.reshape(tf.softmax(logits), [n, L * K]), y), n);
        const gw = tf.add(tf.matMul(xT, residual), tf.mul(w, decay));
        const gb = tf.sum(residual, 0);
        const adam = (p: tf.Tensor, g: tf.Tensor, m: tf.Tensor, v: tf.Tensor) => {
          const m2 = tf.add(tf.mul(m, beta1), tf.mul(g, 1 - beta1));
          const v2 = tf.add(tf.mul(v, beta2), tf.mul(tf.square(g), 1 - beta2));
          const p2 = tf.sub(p, tf.div(tf.mul(m2, lr / c1), tf.add(tf.sqrt(tf.div(v2, c2)), eps)));
          return [p2, m2, v2];
        };
        return [...adam(w, gw, mw, vw), ...adam(b, gb, mb, vb)];
      });
      tf.dispose([w, mw, vw, b, mb, vb]);
      [w, mw, vw, b, mb, vb] = next as [tf.Tensor2D, tf.Tensor, tf.Tensor, tf.Tensor1D, tf.Tensor, tf.Tensor];
    }
    return { w, b };
  } finally {
    tf.dispose([xT, y, decay, mw, vw, mb, vb]);
  }
}

/** Standardisation statistics of the rows of `x` (per column mean and std + 1e-6). */
function standardiser(x: tf.Tensor2D): { mean: tf.Tensor1D; std: tf.Tensor1D } {
  return tf.tidy(() => {
    const mean = tf.mean(x, 0) as tf.Tensor1D;
    return { mean, std: tf.add(tf.sqrt(tf.mean(tf.square(tf.sub(x, mean)), 0)), 1e-6) as tf.Tensor1D };
  });
}

/** Predicted class of every row of `x` for each of the L side-by-side candidates: `[rows * L]`, row-major. */
function predictCandidates(x: tf.Tensor2D, mean: tf.Tensor1D, std: tf.Tensor1D, w: tf.Tensor2D, b: tf.Tensor1D, L: number, K: number): Int32Array {
  const pred = tf.tidy(() => {
    const logits = tf.add(tf.matMul(tf.div(tf.sub(x, mean), std), w), b);
    return tf.argMax(tf.reshape(logits, [x.shape[0], L, K]), 2);
  });
  const out = Int32Array.from(pred.dataSync());
  pred.dispose();
  return out;
}
