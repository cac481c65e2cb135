import * as tf from '@tensorflow/tfjs-core';
import { describeEachBackend } from '@scrl/testing';
import '../index';

// Our Tile handles float32/int32 and hands bool to the stock kernel; on wasm that kernel needs
// the setup step the backend runs at initialisation, which must survive our replacement.
describeEachBackend('stock fallbacks of replaced kernels', () => {
  it('tiles a bool tensor (broadcastTo) through the stock kernel', () => {
    const x = tf.tensor1d([1, 0], 'bool');
    const y = tf.broadcastTo(x, [3, 2]);
    expect(y.dtype).toBe('bool');
    expect(Array.from(y.dataSync())).toEqual([1, 0, 1, 0, 1, 0]);
    tf.dispose([x, y]);
  });
});
