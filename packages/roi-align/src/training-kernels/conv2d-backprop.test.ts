import * as tf from '@tensorflow/tfjs-core';
import { describeEachBackend, maxRelativeError, relativeNormError } from '@scrl/testing';
import { initBackend } from '../index';
import { onStockCpu, seeded, sizeOf } from './__tests__/helpers';

type Pad = 'same' | 'valid' | number | tf.backend_util.ExplicitPadding;

interface Case {
  /** Batch, input and output channels. */
  channels: [number, number, number];
  stride: number;
  kernel: number;
  pad: Pad;
  height: number;
  width: number;
}

/**
 * wasm's weight gradient: batch 1 with 8 -> 16 channels is the SIMD loop as it is (input channels
 * a multiple of 4, output channels of 8), batch 2 with 3 -> 5 the SIMD loop on zero-padded
 * channels, batch 2 with 1 -> 2 the conv formulation (padding would cost 16x).
 */
const CHANNELS: Array<[number, number, number]> = [
  [2, 3, 5],
  [1, 8, 16],
  [2, 1, 2],
];

function cases(): Case[] {
  return CHANNELS.flatMap((channels) => geometries().map((g) => ({ ...g, channels })));
}

function geometries(): Array<Omit<Case, 'channels'>> {
  const out: Array<Omit<Case, 'channels'>> = [];
  for (const stride of [1, 2]) {
    for (const kernel of [1, 3, 7]) {
      const p = (kernel - 1) / 2; // ResNet's explicit padding: 1x1 pad 0, 3x3 pad 1, 7x7 pad 3
      const pads: Pad[] = ['same', 'valid', p, [[0, 0], [p, p], [p, p], [0, 0]]];
      for (const pad of pads) {
        // Odd and even sizes, never square, so height and width mix-ups show.
        for (const [height, width] of [
          [9, 11],
          [12, 10],
        ]) {
          out.push({ stride, kernel, pad, height, width });
        }
      }
    }
  }
  // Beyond ResNet: stride 3, even kernels, pads larger than the kernel, asymmetric pads.
  out.push(
    { stride: 3, kernel: 2, pad: 'same', height: 10, width: 11 },
    { stride: 2, kernel: 4, pad: 3, height: 9, width: 8 },
    { stride: 1, kernel: 1, pad: 1, height: 7, width: 6 },
    { stride: 2, kernel: 3, pad: [[0, 0], [0, 2], [1, 0], [0, 0]], height: 9, width: 10 },
    { stride: 3, kernel: 3, pad: [[0, 0], [4, 1], [2, 5], [0, 0]], height: 8, width: 9 },
  );
  return out;
}

function maxAbs(a: Float32Array): number {
  let m = 0;
  for (const v of a) m = Math.max(m, Math.abs(v));
  return m;
}

const label = (c: Case) =>
  `batch ${c.channels[0]}, ${c.channels[1]} -> ${c.channels[2]} channels, stride ${c.stride}, ${c.kernel}x${c.kernel}, pad ${JSON.stringify(c.pad)}, ${c.height}x${c.width}`;

/** Both weight and input gradients of one conv2d through the registered kernels. */
function backprops(c: Case): { dw: Float32Array; dx: Float32Array } {
  return tf.tidy(() => {
    const [n, cin, cout] = c.channels;
    const xShape: [number, number, number, number] = [n, c.height, c.width, cin];
    const wShape: [number, number, number, number] = [c.kernel, c.kernel, cin, cout];
    const x = tf.tensor4d(seeded(sizeOf(xShape), 1), xShape);
    const w = tf.tensor4d(seeded(sizeOf(wShape), 2), wShape);
    const yShape = tf.conv2d(x, w, c.stride, c.pad).shape;
    const dy = tf.tensor4d(seeded(sizeOf(yShape), 3), yShape);
    const common = { strides: c.stride, pad: c.pad, dataFormat: 'NHWC' } as unknown as tf.NamedAttrMap;
    const dw = tf.engine().runKernel('Conv2DBackpropFilter', { x, dy }, { ...common, filterShape: wShape }) as tf.Tensor;
    const dx = tf.engine().runKernel('Conv2DBackpropInput', { dy, filter: w }, { ...common, inputShape: xShape }) as tf.Tensor;
    return { dw: dw.dataSync() as Float32Array, dx: dx.dataSync() as Float32Array };
  });
}

