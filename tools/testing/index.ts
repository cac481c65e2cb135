/**
 * Test helpers shared by every package (mapped as `@scrl/testing` in jest.preset.js; not published).
 */
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '@scrl/roi-align';

/** Backends every tensor spec runs on here. Override with SCRL_TEST_BACKENDS=cpu,wasm. */
export const TEST_BACKENDS: string[] = (process.env.SCRL_TEST_BACKENDS ?? 'cpu,wasm')
  .split(',')
  .map((s) => s.trim())
  .filter(Boolean);

/**
 * Runs the same spec on each test backend, as TF.js's own tests do: `describe` per backend,
 * with the backend activated before the specs. It does not check for leaked tensors: specs
 * that care wrap their code in {@link expectNoLeak} (or compare `tf.memory().numTensors`).
 */
export function describeEachBackend(
  name: string,
  body: (backend: string) => void,
  options: {
    /**
     * Restricts the spec to these backends (intersected with TEST_BACKENDS). For specs whose
     * cost on the pure-JS cpu backend (30-70x slower convolutions than wasm) would dominate the
     * suite; `SCRL_TEST_ALL_BACKENDS=1` lifts the restriction.
     */
    only?: string[];
  } = {},
): void {
  const all = process.env.SCRL_TEST_ALL_BACKENDS === '1';
  const backends = options.only && !all ? TEST_BACKENDS.filter((b) => options.only?.includes(b)) : TEST_BACKENDS;
  for (const backend of backends) {
    describe(`${name} [${backend}]`, () => {
      beforeAll(async () => {
        await initBackend({ backend, log: null });
      });
      body(backend);
    });
  }
}

/** Largest |a - b| / max(|b|, floor) over all elements; floor keeps tiny values from dominating. */
export function maxRelativeError(actual: ArrayLike<number>, expected: ArrayLike<number>, floor = 1e-3): number {
  if (actual.length !== expected.length) {
    throw new Error(`length mismatch: ${actual.length} vs ${expected.length}`);
  }
  let worst = 0;
  for (let i = 0; i < actual.length; i++) {
    const err = Math.abs(actual[i] - expected[i]) / Math.max(Math.abs(expected[i]), floor);
    if (!(err <= worst)) worst = Number.isNaN(err) ? Infinity : err;
  }
  return worst;
}

/** Relative error of whole arrays: ||a - b|| / ||b|| (robust where single elements are near 0). */
export function relativeNormError(actual: ArrayLike<number>, expected: ArrayLike<number>): number {
  if (actual.length !== expected.length) {
    throw new Error(`length mismatch: ${actual.length} vs ${expected.length}`);
  }
  let num = 0;
  let den = 0;
  for (let i = 0; i < actual.length; i++) {
    const d = actual[i] - expected[i];
    num += d * d;
    den += expected[i] * expected[i];
  }
  if (Number.isNaN(num)) return Infinity;
  return den === 0 ? Math.sqrt(num) : Math.sqrt(num / den);
}

/** Counts tensors before and after `fn`, failing if `fn` leaks. */
export async function expectNoLeak<T>(fn: () => T | Promise<T>): Promise<T> {
  const before = tf.memory().numTensors;
  const out = await fn();
  const after = tf.memory().numTensors;
  if (after !== before) throw new Error(`leaked ${after - before} tensors`);
  return out;
}

export { describeReadmeExamples, readmeBlocks, runReadmeBlock } from './readme';
export type { ReadmeBlock } from './readme';
