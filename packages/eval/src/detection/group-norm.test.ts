import * as tf from '@tensorflow/tfjs-core';
import { onHost, setHostLoops } from '@scrl/optim';
import { describeEachBackend } from '@scrl/testing';
import { mulberry32 } from '@scrl/util';
import { groupNorm } from '../index';
import { groupNormHost, groupNormOps } from './group-norm';

/** Output and gradients of sum(groupNorm(x) * r) for x, gamma, beta, with the given implementation. */
function run(fn: typeof groupNorm, shape: [number, number, number, number], groups: number, seed: number): Float32Array[] {
  const rand = mulberry32(seed);
  const [n, h, w, c] = shape;
  const x = tf.tensor4d(Float32Array.from({ length: n * h * w * c }, () => 3 * rand() - 1), shape);
  const r = tf.tensor4d(Float32Array.from({ length: n * h * w * c }, () => rand() - 0.5), shape);
  const gamma = tf.tensor1d(Float32Array.from({ length: c }, () => 0.5 + rand()));
  const beta = tf.tensor1d(Float32Array.from({ length: c }, () => rand() - 0.5));
  const g = tf.grads((a: tf.Tensor, b: tf.Tensor, d: tf.Tensor) => tf.sum(tf.mul(fn(a as tf.Tensor4D, groups, b as tf.Tensor1D, d as tf.Tensor1D), r)));
  const y = fn(x, groups, gamma, beta);
  const out = [y, ...g([x, gamma, beta])].map((t) => t.dataSync() as Float32Array);
  return out;
}

function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

describeEachBackend('groupNorm fused kernels', (backend) => {
  afterEach(() => setHostLoops(true));

  it.each([
    ['one channel per group (the FCOS head: GroupNorm(32) on 32 channels)', [3, 5, 4, 8], 8],
    ['several channels per group', [2, 3, 6, 12], 4],
    ['one group', [2, 4, 4, 6], 1],
    ['batch 1, two channels per group', [1, 3, 5, 4], 2],
  ] as Array<[string, [number, number, number, number], number]>)('matches the tensor-op definition and its TF.js gradient: %s', (_, shape, groups) => {
    const before = tf.memory().numTensors;
    const fused = tf.tidy(() => run(groupNormHost, shape, groups, 7));
    const ops = tf.tidy(() => run(groupNormOps, shape, groups, 7));
    expect(tf.memory().numTensors).toBe(before);
    const names = ['y', 'dx', 'dgamma', 'dbeta'];
    fused.forEach((f, i) => {
      expect(f.length).toBe(ops[i].length);
      // float32 tensor ops against float64 sums: agreement to rounding (named, so a failure says which).
      const tol = 2e-5 * Math.max(1, ...Array.from(ops[i], Math.abs));
      expect({ what: names[i], withinRounding: maxAbsDiff(f, ops[i]) < tol }).toEqual({ what: names[i], withinRounding: true });
    });
  });

  it('uses the fused kernels on cpu and wasm, and the tensor ops when host loops are off', () => {
    expect(onHost()).toBe(true);
    expect(backend === 'cpu' || backend === 'wasm').toBe(true);
    const viaDispatch = tf.tidy(() => run(groupNorm, [2, 3, 3, 4], 2, 3));
    const expected = tf.tidy(() => run(groupNormHost, [2, 3, 3, 4], 2, 3));
    viaDispatch.forEach((t, i) => expect(Array.from(t)).toEqual(Array.from(expected[i])));
    setHostLoops(false);
    const a = tf.tidy(() => run(groupNorm, [2, 3, 3, 4], 2, 3));
    const b = tf.tidy(() => run(groupNormOps, [2, 3, 3, 4], 2, 3));
    a.forEach((t, i) => expect(Array.from(t)).toEqual(Array.from(b[i])));
  });

  it('runs one kernel forward and one backward, and frees what it allocates (tf.memory() flat over 50 steps)', async () => {
    const x = tf.variable(tf.randomNormal([2, 4, 4, 8], 0, 1, 'float32', 1));
    const gamma = tf.variable(tf.randomNormal([8], 1, 0.2, 'float32', 2));
    const beta = tf.variable(tf.randomNormal([8], 0, 0.2, 'float32', 3));
    const step = () => {
      const { value, grads } = tf.variableGrads(() => tf.sum(tf.relu(groupNorm(x, 4, gamma, beta))) as tf.Scalar, [x, gamma, beta]);
      tf.dispose([value, ...Object.values(grads)]);
    };
    const info = await tf.profile(step);
    const names = info.kernels.map((k) => k.name);
    expect(names.filter((n) => n === 'ScrlGroupNorm')).toHaveLength(1);
    expect(names.filter((n) => n === 'ScrlGroupNormGrad')).toHaveLength(1);
    for (const op of ['Mean', 'Square', 'SquaredDifference', 'Rsqrt']) expect(names).not.toContain(op);
    const before = tf.memory();
    for (let i = 0; i < 50; i++) step();
    const after = tf.memory();
    expect(after.numTensors).toBe(before.numTensors);
    expect(after.numBytes).toBe(before.numBytes);
    tf.dispose([x, gamma, beta]);
  });

  it('keeps a NaN input NaN through a following tf.relu and through the gradient, as PyTorch does', () => {
    // A NaN written by JavaScript carries the sign bit, which wasm's ReLU (XNNPACK) turns into 0.
    const x = tf.tensor4d([1, 2, NaN, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16], [2, 2, 2, 2]);
    const gamma = tf.ones([2]) as tf.Tensor1D;
    const beta = tf.zeros([2]) as tf.Tensor1D;
    const isNaN = (t: tf.Tensor) => Array.from(t.dataSync()).map((v) => Number.isNaN(v));
    const y = groupNormHost(x, 1, gamma, beta);
    const relu = tf.relu(y);
    // The NaN is in image 0, whose one group is then all NaN; image 1 stays finite.
    expect(isNaN(relu)).toEqual([...Array(8).fill(true), ...Array(8).fill(false)]);
    const g = tf.grad((v: tf.Tensor) => tf.sum(tf.relu(groupNormHost(v as tf.Tensor4D, 1, gamma, beta))))(x);
    expect(isNaN(tf.relu(g)).slice(0, 8)).toEqual(Array(8).fill(true));
    tf.dispose([x, gamma, beta, y, relu, g]);
  });
});
