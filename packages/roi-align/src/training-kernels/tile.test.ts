import * as tf from '@tensorflow/tfjs-core';
import { describeEachBackend } from '@scrl/testing';
import '../index';
import { onStockCpu, seeded, sizeOf } from './__tests__/helpers';

const CASES: Array<[number[], number[]]> = [
  [[1, 1, 1, 6], [3, 4, 5, 1]], // BatchNorm's gradient: a channel vector to the activation
  [[2, 3], [3, 2]],
  [[4], [3]],
  [[2, 1, 3], [1, 4, 1]],
  [[2, 2, 2, 2, 2], [2, 1, 3, 1, 2]],
  [[3, 2], [1, 1]],
  [[0, 2], [3, 2]],
];

describeEachBackend('Tile training kernel', (backend) => {
  it.each(CASES.map(([shape, reps]) => [`[${shape}] x [${reps}]`, shape, reps] as const))(
    'equals the stock cpu kernel for float32 and int32: %s',
    async (_name, shape, reps) => {
      const run = () =>
        tf.tidy(() => {
          const values = seeded(sizeOf(shape), 7);
          const f = tf.tile(tf.tensor(values, shape), reps);
          const i = tf.tile(tf.tensor(Array.from(values, (v) => Math.round(v * 100)), shape, 'int32'), reps);
          return { shape: f.shape, f: Array.from(f.dataSync()), i: Array.from(i.dataSync()), idtype: i.dtype };
        });
      const ref = await onStockCpu(run);
      expect(tf.getBackend()).toBe(backend);
      expect(run()).toEqual(ref);
    },
  );

  it('falls back to the stock kernel for bool', () => {
    const b = tf.tensor([true, false], [2], 'bool');
    const t = tf.tile(b, [2]);
    expect(t.dtype).toBe('bool');
    expect(Array.from(t.dataSync())).toEqual([1, 0, 1, 0]);
    tf.dispose([b, t]);
  });
});
