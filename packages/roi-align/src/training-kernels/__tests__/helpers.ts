/** Test helpers for the training kernels: seeded data and the stock-cpu reference. */
import * as tf from '@tensorflow/tfjs-core';
import { withStockKernels } from '../registry';

/** Deterministic values in [-0.5, 0.5) from a 32-bit LCG (the same on every run). */
export function seeded(size: number, seed: number): Float32Array {
  const out = new Float32Array(size);
  let s = (seed * 2654435761) >>> 0;
  for (let i = 0; i < size; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = s / 4294967296 - 0.5;
  }
  return out;
}

/** Product of a shape's dimensions. */
export function sizeOf(shape: number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

/**
 * Runs `fn` on the cpu backend with TF.js's stock cpu kernels (ours swapped out), then switches
 * back to the backend under test. `fn` must create its own tensors and return plain arrays.
 */
export async function onStockCpu<T>(fn: () => T): Promise<T> {
  const previous = tf.getBackend();
  await tf.setBackend('cpu');
  try {
    return withStockKernels(fn);
  } finally {
    await tf.setBackend(previous);
  }
}
