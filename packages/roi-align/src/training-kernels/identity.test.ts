import * as tf from '@tensorflow/tfjs-core';
import { describeEachBackend } from '@scrl/testing';
import '../index';
import { withStockKernels } from './registry';

/**
 * The wasm Identity shares its input's heap buffer, so clones (and the tensors every gradient
 * saves) cost no copy; the cpu backend's stock Identity already does. The same specs on both.
 */
describeEachBackend('Identity', (backend) => {
  const refCount = (t: tf.Tensor) => (tf.backend() as unknown as { refCount(id: object): number }).refCount(t.dataId);

  it('shares the buffer under a reference count; each tensor outlives the other', () => {
    const before = tf.memory().numBytes;
    const x = tf.tensor([1.5, -2, 3, 4], [2, 2]);
    const y = tf.clone(x);
    expect(y.dataId).toBe(x.dataId);
    expect(refCount(x)).toBe(2);
    x.dispose();
    expect(Array.from(y.dataSync())).toEqual([1.5, -2, 3, 4]);
    expect(y.shape).toEqual([2, 2]);
    y.dispose();
    expect(tf.memory().numBytes).toBe(before);
  });

  it('int32, bool and string tensors clone correctly', () => {
    const i = tf.tensor([1, -2], [2], 'int32');
    const b = tf.tensor([true, false], [2], 'bool');
    const s = tf.tensor(['a', 'bc']);
    const [ci, cb, cs] = [tf.clone(i), tf.clone(b), tf.clone(s)];
    expect([ci.dtype, cb.dtype, cs.dtype]).toEqual(['int32', 'bool', 'string']);
    expect(Array.from(ci.dataSync())).toEqual([1, -2]);
    expect(Array.from(cb.dataSync())).toEqual([1, 0]);
    expect(cs.arraySync()).toEqual(['a', 'bc']);
    tf.dispose([i, b, s, ci, cb, cs]);
  });

  it('gradients that save their inputs equal the stock ones, and leak nothing over 50 steps', () => {
    const w = tf.variable(
      tf.tensor([
        [0.5, -1],
        [2, 0.25],
      ])
    );
    const x = tf.tensor([
      [1, 2],
      [3, -4],
      [0.5, 0.5],
    ]);
    const f = () => tf.sum(tf.square(tf.relu(tf.matMul(x, w))).mul(tf.sigmoid(tf.matMul(x, w))));
    const grad = () => {
      const { value, grads } = tf.variableGrads(f, [w]);
      const out = {
        value: value.dataSync()[0],
        g: Array.from(grads[w.name].dataSync()),
      };
      tf.dispose([value, grads[w.name]]);
      return out;
    };
    const stock = withStockKernels(grad, ['Identity']);
    expect(grad()).toEqual(stock);
    grad();
    const before = tf.memory();
    for (let i = 0; i < 50; i++) grad();
    const after = tf.memory();
    expect(after.numBytes).toBe(before.numBytes);
    expect(after.numTensors).toBe(before.numTensors);
    tf.dispose([w, x]);
  });
});

describeEachBackend(
  'Identity, stock wasm kernel',
  () => {
    it('withStockKernels puts the copying stock kernel back', () => {
      const x = tf.tensor([1, 2, 3]);
      const y = withStockKernels(() => tf.clone(x), ['Identity']);
      expect(y.dataId).not.toBe(x.dataId);
      expect(Array.from(y.dataSync())).toEqual([1, 2, 3]);
      tf.dispose([x, y]);
    });
  },
  { only: ['wasm'] }
);
