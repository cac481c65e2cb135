import * as tf from '@tensorflow/tfjs-core';
import { describeEachBackend, relativeNormError } from '@scrl/testing';
import '../index';
import { onStockCpu, seeded, sizeOf } from './__tests__/helpers';

// [a shape, b shape, transposeA, transposeB]
const CASES: Array<[number[], number[], boolean, boolean]> = [
  [[7, 5], [5, 3], false, false],
  [[7, 5], [3, 5], false, true],
  [[5, 7], [5, 3], true, false],
  [[5, 7], [3, 5], true, true],
  [[1, 7, 5], [3, 5], false, true],
  [[4, 7, 5], [4, 5, 3], false, false], // a batch of products
  [[4, 5, 7], [4, 3, 5], true, true],
  [[2, 3, 7, 5], [5, 3], false, false], // b shared by the batch
  [[7, 5], [2, 3, 3, 5], false, true], // a shared by the batch
  [[0, 5], [5, 3], false, false], // empty
  [[0, 5], [0, 3], true, false], // an empty sum: zeros (the gradient of a matMul over zero rows)
  [[2, 4, 0], [2, 0, 3], false, false],
  [[33, 65], [65, 17], false, false],
  [[65, 33], [17, 65], true, true],
];

describeEachBackend('BatchMatMul training kernel', (backend) => {
  it.each(CASES.map(([a, b, ta, tb]) => [`[${a}]${ta ? 'ᵀ' : ''} x [${b}]${tb ? 'ᵀ' : ''}`, a, b, ta, tb] as const))(
    'equals the stock cpu kernel: %s',
    async (_name, aShape, bShape, ta, tb) => {
      const run = () =>
        tf.tidy(() => {
          const out = tf.matMul(tf.tensor(seeded(sizeOf(aShape), 1), aShape), tf.tensor(seeded(sizeOf(bShape), 2), bShape), ta, tb);
          return { shape: out.shape, values: out.dataSync() as Float32Array };
        });
      const ref = await onStockCpu(run);
      expect(tf.getBackend()).toBe(backend);
      const ours = run();
      expect(ours.shape).toEqual(ref.shape);
      expect(ours.values.length).toBe(ref.values.length);
      if (ref.values.length > 0) expect(relativeNormError(ours.values, ref.values)).toBeLessThan(1e-6);
    },
  );

  it('gives a two-layer MLP the stock cpu gradients', async () => {
    const run = () =>
      tf.tidy(() => {
        const x = tf.tensor2d(seeded(40 * 24, 3), [40, 24]);
        const w1 = tf.tensor2d(seeded(24 * 32, 4), [24, 32]);
        const w2 = tf.tensor2d(seeded(32 * 8, 5), [32, 8]);
        const f = (a: tf.Tensor, b: tf.Tensor, c: tf.Tensor) => tf.sum(tf.square(tf.matMul(tf.relu(tf.matMul(a, b)), c)));
        return tf.grads(f)([x, w1, w2]).map((g) => g.dataSync() as Float32Array);
      });
    const ref = await onStockCpu(run);
    expect(tf.getBackend()).toBe(backend);
    run().forEach((g, i) => expect(relativeNormError(g, ref[i])).toBeLessThan(1e-6));
  });

  it('rejects mismatched inner dimensions with the stock message', () => {
    const a = tf.zeros([3, 4]);
    const b = tf.zeros([3, 5]);
    expect(() => tf.matMul(a, b, false, true)).toThrow(/inner shapes/);
    tf.dispose([a, b]);
  });

  it('frees what it allocates: tensors and backend memory flat over 50 calls of every case', () => {
    const a = tf.tensor3d(seeded(3 * 20 * 30, 6), [3, 20, 30]);
    const b = tf.tensor3d(seeded(3 * 30 * 10, 7), [3, 30, 10]);
    const once = () => {
      for (const [ta, tb] of [[false, false], [false, true], [true, false], [true, true]]) {
        tf.tidy(() => {
          const x = ta ? tf.transpose(a, [0, 2, 1]) : a;
          const y = tb ? tf.transpose(b, [0, 2, 1]) : b;
          tf.matMul(x, y, ta, tb).dataSync();
          const first = (t: tf.Tensor) => tf.squeeze(tf.slice(t, [0, 0, 0], [1]), [0]);
          tf.matMul(first(x), y, ta, tb).dataSync(); // a shared by the batch
          tf.matMul(first(x), first(y), ta, tb).dataSync(); // one product
        });
      }
    };
    // The backend's own count: buffers a kernel makes and forgets are invisible to tf.memory().
    const backendBuffers = () => tf.engine().backend.numDataIds();
    once();
    const before = { ...tf.memory(), backend: backendBuffers() };
    for (let i = 0; i < 50; i++) once();
    const after = { ...tf.memory(), backend: backendBuffers() };
    expect(after).toEqual(before);
    tf.dispose([a, b]);
  });
});