describeEachBackend('Conv2DBackpropFilter / Conv2DBackpropInput training kernels', (backend) => {
  it.each(cases().map((c) => [label(c), c] as const))('match the stock cpu kernels: %s', async (_name, c) => {
    const ref = await onStockCpu(() => backprops(c));
    const before = tf.memory().numTensors;
    const dataIds = tf.backend().numDataIds(); // the kernels free their scratch tensors
    const got = backprops(c);
    expect(tf.memory().numTensors).toBe(before);
    expect(tf.backend().numDataIds()).toBe(dataIds);
    expect(tf.getBackend()).toBe(backend);
    expect(got.dw.length).toBe(ref.dw.length);
    expect(got.dx.length).toBe(ref.dx.length);
    // float32 sums in another order: the whole array within 1e-5, and every element within
    // 1e-5 of the largest one (elements near 0 carry only absolute rounding error).
    expect(relativeNormError(got.dw, ref.dw)).toBeLessThan(1e-5);
    expect(relativeNormError(got.dx, ref.dx)).toBeLessThan(1e-5);
    expect(maxRelativeError(got.dw, ref.dw, maxAbs(ref.dw))).toBeLessThan(1e-5);
    expect(maxRelativeError(got.dx, ref.dx, maxAbs(ref.dx))).toBeLessThan(1e-5);
  });

  it('gives tf.grads of a strided, padded conv2d the stock gradients (batch 3, channels 4 -> 6)', async () => {
    const run = () =>
      tf.tidy(() => {
        const x = tf.tensor4d(seeded(3 * 13 * 12 * 4, 4), [3, 13, 12, 4]);
        const w = tf.tensor4d(seeded(3 * 3 * 4 * 6, 5), [3, 3, 4, 6]);
        const f = (a: tf.Tensor, b: tf.Tensor) =>
          tf.sum(tf.square(tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, 2, [[0, 0], [1, 1], [1, 1], [0, 0]])));
        const [dx, dw] = tf.grads(f)([x, w]);
        return [dx.dataSync() as Float32Array, dw.dataSync() as Float32Array];
      });
    const ref = await onStockCpu(run);
    const got = run();
    expect(relativeNormError(got[0], ref[0])).toBeLessThan(1e-5);
    expect(relativeNormError(got[1], ref[1])).toBeLessThan(1e-5);
  });

  it('reports a dy that does not fit the convolution', () => {
    const x = tf.zeros([1, 8, 8, 2]);
    const dy = tf.zeros([1, 5, 5, 3]);
    expect(() =>
      tf.engine().runKernel('Conv2DBackpropFilter', { x, dy }, {
        strides: 1,
        pad: 'same',
        dataFormat: 'NHWC',
        filterShape: [3, 3, 2, 3],
      } as unknown as tf.NamedAttrMap),
    ).toThrow(/dy has shape \[1,5,5,3\]/);
    tf.dispose([x, dy]);
  });
});

describe('Conv2DBackpropFilter with NCHW on cpu', () => {
  it('goes to the stock cpu kernel, which supports that layout', async () => {
    await initBackend({ backend: 'cpu', log: null });
    const run = () =>
      tf.tidy(() => {
        const x = tf.tensor4d(seeded(2 * 3 * 6 * 5, 21), [2, 3, 6, 5]);
        const dy = tf.tensor4d(seeded(2 * 4 * 6 * 5, 22), [2, 4, 6, 5]);
        const attrs = { strides: 1, pad: 'same', dataFormat: 'NCHW', filterShape: [3, 3, 3, 4] };
        const dw = tf.engine().runKernel('Conv2DBackpropFilter', { x, dy }, attrs as unknown as tf.NamedAttrMap) as tf.Tensor;
        return dw.dataSync() as Float32Array;
      });
    const ref = await onStockCpu(run);
    expect(Array.from(run())).toEqual(Array.from(ref));
  });
});
