import * as tf from '@tensorflow/tfjs-core';
import '../index';
import { registerTrainingKernels, TRAINING_KERNELS, withStockKernels } from './registry';

describe('training kernel registration', () => {
  const current = () => TRAINING_KERNELS.map((k) => tf.getKernel(k.kernelName, k.backendName));

  it('registers every listed kernel', () => {
    for (const k of TRAINING_KERNELS) {
      expect(tf.getKernel(k.kernelName, k.backendName)).toBeDefined();
    }
  });

  it('is idempotent: registering again changes nothing and logs no warning', () => {
    const prod = tf.env().getBool('PROD');
    const isTest = tf.env().getBool('IS_TEST');
    tf.env().set('PROD', false);
    tf.env().set('IS_TEST', false);
    const warn = jest.spyOn(console, 'warn').mockImplementation(() => undefined);
    try {
      const before = current();
      registerTrainingKernels();
      registerTrainingKernels();
      expect(current()).toEqual(before);
      expect(warn).not.toHaveBeenCalled();
    } finally {
      warn.mockRestore();
      tf.env().set('PROD', prod);
      tf.env().set('IS_TEST', isTest);
    }
  });

  it('withStockKernels swaps in the stock kernels and restores ours, also after a throw', async () => {
    const ours = current();
    const replaced = TRAINING_KERNELS.filter((k) => k.action === 'replaces');
    expect(replaced.length).toBeGreaterThan(0);
    withStockKernels(() => {
      for (const k of replaced) {
        const i = TRAINING_KERNELS.indexOf(k);
        expect(tf.getKernel(k.kernelName, k.backendName)).not.toBe(ours[i]);
      }
      for (const k of TRAINING_KERNELS.filter((t) => t.action === 'adds')) {
        expect(tf.getKernel(k.kernelName, k.backendName)).toBe(ours[TRAINING_KERNELS.indexOf(k)]);
      }
    });
    expect(current()).toEqual(ours);
    withStockKernels(() => {
      for (const k of TRAINING_KERNELS) {
        const i = TRAINING_KERNELS.indexOf(k);
        const swapped = k.kernelName === 'Tile' && k.action === 'replaces';
        expect(tf.getKernel(k.kernelName, k.backendName) === ours[i]).toBe(!swapped);
      }
    }, ['Tile']);
    expect(current()).toEqual(ours);
    expect(() =>
      withStockKernels(() => {
        throw new Error('boom');
      }),
    ).toThrow('boom');
    expect(current()).toEqual(ours);
    await expect(withStockKernels(async () => Promise.reject(new Error('later')))).rejects.toThrow('later');
    expect(current()).toEqual(ours);
  });
});
