import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '@scrl/roi-align';
import { describeEachBackend, expectNoLeak } from '@scrl/testing';
import { createResNet, isExcludedFromAdaptation } from './index';
import type { ResNet, ResNetDepth } from './index';

function std(values: ArrayLike<number>): number {
  let s = 0;
  let sq = 0;
  for (let i = 0; i < values.length; i++) {
    s += values[i];
    sq += values[i] * values[i];
  }
  const m = s / values.length;
  return Math.sqrt(sq / values.length - m * m);
}

function paramCount(model: ResNet): number {
  return model.parameters().reduce((n, p) => n + p.variable.size, 0);
}

// Parameter counts do not depend on the backend: built once (full-size models are slow to initialise).
describe('createResNet sizes', () => {
  beforeAll(async () => {
    await initBackend({ backend: 'cpu', log: null });
  });
  // Full-size models take 30-120 s each to build on a 2-core machine: the suite checks the two
  // block types (basic: 18, bottleneck: 50); SCRL_TEST_ALL_BACKENDS=1 adds 34 and 101.
  const full = process.env.SCRL_TEST_ALL_BACKENDS === '1';
  it.each(
    [
      [18, [64, 128, 256, 512]],
      [34, [64, 128, 256, 512]],
      [50, [256, 512, 1024, 2048]],
      [101, [256, 512, 1024, 2048]],
    ].filter(([depth]) => full || depth === 18 || depth === 50) as Array<[ResNetDepth, number[]]>,
  )('ResNet-%i has torchvision channels and parameter count', (depth, widths) => {
    const model = createResNet({ depth, numClasses: 1000, seed: 0 });
    expect(Object.values(model.channels)).toEqual(widths);
    expect(model.featureDim).toBe(widths[3]);
    expect(model.stride).toEqual({ c2: 4, c3: 8, c4: 16, c5: 32 });
    // sum(p.numel() for p in torchvision.models.resnetNN().parameters())
    const expected = { 18: 11689512, 34: 21797672, 50: 25557032, 101: 44549160 }[depth];
    expect(paramCount(model)).toBe(expected);
    model.dispose();
  });

});

