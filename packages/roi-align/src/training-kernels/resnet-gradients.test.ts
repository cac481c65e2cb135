/**
 * End to end: every weight gradient of a small ResNet-style train step, through the registered
 * training kernels, equals the one from TF.js's stock cpu kernels.
 */
import * as tf from '@tensorflow/tfjs-core';
import { describeEachBackend, maxRelativeError, relativeNormError } from '@scrl/testing';
import '../index';
import { onStockCpu, seeded, sizeOf } from './__tests__/helpers';

const CLASSES = 5;

/** name → shape of every weight, in a fixed order. */
const WEIGHTS: Array<[string, number[]]> = [
  ['stem.conv', [7, 7, 3, 8]],
  ['stem.bn.gamma', [8]],
  ['stem.bn.beta', [8]],
  ['basic.conv1', [3, 3, 8, 8]],
  ['basic.bn1.gamma', [8]],
  ['basic.bn1.beta', [8]],
  ['basic.conv2', [3, 3, 8, 8]],
  ['basic.bn2.gamma', [8]],
  ['basic.bn2.beta', [8]],
  ['bottleneck.conv1', [1, 1, 8, 4]],
  ['bottleneck.bn1.gamma', [4]],
  ['bottleneck.bn1.beta', [4]],
  ['bottleneck.conv2', [3, 3, 4, 4]],
  ['bottleneck.bn2.gamma', [4]],
  ['bottleneck.bn2.beta', [4]],
  ['bottleneck.conv3', [1, 1, 4, 16]],
  ['bottleneck.bn3.gamma', [16]],
  ['bottleneck.bn3.beta', [16]],
  ['bottleneck.down.conv', [1, 1, 8, 16]],
  ['bottleneck.down.bn.gamma', [16]],
  ['bottleneck.down.bn.beta', [16]],
  ['fc.weight', [16, CLASSES]],
  ['fc.bias', [CLASSES]],
];

const pads = (p: number): [[number, number], [number, number], [number, number], [number, number]] => [
  [0, 0],
  [p, p],
  [p, p],
  [0, 0],
];

/** Stem (7x7 s2 pad 3, BN, relu, 3x3 s2 p1 max-pool), a basic block, a bottleneck with a strided 1x1 downsample, mean, gather, dense, softmax CE. */
function loss(x: tf.Tensor4D, labels: tf.Tensor2D, rows: tf.Tensor1D, w: Record<string, tf.Tensor>): tf.Scalar {
  const bn = (y: tf.Tensor4D, name: string) => {
    const m = tf.moments(y, [0, 1, 2]);
    return tf.batchNorm(y, m.mean, m.variance, w[`${name}.beta`] as tf.Tensor1D, w[`${name}.gamma`] as tf.Tensor1D, 1e-5);
  };
  const conv = (y: tf.Tensor4D, name: string, stride: number, pad: number | 'same' | 'valid' | ReturnType<typeof pads>) =>
    tf.conv2d(y, w[name] as tf.Tensor4D, stride, pad);

  let y = tf.relu(bn(conv(x, 'stem.conv', 2, pads(3)), 'stem.bn'));
  y = tf.maxPool(tf.pad(y, pads(1), -Infinity), 3, 2, 'valid');

  let r = tf.relu(bn(conv(y, 'basic.conv1', 1, pads(1)), 'basic.bn1'));
  r = bn(conv(r, 'basic.conv2', 1, 1), 'basic.bn2');
  y = tf.relu(tf.add(y, r));

  let b = tf.relu(bn(conv(y, 'bottleneck.conv1', 1, 'valid'), 'bottleneck.bn1'));
  b = tf.relu(bn(conv(b, 'bottleneck.conv2', 2, pads(1)), 'bottleneck.bn2'));
  b = bn(conv(b, 'bottleneck.conv3', 1, 0), 'bottleneck.bn3');
  const down = bn(conv(y, 'bottleneck.down.conv', 2, 'valid'), 'bottleneck.down.bn');
  y = tf.relu(tf.add(down, b));

  const pooled = tf.gather(tf.mean(y, [1, 2]), rows);
  const logits = tf.add(tf.matMul(pooled, w['fc.weight'] as tf.Tensor2D), w['fc.bias']);
  return tf.losses.softmaxCrossEntropy(labels, logits) as tf.Scalar;
}

/** Gradients of the loss for every weight, as plain arrays in WEIGHTS order. */
function gradients(inputShape: [number, number, number, number]): Float32Array[] {
  return tf.tidy(() => {
    const x = tf.tensor4d(seeded(sizeOf(inputShape), 100), inputShape);
    const n = inputShape[0];
    const rows = tf.tensor1d([n - 1, 0, n - 1, 1 % n], 'int32');
    const labels = tf.oneHot(tf.tensor1d([1, 4, 0, 2], 'int32'), CLASSES) as tf.Tensor2D;
    const weights = WEIGHTS.map(([name, shape], i) => {
      const v = seeded(sizeOf(shape), 200 + i);
      if (name.endsWith('gamma')) return tf.tensor(v.map((a) => 1 + a), shape);
      const fanIn = shape.length === 4 ? shape[0] * shape[1] * shape[2] : shape[0];
      return tf.tensor(v.map((a) => (a * 2 * Math.sqrt(3)) / Math.sqrt(fanIn)), shape);
    });
    const f = (...ws: tf.Tensor[]) =>
      loss(x, labels, rows, Object.fromEntries(WEIGHTS.map(([name], i) => [name, ws[i]])));
    return tf.grads(f)(weights).map((g) => g.dataSync() as Float32Array);
  });
}

function maxAbs(a: Float32Array): number {
  let m = 0;
  for (const v of a) m = Math.max(m, Math.abs(v));
  return m;
}

describeEachBackend('ResNet-style train step gradients with the training kernels', (backend) => {
  it.each([
    ['odd input 19x17, batch 3', [3, 19, 17, 3]],
    ['even input 16x16, batch 2', [2, 16, 16, 3]],
  ] as Array<[string, [number, number, number, number]]>)('match the stock cpu kernels for every weight: %s', async (_name, shape) => {
    const ref = await onStockCpu(() => gradients(shape));
    const before = tf.memory().numTensors;
    const got = gradients(shape);
    expect(tf.memory().numTensors).toBe(before);
    expect(tf.getBackend()).toBe(backend);
    WEIGHTS.forEach(([name], i) => {
      const errors = {
        name,
        norm: relativeNormError(got[i], ref[i]),
        element: maxRelativeError(got[i], ref[i], maxAbs(ref[i])),
      };
      expect(maxAbs(ref[i])).toBeGreaterThan(0);
      expect({ name, ok: errors.norm < 1e-5 && errors.element < 1e-5, ...errors }).toMatchObject({ name, ok: true });
    });
  });
});
