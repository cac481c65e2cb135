/**
 * Conv-norm matching before fine-tuning (docs/evaluators.md, "Detection"): self-supervised
 * pretraining grows the convolution weights, and under BatchNorm a larger weight norm is a
 * smaller effective learning rate, so one fine-tuning learning rate can favour one
 * initialisation. `rescaleConvNorms` scales every convolution of a backbone to the norm of the
 * same convolution in a reference (a fresh random init of the same architecture and seed).
 *
 * Every rescaled convolution must feed a BatchNorm (torchvision's ResNet naming: `conv1` ->
 * `bn1`, `...convK` -> `...bnK`, `...downsample.0` -> `...downsample.1`). Scaling a conv by `a`
 * scales the BatchNorm's input by `a`; batch statistics remove it, and the running mean and
 * variance are scaled by `a` and `a^2` here, so the network computes the same function in
 * training and in inference mode (up to BatchNorm's eps, which weighs `1/a^2` times more).
 */
import * as tf from '@tensorflow/tfjs-core';
import type { Module } from '@scrl/models';

export interface RescaledConv {
  /** Parameter name of the conv weight. */
  name: string;
  /** L2 norm before rescaling and the reference's (now the weight's) norm. */
  before: number;
  after: number;
}

/** The BatchNorm that follows a conv in torchvision's ResNet naming, or null. */
function batchNormAfter(convWeight: string): string | null {
  const m = /^(.*?)(conv(\d*)|downsample\.0)\.weight$/.exec(convWeight);
  if (!m) return null;
  return m[2] === 'downsample.0' ? `${m[1]}downsample.1` : `${m[1]}bn${m[3]}`;
}

function norm(t: tf.Tensor): number {
  return tf.tidy(() => tf.norm(t).dataSync()[0]);
}

/**
 * Scales each conv weight (role `weight`, rank 4) of `model` to the L2 norm of the same-named
 * weight of `reference`, and the running statistics of the BatchNorm after it to match (see the
 * module comment). Changes `model` in place; `reference` is only read.
 *
 * @returns one entry per rescaled conv, in parameter order.
 * @throws if a conv has no same-shaped counterpart in `reference`, or no BatchNorm after it.
 */
export function rescaleConvNorms(model: Module, reference: Module): RescaledConv[] {
  const fn = 'rescaleConvNorms';
  const refByName = new Map(reference.parameters().map((p) => [p.name, p.variable]));
  const buffers = new Map(model.buffers().map((b) => [b.name, b.variable]));
  const params = new Map(model.parameters().map((p) => [p.name, p.variable]));
  const convs = model.parameters().filter((p) => p.role === 'weight' && p.variable.rank === 4);
  // Check everything before changing anything.
  const plan = convs.map((p) => {
    const ref = refByName.get(p.name);
    if (!ref || ref.shape.join() !== p.variable.shape.join()) {
      throw new Error(
        `${fn}: the reference has no conv '${p.name}' of shape [${p.variable.shape}]` +
          (ref ? ` (it has [${ref.shape}])` : '') +
          '; pass a fresh init of the same architecture.',
      );
    }
    const bn = batchNormAfter(p.name);
    const mean = bn ? buffers.get(`${bn}.running_mean`) : undefined;
    const variance = bn ? buffers.get(`${bn}.running_var`) : undefined;
    if (!bn || !mean || !variance || !params.has(`${bn}.weight`)) {
      throw new Error(
        `${fn}: no BatchNorm follows conv '${p.name}' (looked for '${bn ?? '?'}.running_mean'); ` +
          'rescaling it would change what the network computes. Only ResNet-style conv + BatchNorm backbones can be rescaled.',
      );
    }
    return { p, ref, mean, variance };
  });
  return plan.map(({ p, ref, mean, variance }) => {
    const before = norm(p.variable);
    const after = norm(ref);
    if (!(before > 0)) throw new Error(`${fn}: conv '${p.name}' has norm ${before}; cannot rescale an all-zero weight.`);
    const a = after / before;
    tf.tidy(() => {
      p.variable.assign(tf.mul(p.variable, a));
      mean.assign(tf.mul(mean, a));
      variance.assign(tf.mul(variance, a * a));
    });
    return { name: p.name, before, after };
  });
}
