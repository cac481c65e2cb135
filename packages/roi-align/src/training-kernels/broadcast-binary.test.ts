import * as tf from '@tensorflow/tfjs-core';
import '../index';
import { roiAlign } from '../roi-align';
import { seeded, sizeOf } from './__tests__/helpers';
import { collapseBroadcast } from './broadcast-binary';
import { withStockKernels } from './registry';

const SHAPES: Array<[number[], number[]]> = [
  [[1, 1, 1, 1], [5, 1, 1, 7]], // the gradient of sum / mean
  [[5, 1, 1, 7], [1, 1, 1, 1]],
  [[], [3, 4]],
  [[3, 4], []],
  [[1, 1, 1, 6], [3, 4, 5, 6]], // BatchNorm: a channel vector against the activation
  [[3, 4, 5, 6], [6]],
  [[3, 1, 5], [1, 4, 1]],
  [[2, 1, 3, 1], [4, 1, 5]],
  [[4, 1], [1, 3]],
  [[2, 3, 1, 1], [2, 3, 4, 5]],
  [[0, 3], [1, 3]],
];

const OPS: Array<[string, (a: tf.Tensor, b: tf.Tensor) => tf.Tensor]> = [
  ['mul', tf.mul],
  ['add', tf.add],
  ['sub', tf.sub],
  ['div', tf.div],
];

describe('broadcasting Multiply/Add/Sub/RealDiv on cpu', () => {
  let previous: string | undefined;
  beforeAll(async () => {
    previous = tf.engine().backendName ?? undefined;
    await tf.setBackend('cpu');
  });
  afterAll(async () => {
    if (previous) await tf.setBackend(previous);
  });

  it.each(SHAPES.map(([a, b]) => [`[${a}] . [${b}]`, a, b] as const))('is bit-identical to the stock kernels: %s', (_n, aShape, bShape) => {
    for (const [, op] of OPS) {
      const run = () =>
        tf.tidy(() => {
          const a = tf.tensor(seeded(sizeOf(aShape), 1), aShape);
          // Include zeros and negatives in the divisor, and a NaN, as the stock kernel sees them.
          const bv = seeded(sizeOf(bShape), 2);
          if (bv.length > 2) {
            bv[0] = 0;
            bv[1] = NaN;
          }
          const out = op(a, tf.tensor(bv, bShape));
          return { shape: out.shape, values: Array.from(out.dataSync()) };
        });
      const ref = withStockKernels(run);
      const ours = run();
      expect(ours.shape).toEqual(ref.shape);
      expect(ours.values).toEqual(ref.values); // toEqual treats NaN as equal to NaN
    }
  });

  it('leaves int32 and equal shapes to the stock kernels', () => {
    const i = tf.mul(tf.tensor([1, 2, 3], [3], 'int32'), tf.tensor([2], [1], 'int32'));
    expect(i.dtype).toBe('int32');
    expect(Array.from(i.dataSync())).toEqual([2, 4, 6]);
    const f = tf.add(tf.tensor([1, 2]), tf.tensor([3, 4]));
    expect(Array.from(f.dataSync())).toEqual([4, 6]);
    tf.dispose([i, f]);
  });

  it('collapses dimensions as far as the broadcast allows', () => {
    expect(collapseBroadcast([1, 1, 1, 1], [5, 1, 1, 7])).toEqual({ outShape: [5, 1, 1, 7], sizes: [35], aStrides: [0], bStrides: [1] });
    expect(collapseBroadcast([1, 1, 1, 6], [3, 4, 5, 6])).toEqual({ outShape: [3, 4, 5, 6], sizes: [60, 6], aStrides: [0, 1], bStrides: [6, 1] });
    expect(collapseBroadcast([3, 1, 5], [1, 4, 1])).toEqual({ outShape: [3, 4, 5], sizes: [3, 4, 5], aStrides: [5, 0, 1], bStrides: [0, 1, 0] });
  });

  it('gives the same roiAlign gradient through tf.grad of a sum as the stock kernels', () => {
    const run = () =>
      tf.tidy(() => {
        const x = tf.tensor(seeded(2 * 5 * 5 * 8, 3), [2, 5, 5, 8]) as tf.Tensor4D;
        const g = tf.grad((v: tf.Tensor4D) => roiAlign(v, [[0, 0, 3, 4], [1, 1, 4, 4]], [0, 1], 2, { samplingRatio: 2 }).mean());
        return Array.from(g(x).dataSync());
      });
    expect(run()).toEqual(withStockKernels(run));
  });
});
