/**
 * RoIAlign parity in the browser (issue 16, item 2): the webgl and webgpu kernels (and wasm,
 * cpu) against torchvision's fixtures, the same file and tolerance as the Node tests
 * (packages/roi-align/src/roi-align/roi-align.test.ts). parity.html?backends=webgl,webgpu runs
 * them and leaves the result in `window.parityResult` and on the page.
 */
import { BACKENDS, type BrowserBackend, useBackend } from './backends';
import * as tf from '@tensorflow/tfjs-core';
import { roiAlign } from '@scrl/roi-align';

interface FixtureCase {
  name: string;
  seed: number;
  inputShape: [number, number, number, number];
  boxes: number[][];
  boxIndices: number[];
  outputSize: [number, number];
  spatialScale: number;
  samplingRatio: number;
  aligned: boolean;
  forward: string;
  gradInput: string;
}

export interface BackendParity {
  backend: string;
  started: boolean;
  kernel: boolean;
  cases: number;
  failures: string[];
  worstForward: number;
  worstGrad: number;
  leakedTensors: number;
}

const TOL = 1e-4;

function decodeFloat32(b64: string): Float32Array {
  const text = atob(b64);
  const bytes = new Uint8Array(text.length);
  for (let i = 0; i < text.length; i++) bytes[i] = text.charCodeAt(i);
  return new Float32Array(bytes.buffer);
}

/** The fixture script's mulberry32 `uniform` (fixtures.test-util.ts). */
function uniform(seed: number, count: number): Float32Array {
  let a = seed | 0;
  const out = new Float32Array(count);
  for (let i = 0; i < count; i++) {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    const u = (t ^ (t >>> 14)) >>> 0;
    out[i] = (u >>> 8) / 4194304 - 2;
  }
  return out;
}

/** Max relative error with a floor of 1e-2, and the relative norm error: the Node tests' measure. */
function parityError(actual: ArrayLike<number>, expected: ArrayLike<number>): number {
  if (actual.length !== expected.length) return Infinity;
  let worst = 0;
  let num = 0;
  let den = 0;
  for (let i = 0; i < actual.length; i++) {
    const d = Math.abs(actual[i] - expected[i]);
    if (!Number.isFinite(actual[i])) return Infinity;
    worst = Math.max(worst, d / Math.max(Math.abs(expected[i]), 1e-2));
    num += d * d;
    den += expected[i] * expected[i];
  }
  return Math.max(worst, Math.sqrt(num / Math.max(den, 1e-30)));
}

async function runBackend(backend: BrowserBackend, fixture: { gradSeedOffset: number; cases: FixtureCase[] }): Promise<BackendParity> {
  const r: BackendParity = { backend, started: false, kernel: false, cases: 0, failures: [], worstForward: 0, worstGrad: 0, leakedTensors: 0 };
  r.started = await useBackend(backend);
  if (!r.started) return r;
  r.kernel = tf.getKernel('RoiAlign', backend) != null && tf.getKernel('RoiAlignGrad', backend) != null;
  const before = tf.memory().numTensors;
  for (const c of fixture.cases) {
    const [n, h, w, ch] = c.inputShape;
    const [ph, pw] = c.outputSize;
    const k = c.boxIndices.length;
    const x = tf.tensor4d(uniform(c.seed, n * h * w * ch), c.inputShape);
    const boxes = tf.tensor2d(c.boxes.flat(), [k, 4]);
    const boxIndices = tf.tensor1d(c.boxIndices, 'int32');
    const dy = tf.tensor4d(uniform(c.seed + fixture.gradSeedOffset, k * ph * pw * ch), [k, ph, pw, ch]);
    const opts = { spatialScale: c.spatialScale, samplingRatio: c.samplingRatio, aligned: c.aligned };
    const pool = (v: tf.Tensor) => roiAlign(v as tf.Tensor4D, boxes as tf.Tensor2D, boxIndices as tf.Tensor1D, c.outputSize, opts);
    const out = pool(x);
    // d/dx of sum(pool(x) * dy), with dy passed as the upstream gradient (WebGL's stock sum
    // fails on the fixture's empty-box case, and the product-sum adds nothing to the check).
    const dx = tf.grad(pool)(x, dy);
    const fwd = parityError(await out.data(), decodeFloat32(c.forward));
    const grad = parityError(await dx.data(), decodeFloat32(c.gradInput));
    tf.dispose([x, boxes, boxIndices, dy, out, dx]);
    r.cases++;
    r.worstForward = Math.max(r.worstForward, fwd);
    r.worstGrad = Math.max(r.worstGrad, grad);
    if (!(fwd < TOL && grad < TOL)) r.failures.push(`${c.name}: forward ${fwd.toExponential(2)}, gradient ${grad.toExponential(2)}`);
  }
  r.leakedTensors = tf.memory().numTensors - before;
  return r;
}

async function main(): Promise<void> {
  const params = new URLSearchParams(location.search);
  const wanted = (params.get('backends') ?? 'webgl,webgpu').split(',').filter((b): b is BrowserBackend => (BACKENDS as readonly string[]).includes(b));
  const fixture = await (await fetch('roi_align.json')).json();
  const results: BackendParity[] = [];
  const log = document.getElementById('log') as HTMLElement;
  for (const b of wanted) {
    const r = await runBackend(b, fixture);
    results.push(r);
    log.textContent += `${JSON.stringify(r)}\n`;
  }
  (window as unknown as { parityResult: unknown }).parityResult = { torchvision: fixture.torchvision, results };
}

main().catch((err) => {
  (window as unknown as { parityResult: unknown }).parityResult = { error: String(err?.stack ?? err) };
});
