import * as tf from '@tensorflow/tfjs-core';
import { describeEachBackend, relativeNormError } from '@scrl/testing';
import '../index';
import { onStockCpu, seeded } from './__tests__/helpers';

describeEachBackend('UnsortedSegmentSum training kernel', (backend) => {
  it('sums rows by segment id, dropping ids out of range', () => {
    const x = tf.tensor2d([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], [5, 2]);
    const ids = tf.tensor1d([2, 0, 2, -1, 7], 'int32');
    const out = tf.unsortedSegmentSum(x, ids, 3);
    expect(out.shape).toEqual([3, 2]);
    expect(Array.from(out.dataSync())).toEqual([3, 4, 0, 0, 6, 8]);
    tf.dispose([x, ids, out]);
  });

  it('handles int32 values and rank-3 x', () => {
    const x = tf.tensor3d([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12], [3, 2, 2], 'int32');
    const ids = tf.tensor1d([1, 0, 1], 'int32');
    const out = tf.unsortedSegmentSum(x, ids, 2);
    expect(out.shape).toEqual([2, 2, 2]);
    expect(Array.from(out.dataSync())).toEqual([5, 6, 7, 8, 10, 12, 14, 16]);
    tf.dispose([x, ids, out]);
  });

  it('gives tf.gather (repeated indices, axis 0 and 1) the stock cpu gradient', async () => {
    const run = () =>
      tf.tidy(() => {
        const x = tf.tensor3d(seeded(4 * 6 * 3, 11), [4, 6, 3]);
        const w = tf.tensor3d(seeded(5 * 6 * 3, 12), [5, 6, 3]);
        const w1 = tf.tensor3d(seeded(4 * 7 * 3, 13), [4, 7, 3]);
        const f = (a: tf.Tensor) =>
          tf.add(
            tf.sum(tf.mul(tf.gather(a, tf.tensor1d([3, 0, 3, 1, 3], 'int32')), w)),
            tf.sum(tf.mul(tf.gather(a, tf.tensor1d([5, 5, 0, 2, 4, 1, 5], 'int32'), 1), w1)),
          );
        return tf.grad(f)(x).dataSync() as Float32Array;
      });
    const ref = await onStockCpu(run);
    expect(tf.getBackend()).toBe(backend);
    expect(relativeNormError(run(), ref)).toBeLessThan(1e-6);
  });

  it('names the mismatch when segmentIds do not prefix x', () => {
    const x = tf.zeros([3, 2]);
    const ids = tf.tensor1d([0, 1], 'int32');
    expect(() => tf.engine().runKernel('UnsortedSegmentSum', { x, segmentIds: ids }, { numSegments: 2 })).toThrow(
      backend === 'wasm' ? /UnsortedSegmentSum: segmentIds shape \[2\] must be a non-empty prefix of x shape \[3,2\]/ : /./,
    );
    tf.dispose([x, ids]);
  });
});
