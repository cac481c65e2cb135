/**
 * Recomputing a frozen backbone's BatchNorm statistics on the probe's own training images,
 * so that every backbone is probed with statistics of the data it sees (random init otherwise
 * normalises with its initial running mean 0 / variance 1, which no trained network has).
 */
import * as tf from '@tensorflow/tfjs-core';
import type { RgbImage } from '@scrl/augment';
import { BATCH_NORM_MOMENTUM } from '@scrl/models';
import { imagesToTensor, type Backbone } from '../backbone';

export interface RecomputeBatchNormOptions {
  /** Images per training-mode forward pass (default 32; at least 2). */
  batchSize?: number;
}

export interface RecomputeBatchNormResult {
  /** BatchNorm layers updated (pairs of `running_mean` / `running_var` buffers). */
  layers: number;
  /** Images forwarded. */
  images: number;
}

/**
 * Replaces every BatchNorm running mean and variance of `backbone` by their average over
 * training-mode forward passes of `images` (batches of `batchSize`, each batch weighted by its
 * image count): what `torch.optim.swa_utils.update_bn` computes (momentum None, a cumulative
 * average of the batch statistics; the variance is the unbiased batch variance). Weights are
 * not touched. BatchNorm layers are found by their buffers `<name>.running_mean` /
 * `<name>.running_var`, and must update them as PyTorch does with momentum
 * `BATCH_NORM_MOMENTUM` (as `@scrl/models` layers do); a backbone without such buffers is
 * left as it is.
 */
export function recomputeBatchNorm(backbone: Backbone, images: RgbImage[], options: RecomputeBatchNormOptions = {}): RecomputeBatchNormResult {
  const fn = 'recomputeBatchNorm';
  const batchSize = options.batchSize ?? 32;
  if (!Number.isInteger(batchSize) || batchSize < 2) throw new Error(`${fn}: batchSize must be an integer >= 2, got ${batchSize}.`);
  if (images.length < 2) throw new Error(`${fn}: images has ${images.length} image(s); pass at least 2 training images.`);
  const buffers = new Map(backbone.buffers().map((b) => [b.name, b.variable]));
  const layers: Array<{ mean: tf.Variable; variance: tf.Variable }> = [];
  for (const [name, mean] of buffers) {
    if (!name.endsWith('.running_mean')) continue;
    const variance = buffers.get(name.slice(0, -'.running_mean'.length) + '.running_var');
    if (variance) layers.push({ mean, variance });
  }
  if (layers.length === 0) return { layers: 0, images: 0 };
  const m = BATCH_NORM_MOMENTUM;
  const sums: Array<{ mean: tf.Tensor; variance: tf.Tensor }> = layers.map((l) => ({ mean: tf.zerosLike(l.mean), variance: tf.zerosLike(l.variance) }));
  // A last batch of one image has no variance: fold it into the one before.
  const starts: number[] = [];
  for (let s = 0; s < images.length; s += batchSize) starts.push(s);
  if (starts.length > 1 && images.length - starts[starts.length - 1] < 2) starts.pop();
  try {
    starts.forEach((start, b) => {
      const end = b + 1 < starts.length ? starts[b + 1] : images.length;
      const count = end - start;
      // Zeroed running statistics become momentum * batch statistics after one forward pass.
      layers.forEach((l) => {
        l.mean.assign(tf.zerosLike(l.mean));
        l.variance.assign(tf.zerosLike(l.variance));
      });
      tf.tidy(() => {
        const x = imagesToTensor(images.slice(start, end));
        backbone.features(x, { training: true });
      });
      layers.forEach((l, i) => {
        const next = tf.tidy(() => ({
          mean: tf.add(sums[i].mean, tf.mul(l.mean, count / m)),
          variance: tf.add(sums[i].variance, tf.mul(l.variance, count / m)),
        }));
        tf.dispose([sums[i].mean, sums[i].variance]);
        sums[i] = next;
      });
    });
    const total = images.length;
    layers.forEach((l, i) => {
      l.mean.assign(tf.tidy(() => tf.div(sums[i].mean, total)));
      l.variance.assign(tf.tidy(() => tf.div(sums[i].variance, total)));
    });
  } finally {
    sums.forEach((s) => tf.dispose([s.mean, s.variance]));
  }
  return { layers: layers.length, images: images.length };
}

/**
 * Runs `fn` with the backbone's BatchNorm statistics recomputed on `images` (see
 * {@link recomputeBatchNorm}) and puts the original statistics back afterwards, so a probe
 * leaves the backbone as it found it. With `images` empty, `fn` runs on the statistics as they are.
 */
export function withRecomputedBatchNorm<T>(
  backbone: Backbone,
  images: RgbImage[],
  options: RecomputeBatchNormOptions,
  fn: () => T,
): T {
  if (images.length === 0) return fn();
  const saved = backbone.buffers().map((b) => ({ variable: b.variable, value: tf.clone(b.variable) }));
  try {
    recomputeBatchNorm(backbone, images, options);
    return fn();
  } finally {
    for (const s of saved) {
      s.variable.assign(s.value);
      s.value.dispose();
    }
  }
}