describeEachBackend('createResNet', () => {
  it('returns NHWC stage outputs at strides 4..32 and a pooled vector, without leaking', async () => {
    const model = createResNet({ depth: 50, baseWidth: 8, seed: 1 });
    const x = tf.randomNormal([2, 64, 96, 3], 0, 1, 'float32', 1) as tf.Tensor4D;
    for (const training of [false, true]) {
      await expectNoLeak(() => {
        const f = model.features(x, { training });
        expect(f.c2.shape).toEqual([2, 16, 24, 32]);
        expect(f.c3.shape).toEqual([2, 8, 12, 64]);
        expect(f.c4.shape).toEqual([2, 4, 6, 128]);
        expect(f.c5.shape).toEqual([2, 2, 3, 256]);
        expect(f.pooled.shape).toEqual([2, 256]);
        const mean = tf.tidy(() => tf.mean(f.c5, [1, 2]));
        expect(Array.from(f.pooled.dataSync())).toEqual(Array.from(mean.dataSync()));
        tf.dispose([mean, ...Object.values(f)]);
      });
    }
    x.dispose();
    model.dispose();
  });

  it('smallInput: 3x3 stride-1 stem without max-pool, strides 1, 2, 4, 8', () => {
    const model = createResNet({ depth: 18, smallInput: true, baseWidth: 16, seed: 2 });
    expect(model.stride).toEqual({ c2: 1, c3: 2, c4: 4, c5: 8 });
    expect(model.parameters()[0].variable.shape).toEqual([3, 3, 3, 16]);
    const x = tf.randomNormal([2, 32, 32, 3], 0, 1, 'float32', 2) as tf.Tensor4D;
    const f = model.features(x, { training: true });
    expect([f.c2.shape, f.c5.shape]).toEqual([
      [2, 32, 32, 16],
      [2, 4, 4, 128],
    ]);
    tf.dispose([x, ...Object.values(f)]);
    model.dispose();
  });

  it('initialises as torchvision: kaiming_normal_(fan_out, relu), BN 1/0, default Linear', () => {
    const model = createResNet({ depth: 50, baseWidth: 32, numClasses: 10, seed: 3 });
    const byName = new Map(model.parameters().map((p) => [p.name, p.variable]));
    // layer3.0.conv2: 3x3, 128 -> 128: std sqrt(2 / (128 * 9)).
    const w = (byName.get('layer3.0.conv2.weight') as tf.Variable).dataSync();
    expect(std(w) / Math.sqrt(2 / (128 * 9))).toBeCloseTo(1, 1);
    const stem = (byName.get('conv1.weight') as tf.Variable).dataSync();
    expect(std(stem) / Math.sqrt(2 / (32 * 49))).toBeCloseTo(1, 1);
    // The last BN of a bottleneck is not zero-initialised.
    expect(Array.from((byName.get('layer1.0.bn3.weight') as tf.Variable).dataSync()).every((v) => v === 1)).toBe(true);
    expect(Array.from((byName.get('layer1.0.bn3.bias') as tf.Variable).dataSync()).every((v) => v === 0)).toBe(true);
    for (const b of model.buffers()) {
      const want = b.name.endsWith('running_mean') ? 0 : 1;
      expect(Array.from(b.variable.dataSync()).every((v) => v === want)).toBe(true);
    }
    const bound = 1 / Math.sqrt(1024);
    for (const name of ['fc.weight', 'fc.bias']) {
      const v = (byName.get(name) as tf.Variable).dataSync();
      let maxAbs = 0;
      for (let i = 0; i < v.length; i++) maxAbs = Math.max(maxAbs, Math.abs(v[i]));
      expect(maxAbs).toBeLessThanOrEqual(bound);
      expect(maxAbs).toBeGreaterThan(0.5 * bound);
    }
    model.dispose();
  });

  it('gives every parameter a torchvision name and a role, in the same order for the same options', () => {
    const a = createResNet({ depth: 18, baseWidth: 8, numClasses: 5, seed: 4 });
    const b = createResNet({ depth: 18, baseWidth: 8, numClasses: 5, seed: 4 });
    const c = createResNet({ depth: 18, baseWidth: 8, numClasses: 5, seed: 5 });
    const pa = a.parameters();
    expect(pa.slice(0, 4).map((p) => [p.name, p.role])).toEqual([
      ['conv1.weight', 'weight'],
      ['bn1.weight', 'bn-weight'],
      ['bn1.bias', 'bn-bias'],
      ['layer1.0.conv1.weight', 'weight'],
    ]);
    expect(pa.slice(-2).map((p) => [p.name, p.role])).toEqual([
      ['fc.weight', 'weight'],
      ['fc.bias', 'bias'],
    ]);
    expect(pa.map((p) => p.name)).toContain('layer2.0.downsample.1.weight');
    for (const p of pa) {
      expect(isExcludedFromAdaptation(p.role)).toBe(!(p.name.endsWith('.weight') && !/bn\d|downsample\.1/.test(p.name)));
    }
    expect(b.parameters().map((p) => p.name)).toEqual(pa.map((p) => p.name));
    expect(a.buffers().map((p) => p.name).slice(0, 2)).toEqual(['bn1.running_mean', 'bn1.running_var']);
    // Same seed: same values; another seed: different values.
    pa.forEach((p, i) => expect(b.parameters()[i].variable.dataSync()).toEqual(p.variable.dataSync()));
    expect(c.parameters()[0].variable.dataSync()).not.toEqual(pa[0].variable.dataSync());
    for (const m of [a, b, c]) m.dispose();
  });

  it('updates BatchNorm running statistics only in training mode (momentum 0.1, unbiased variance)', () => {
    const model = createResNet({ depth: 18, baseWidth: 8, seed: 6 });
    const x = tf.randomNormal([2, 32, 32, 3], 0.5, 2, 'float32', 6) as tf.Tensor4D;
    const snapshot = () => model.buffers().map((b) => Array.from(b.variable.dataSync()));
    const initial = snapshot();
    tf.dispose(Object.values(model.features(x, { training: false })));
    expect(snapshot()).toEqual(initial);
    // bn1's batch statistics over the stem conv output, computed here independently.
    const conv1 = model.parameters()[0].variable as tf.Variable<tf.Rank.R4>;
    const [mean, unbiased] = tf.tidy(() => {
      const y = tf.conv2d(x, conv1, 2, 3);
      const m = tf.mean(y, [0, 1, 2]);
      const n = y.size / y.shape[3];
      const v = tf.div(tf.sum(tf.square(tf.sub(y, m)), [0, 1, 2]), n - 1);
      return [m.dataSync(), v.dataSync()];
    });
    tf.dispose(Object.values(model.features(x, { training: true })));
    const [rm, rv] = model.buffers().slice(0, 2).map((b) => b.variable.dataSync());
    for (let c = 0; c < 8; c++) {
      expect(rm[c]).toBeCloseTo(0.1 * mean[c], 5);
      expect(rv[c]).toBeCloseTo(0.9 + 0.1 * unbiased[c], 4);
    }
    x.dispose();
    model.dispose();
  });

  it('classifies with fc only when built with numClasses', async () => {
    const model = createResNet({ depth: 18, baseWidth: 8, numClasses: 3, seed: 7 });
    const x = tf.randomNormal([2, 32, 32, 3], 0, 1, 'float32', 7) as tf.Tensor4D;
    await expectNoLeak(() => {
      const logits = model.classify(x, { training: false });
      const f = model.features(x, { training: false });
      const [w, b] = model.parameters().slice(-2).map((p) => p.variable);
      const manual = tf.tidy(() => tf.add(tf.matMul(f.pooled, w as tf.Tensor2D), b));
      expect(logits.shape).toEqual([2, 3]);
      const got = logits.dataSync();
      manual.dataSync().forEach((v, i) => expect(got[i]).toBeCloseTo(v, 5));
      tf.dispose([logits, manual, ...Object.values(f)]);
    });
    const plain = createResNet({ depth: 18, baseWidth: 8 });
    expect(() => plain.classify(x, { training: false })).toThrow('ResNet.classify: this model has no classifier');
    x.dispose();
    model.dispose();
    plain.dispose();
  });

  it('fails clearly on bad options, bad input, and one value per channel in training', () => {
    expect(() => createResNet({ depth: 20 as ResNetDepth })).toThrow('createResNet: depth must be one of 18, 34, 50, 101, got 20.');
    expect(() => createResNet({ depth: 18, baseWidth: 0 })).toThrow('createResNet: baseWidth must be a positive integer');
    const model = createResNet({ depth: 18, baseWidth: 4 });
    const nchw = tf.zeros([1, 3, 32, 32]) as tf.Tensor4D;
    expect(() => model.features(nchw, { training: false })).toThrow(
      'ResNet.features: x must be an NHWC image batch [N, H, W, 3], got shape [1, 3, 32, 32].',
    );
    const one = tf.zeros([1, 32, 32, 3]) as tf.Tensor4D;
    const before = tf.memory().numTensors;
    expect(() => model.features(one, { training: true })).toThrow(
      "BatchNorm2d 'layer4.0.bn1': expected more than 1 value per channel when training, got input shape [1, 1, 1, 32]",
    );
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([nchw, one]);
    model.dispose();
  });
});
