import * as tf from '@tensorflow/tfjs-core';
import { describeEachBackend } from '@scrl/testing';
import { isWasmMemory, scratchMemory, simdAxpy } from './simd_axpy';

describe('SIMD axpy', () => {
  it('computes dst += w * src in float32, for every remainder length', () => {
    const memory = scratchMemory(1 << 16);
    expect(memory).not.toBeNull();
    const axpy = simdAxpy(memory!);
    expect(axpy).not.toBeNull();
    for (const n of [0, 1, 3, 4, 5, 8, 37, 2048]) {
      const heap = new Float32Array(memory!.buffer, 0, 2 * n + 8);
      for (let i = 0; i < heap.length; i++) heap[i] = Math.sin(i + n);
      const f = Math.fround;
      const expected = Array.from(heap.subarray(n + 1, 2 * n + 1), (d, i) => f(d + f(f(0.75) * heap[i])));
      // Unaligned destination (offset n + 1 floats) on purpose.
      axpy!(4 * (n + 1), 0, 0.75, n);
      expect(Array.from(heap.subarray(n + 1, 2 * n + 1))).toEqual(expected);
      // The floats after the range are untouched.
      expect(heap[2 * n + 1]).toBe(Math.fround(Math.sin(2 * n + 1 + n)));
    }
  });
});

describeEachBackend('wasm heap', (backend) => {
  it('is reachable for the in-place SIMD path', () => {
    const b = tf.backend() as unknown as { wasm?: { asm?: { memory?: unknown } } };
    expect(isWasmMemory(b.wasm?.asm?.memory)).toBe(backend === 'wasm');
  });
});
