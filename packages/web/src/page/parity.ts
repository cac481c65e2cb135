/**
 * RoIAlign parity in the browser (issue 16, item 2): the webgl and webgpu kernels (and wasm,
 * cpu) against torchvision's fixtures, the same file and tolerance as the Node tests
 * (packages/roi-align/src/roi-align/roi-align.test.ts). parity.html?backends=webgl,webgpu runs
 * them and leaves the result in `window.parityResult` and on the page.
 */
import { BACKENDS, type BrowserBackend, useBackend } from './backends';
import * as tf from '@tensorflow/tfjs-core';
import { roiAlign } from '@scrl/roi-align';
// The fixture format and decoding the Node parity tests use (a test utility of @scrl/roi-align's
// sources, not part of its published surface, hence the relative path into that project).
// eslint-disable-next-line @nx/enforce-module-boundaries
import {
  decodeFloat32,
  type RoiAlignFixtureCase as FixtureCase,
  uniform,
} from '../../../roi-align/src/roi-align/fixture-format.test-util';

export interface BackendParity {
  backend: string;
  started: boolean;
  kernel: boolean;
  cases: number;
  failures: string[];
  worstForward: number;
  worstGrad: number;
  leakedTensors: number;
  /** A case larger than the fixtures (WebGPU's dispatch is folded into 2-D past 65535 groups): error against the cpu kernel. */
  large: { shape: number[]; boxes: number; forward: number; grad: number } | null;
}

const TOL = 1e-4;

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
  const r: BackendParity = {
    backend,
    started: false,
    kernel: false,
    cases: 0,
    failures: [],
    worstForward: 0,
    worstGrad: 0,
    leakedTensors: 0,
    large: null,
  };
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
  r.large = await largeCase(backend);
  if (r.large && !(r.large.forward < TOL && r.large.grad < TOL)) {
    r.failures.push(`large case ${r.large.shape.join('x')}: forward ${r.large.forward.toExponential(2)}, gradient ${r.large.grad.toExponential(2)}`);
  }
  return r;
}

/**
 * 4.26 M outputs of the gradient (more than 65535 workgroups of 64 on WebGPU), 24 boxes over
 * two images, stride-4 spatial scale, adaptive sampling: `backend` against the cpu kernel.
 */
async function largeCase(backend: BrowserBackend): Promise<BackendParity['large']> {
  const shape: [number, number, number, number] = [2, 64, 64, 520];
  const K = 24;
  const boxes: number[] = [];
  const seeds = uniform(77, 4 * K);
  for (let k = 0; k < K; k++) {
    const x1 = (seeds[4 * k] + 2) * 60;
    const y1 = (seeds[4 * k + 1] + 2) * 60;
    boxes.push(x1, y1, x1 + 8 + (seeds[4 * k + 2] + 2) * 16, y1 + 8 + (seeds[4 * k + 3] + 2) * 16);
  }
  const boxIndices = Array.from({ length: K }, (_, k) => k % 2);
  const xs = uniform(78, shape.reduce((a, b) => a * b, 1));
  const dys = uniform(79, K * 7 * 7 * shape[3]);
  const run = async (b: BrowserBackend) => {
    if (!(await useBackend(b))) throw new Error(`${b} did not start`);
    const x = tf.tensor4d(xs, shape);
    const bx = tf.tensor2d(boxes, [K, 4]);
    const bi = tf.tensor1d(boxIndices, 'int32');
    const dy = tf.tensor4d(dys, [K, 7, 7, shape[3]]);
    const pool = (v: tf.Tensor) => roiAlign(v as tf.Tensor4D, bx as tf.Tensor2D, bi as tf.Tensor1D, 7, { spatialScale: 0.25, samplingRatio: -1, aligned: true });
    const out = pool(x);
    const dx = tf.grad(pool)(x, dy);
    const values = { out: await out.data(), dx: await dx.data() };
    tf.dispose([x, bx, bi, dy, out, dx]);
    return values;
  };
  const ref = await run('cpu');
  const got = await run(backend);
  return { shape, boxes: K, forward: parityError(got.out, ref.out), grad: parityError(got.dx, ref.dx) };
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
