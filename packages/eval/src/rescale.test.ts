import * as tf from '@tensorflow/tfjs-core';
import { createResNet } from '@scrl/models';
import type { ResNet } from '@scrl/models';
import { describeEachBackend } from '@scrl/testing';
import { rescaleConvNorms } from './index';
import { tinyBackbone } from './__tests__/tiny-backbone';

/** A stand-in for a pretrained backbone: convs grown by 1.5-2.5x, running statistics from a few training-mode passes. */
function grown(seed: number, x: tf.Tensor4D): ResNet {
  const m = createResNet({ depth: 18, smallInput: true, baseWidth: 4, seed });
  m.parameters()
    .filter((p) => p.role === 'weight' && p.variable.rank === 4)
    .forEach((p, i) => tf.tidy(() => p.variable.assign(tf.mul(p.variable, 1.5 + (i % 5) / 4))));
  for (let i = 0; i < 3; i++) tf.tidy(() => m.features(x, { training: true }));
  return m;
}

const c5 = (m: ResNet, x: tf.Tensor4D, training: boolean): Float32Array => tf.tidy(() => m.features(x, { training }).c5.dataSync() as Float32Array);

function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  let d = 0;
  for (let i = 0; i < a.length; i++) d = Math.max(d, Math.abs(a[i] - b[i]));
  return d;
}

describeEachBackend('rescaleConvNorms', () => {
  it("sets every conv to the fresh init's norm and keeps the function, in training and inference mode", () => {
    const x = tf.tidy(() => tf.randomNormal([4, 16, 16, 3], 0, 1, 'float32', 3) as tf.Tensor4D);
    const original = grown(5, x);
    const rescaled = grown(5, x);
    const reference = createResNet({ depth: 18, smallInput: true, baseWidth: 4, seed: 5 });
    const report = rescaleConvNorms(rescaled, reference);
    // 20 convs in a ResNet-18: stem, 16 in the blocks, 3 downsamples.
    expect(report).toHaveLength(20);
    const refNorm = new Map(reference.parameters().map((p) => [p.name, tf.tidy(() => tf.norm(p.variable).dataSync()[0])]));
    for (const p of rescaled.parameters().filter((q) => q.role === 'weight' && q.variable.rank === 4)) {
      expect(tf.tidy(() => tf.norm(p.variable).dataSync()[0])).toBeCloseTo(refNorm.get(p.name)!, 3);
    }
    // The grown convs were 1.5-2.5x their init: the norms came down.
    expect(report.every((r) => r.before > 1.4 * r.after)).toBe(true);
    const scale = Math.max(...Array.from(c5(original, x, false)).map(Math.abs));
    // Inference mode (running statistics, scaled with the convs).
    expect(maxAbsDiff(c5(original, x, false), c5(rescaled, x, false))).toBeLessThan(1e-3 * scale);
    // Training mode (batch statistics), which also updates the running statistics...
    expect(maxAbsDiff(c5(original, x, true), c5(rescaled, x, true))).toBeLessThan(1e-3 * scale);
    // ...consistently, so inference mode still agrees afterwards.
    expect(maxAbsDiff(c5(original, x, false), c5(rescaled, x, false))).toBeLessThan(1e-3 * scale);
    // The weights did change: without the running-statistics update, inference mode would differ.
    expect(maxAbsDiff(c5(original, x, false), c5(reference, x, false))).toBeGreaterThan(1e-2 * scale);
    [original, rescaled, reference].forEach((m) => m.dispose());
    x.dispose();
  });

  it('refuses a conv that no BatchNorm follows, and a reference of another architecture', () => {
    const tiny = tinyBackbone();
    const other = tinyBackbone();
    expect(() => rescaleConvNorms(tiny, other)).toThrow(/rescaleConvNorms: no BatchNorm follows conv 'conv0.weight'/);
    const a = createResNet({ depth: 18, smallInput: true, baseWidth: 4, seed: 0 });
    const b = createResNet({ depth: 18, smallInput: true, baseWidth: 8, seed: 0 });
    expect(() => rescaleConvNorms(a, b)).toThrow(/rescaleConvNorms: the reference has no conv 'conv1.weight' of shape \[3,3,3,4\] \(it has \[3,3,3,8\]\)/);
    [tiny, other, a, b].forEach((m) => m.dispose());
  });
});
