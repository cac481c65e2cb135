/**
 * A tiny seeded conv backbone for tests (strides 4/8/16/32 for c2..c5, like a ResNet without
 * the small-input stem): conv 3x3 + ReLU stages, no BatchNorm. It satisfies `Backbone`.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { NamedParameter } from '@scrl/models';
import type { Backbone, BackboneFeatureMaps } from '../backbone';

function gaussian(seed: number): () => number {
  let a = seed >>> 0;
  const uniform = (): number => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (((t ^ (t >>> 14)) >>> 0) + 0.5) / 4294967296;
  };
  return () => Math.sqrt(-2 * Math.log(uniform())) * Math.cos(2 * Math.PI * uniform());
}

let instances = 0;

export function tinyBackbone(widths: [number, number, number, number, number] = [8, 8, 16, 32, 32], seed = 1): Backbone & { channels: { c2: number; c3: number; c4: number; c5: number } } {
  const rand = gaussian(seed);
  const instance = ++instances;
  const params: NamedParameter[] = [];
  const convs: Array<{ w: tf.Variable; b: tf.Variable }> = [];
  let cin = 3;
  widths.forEach((cout, i) => {
    const std = Math.sqrt(2 / (9 * cin));
    const values = Float32Array.from({ length: 9 * cin * cout }, () => rand() * std);
    const w = tf.tidy(() => tf.variable(tf.tensor4d(values, [3, 3, cin, cout]), true, `tiny${instance}.conv${i}.weight`));
    const b = tf.tidy(() => tf.variable(tf.zeros([cout]), true, `tiny${instance}.conv${i}.bias`));
    params.push({ name: `conv${i}.weight`, variable: w, role: 'weight' }, { name: `conv${i}.bias`, variable: b, role: 'bias' });
    convs.push({ w, b });
    cin = cout;
  });
  const conv = (x: tf.Tensor4D, i: number): tf.Tensor4D => tf.relu(tf.add(tf.conv2d(x, convs[i].w as tf.Tensor4D, 2, 'same'), convs[i].b)) as tf.Tensor4D;
  return {
    channels: { c2: widths[1], c3: widths[2], c4: widths[3], c5: widths[4] },
    features(x: tf.Tensor4D): BackboneFeatureMaps {
      const stem = conv(x, 0);
      const c2 = conv(stem, 1);
      const c3 = conv(c2, 2);
      const c4 = conv(c3, 3);
      const c5 = conv(c4, 4);
      return { c2, c3, c4, c5, pooled: tf.mean(c5, [1, 2]) as tf.Tensor2D };
    },
    parameters: () => params,
    buffers: () => [],
    dispose: () => params.forEach((p) => p.variable.dispose()),
  };
}
