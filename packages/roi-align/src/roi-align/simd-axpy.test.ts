import * as tf from '@tensorflow/tfjs-core';
import { describeEachBackend } from '@scrl/testing';
import { isWasmMemory, scratchMemory, simdKernels, TAP_BYTES } from './simd-axpy';

const f = Math.fround;

describe('WebAssembly SIMD axpy', () => {
  const memory = scratchMemory(1 << 16);
  const simd = memory && simdKernels(memory);

  it('is available in Node 20', () => {
    expect(memory).not.toBeNull();
    expect(simd).not.toBeNull();
  });

  it('axpy computes dst += w * src in float32, for every remainder length', () => {
    for (const n of [0, 1, 3, 4, 5, 8, 37, 2048]) {
      const heap = new Float32Array(memory!.buffer, 0, 2 * n + 8);
      for (let i = 0; i < heap.length; i++) heap[i] = Math.sin(i + n);
      const expected = Array.from(heap.subarray(n + 1, 2 * n + 1), (d, i) => f(d + f(f(0.75) * heap[i])));
      // Unaligned destination (offset n + 1 floats) on purpose.
      simd!.axpy(4 * (n + 1), 0, 0.75, n);
      expect(Array.from(heap.subarray(n + 1, 2 * n + 1))).toEqual(expected);
      // The float after the range is untouched.
      expect(heap[2 * n + 1]).toBe(f(Math.sin(2 * n + 1 + n)));
    }
  });

  it('axpyTaps applies a batch of (dst, src, w) taps in order, repeated destinations included', () => {
    const n = 13;
    const heap = new Float32Array(memory!.buffer, 0, 8 * n);
    for (let i = 0; i < heap.length; i++) heap[i] = Math.cos(i);
    const expected = Float32Array.from(heap);
    // Taps: rows 4..7 are destinations, rows 0..3 sources (row = n floats).
    const taps: Array<[number, number, number]> = [[4, 0, 0.5], [5, 1, -2], [4, 2, 0.25], [7, 3, 1.5], [4, 0, 3]];
    for (const [d, s, w] of taps) {
      for (let i = 0; i < n; i++) expected[d * n + i] = f(expected[d * n + i] + f(f(w) * expected[s * n + i]));
    }
    const buffer = 4 * 8 * n;
    const ints = new Int32Array(memory!.buffer, buffer, 3 * taps.length);
    const floats = new Float32Array(memory!.buffer, buffer, 3 * taps.length);
    taps.forEach(([d, s, w], j) => {
      ints[3 * j] = 4 * d * n;
      ints[3 * j + 1] = 4 * s * n;
      floats[3 * j + 2] = w;
    });
    expect(TAP_BYTES).toBe(12);
    simd!.axpyTaps(buffer, taps.length, n);
    expect(Array.from(heap)).toEqual(Array.from(expected));
    simd!.axpyTaps(buffer, 0, n); // an empty batch is a no-op
    expect(Array.from(heap)).toEqual(Array.from(expected));
  });
});

describeEachBackend('wasm heap', (backend) => {
  it('is reachable for the in-place SIMD path (memory and allocator)', () => {
    const b = tf.backend() as unknown as { wasm?: { asm?: { memory?: unknown }; _malloc?: unknown; _free?: unknown } };
    expect(isWasmMemory(b.wasm?.asm?.memory)).toBe(backend === 'wasm');
    expect(typeof b.wasm?._malloc === 'function' && typeof b.wasm?._free === 'function').toBe(backend === 'wasm');
  });
});
