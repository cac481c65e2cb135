/**
 * PyTorch's `GroupNorm` over NHWC data (channels last, batch first) as one forward and one
 * backward kernel on the backends whose tensors live in host memory (cpu, wasm), in place of the
 * ~86 kernel calls of its tensor-op definition and their gradients. Per image n and group g of
 * `per = C / groups` consecutive channels, over the H·W·per values of the group (float64 sums):
 *
 * ```
 * forward:  mean = Σx / M,  var = Σx² / M − mean²  (biased),  rstd = 1 / sqrt(var + eps)
 *           α = γ · rstd,  y = x · α + (β − mean · α)   per channel, α and β − mean · α in float32 and y in float32 arithmetic
 * backward: x̂ = (x − mean) · rstd,  dβ = Σ_n Σ dy,  dγ = Σ_n Σ dy · x̂   (per channel)
 *           dx = rstd · (γ · dy − Σ_g γ·dy / M − x̂ · Σ_g γ·dy·x̂ / M)   (Σ_g: over the group's values)
 * ```
 *
 * Internal: @scrl/eval's `groupNorm` (the FCOS head) uses it through {@link fusedGroupNorm}.
 */
import * as tf from '@tensorflow/tfjs-core';
import {
  affine,
  anyNonFinite,
  canonicaliseNaN,
  gradientSums,
  HOST_BACKENDS,
  hostBuffers,
  inputGradient,
  sizeOf,
  sumsOfXAndSquares,
  type HostBackend,
} from './host-norm-loops';
import type { HeapNormLoops } from './norm-simd';

type TensorInfo = tf.TensorInfo;

/** Forward: inputs x, scale (γ), offset (β); attrs groups, epsilon. Outputs y and stats (mean, rstd per image and group). */
export const GROUP_NORM = 'ScrlGroupNorm';
/** Backward: inputs dy, x, scale, stats; attr groups. Outputs dx, dscale, doffset. */
export const GROUP_NORM_GRAD = 'ScrlGroupNormGrad';

interface Geometry {
  /** Images (the first axis). */
  n: number;
  /** Values per image. */
  m: number;
  C: number;
  groups: number;
  per: number;
}

function geometry(kernelName: string, x: TensorInfo, groups: number): Geometry {
  const C = x.shape[x.shape.length - 1];
  if (x.shape.length < 2) throw new Error(`${kernelName}: x must have a batch and a channel axis, got shape [${x.shape}].`);
  if (!Number.isInteger(groups) || groups < 1 || C % groups !== 0) {
    throw new Error(`${kernelName}: groups must be a positive divisor of the ${C} channels, got ${groups}.`);
  }
  const n = x.shape[0];
  return { n, m: n === 0 ? 0 : sizeOf(x.shape) / n, C, groups, per: C / groups };
}

function groupNormForward(args: { inputs: tf.NamedTensorInfoMap; backend: tf.KernelBackend; attrs: tf.NamedAttrMap }): TensorInfo[] {
  const { x, scale, offset } = args.inputs as Record<string, TensorInfo>;
  const eps = args.attrs.epsilon as number;
  const { n, m, C, groups, per } = geometry(GROUP_NORM, x, args.attrs.groups as number);
  const { outputs, views, simd, release } = hostBuffers(GROUP_NORM, args.backend as HostBackend, [x, scale, offset], [x.shape, [2 * n * groups]], C);
  try {
    forward(views, { n, m, C, groups, per }, eps, simd);
  } finally {
    release();
  }
  return outputs;
}

/** The forward on the views [x, γ, β, y, stats]. */
function forward(views: Float32Array[], { n, m, C, groups, per }: Geometry, eps: number, simd: HeapNormLoops | null): void {
  const [xv, gamma, beta, y, stats] = views;
  const count = (m / C) * per;
  const sums = new Float64Array(2 * C);
  const a = new Float64Array(C);
  const b = new Float64Array(C);
  for (let img = 0; img < n; img++) {
    const xs = xv.subarray(img * m, (img + 1) * m);
    const ys = y.subarray(img * m, (img + 1) * m);
    if (simd) simd.sums(xs, sums);
    else sumsOfXAndSquares(xs, C, sums);
    for (let g = 0; g < groups; g++) {
      let s = 0;
      let q = 0;
      for (let c = g * per; c < (g + 1) * per; c++) {
        s += sums[c];
        q += sums[C + c];
      }
      const mean = s / count;
      const rstd = 1 / Math.sqrt(Math.max(0, q / count - mean * mean) + eps);
      // The affine terms in float32, as ATen computes them, and y = x · α + β' in float32.
      for (let c = g * per; c < (g + 1) * per; c++) {
        a[c] = Math.fround(rstd * gamma[c]);
        b[c] = Math.fround(beta[c] - mean * a[c]);
      }
      stats[img * groups + g] = mean;
      stats[(n + img) * groups + g] = rstd;
    }
    // A non-finite x makes its group's statistics non-finite, so checking a and b finds it; the
    // NaNs are rewritten as positive NaNs, which wasm's ReLU keeps (see canonicaliseNaN).
    if (anyNonFinite(a, b)) {
      affine(xs, ys, C, a, b, false);
      canonicaliseNaN(ys);
    } else if (simd) {
      simd.affine(xs, ys, a, b, false);
    } else {
      affine(xs, ys, C, a, b, false);
    }
  }
}

function groupNormBackward(args: { inputs: tf.NamedTensorInfoMap; backend: tf.KernelBackend; attrs: tf.NamedAttrMap }): TensorInfo[] {
  const { dy, x, scale, stats } = args.inputs as Record<string, TensorInfo>;
  const { n, m, C, groups, per } = geometry(GROUP_NORM_GRAD, x, args.attrs.groups as number);
  const { outputs, views, simd, release } = hostBuffers(GROUP_NORM_GRAD, args.backend as HostBackend, [dy, x, scale, stats], [x.shape, [C], [C]], C);
  try {
    backward(views, { n, m, C, groups, per }, simd);
  } finally {
    release();
  }
  return outputs;
}

/** The backward on the views [dy, x, γ, stats, dx, dγ, dβ]. */
function backward(views: Float32Array[], { n, m, C, groups, per }: Geometry, simd: HeapNormLoops | null): void {
  const [dyv, xv, gamma, st, dx, dGamma, dBeta] = views;
  const count = (m / C) * per;
  const sums = new Float64Array(2 * C);
  const mean = new Float64Array(C);
  const p = new Float64Array(C);
  const q = new Float64Array(C);
  const r = new Float64Array(C);
  const dg = new Float64Array(C);
  const db = new Float64Array(C);
  let nonFinite = false;
  for (let img = 0; img < n; img++) {
    const lo = img * m;
    for (let c = 0; c < C; c++) mean[c] = st[img * groups + Math.floor(c / per)];
    // Σdy and Σdy·(x − mean) per channel.
    const dys = dyv.subarray(lo, lo + m);
    const xs = xv.subarray(lo, lo + m);
    if (simd) simd.gradientSums(dys, xs, mean, sums, null);
    else gradientSums(dys, xs, C, mean, sums);
    for (let g = 0; g < groups; g++) {
      const mu = st[img * groups + g];
      const rstd = st[(n + img) * groups + g];
      let sumDxhat = 0; // Σ γ·dy over the group
      let sumDxhatXhat = 0; // Σ γ·dy·x̂ over the group
      for (let c = g * per; c < (g + 1) * per; c++) {
        db[c] += sums[c];
        dg[c] += rstd * sums[C + c];
        sumDxhat += gamma[c] * sums[c];
        sumDxhatXhat += gamma[c] * rstd * sums[C + c];
      }
      const k = (rstd * rstd * sumDxhatXhat) / count; // coefficient of (x − mean)
      for (let c = g * per; c < (g + 1) * per; c++) {
        p[c] = rstd * gamma[c];
        q[c] = -k;
        r[c] = k * mu - (rstd * sumDxhat) / count;
      }
    }
    const dxs = dx.subarray(lo, lo + m);
    if (simd) simd.inputGradient(dys, xs, dxs, p, q, r);
    else inputGradient(dys, xs, dxs, C, p, q, r);
    if (anyNonFinite(p, q, r)) {
      canonicaliseNaN(dxs);
      nonFinite = true;
    }
  }
  dGamma.set(dg);
  dBeta.set(db);
  if (nonFinite || anyNonFinite(dg, db)) {
    canonicaliseNaN(dGamma);
    canonicaliseNaN(dBeta);
  }
}

let registered = false;

/** Registers both kernels on cpu and wasm and the forward's gradient (idempotent). */
export function registerGroupNormKernels(): void {
  if (registered) return;
  registered = true;
  for (const backendName of HOST_BACKENDS) {
    for (const [kernelName, fn] of [
      [GROUP_NORM, groupNormForward],
      [GROUP_NORM_GRAD, groupNormBackward],
    ] as const) {
      // A second copy of this module (jest may load src/ and dist/) finds them registered.
      if (tf.getKernel(kernelName, backendName) == null) {
        tf.registerKernel({ kernelName, backendName, kernelFunc: fn as unknown as tf.KernelFunc });
      }
    }
  }
  if (tf.getGradient(GROUP_NORM) == null) {
    tf.registerGradient({
      kernelName: GROUP_NORM,
      inputsToSave: ['x', 'scale'],
      outputsToSave: [false, true],
      gradFunc: (dys: tf.Tensor | tf.Tensor[], saved: tf.Tensor[], attrs: tf.NamedAttrMap) => {
        const dy = (dys as tf.Tensor[])[0];
        const [x, scale, stats] = saved;
        // Computed here, not in the closures (see the BatchNorm kernel's gradient).
        const [dx, dScale, dOffset] = tf.engine().runKernel(GROUP_NORM_GRAD, { dy, x, scale, stats }, { groups: attrs.groups }) as tf.Tensor[];
        return { x: () => dx, scale: () => dScale, offset: () => dOffset };
      },
    });
  }
}

/** True where {@link fusedGroupNorm} runs: the current backend is cpu or wasm. */
export function fusedGroupNormAvailable(): boolean {
  return (HOST_BACKENDS as readonly string[]).includes(tf.getBackend());
}

/**
 * PyTorch's `GroupNorm(groups, C, eps)` on channels-last float32 `x` (batch first) with the
 * per-channel affine `scale`, `offset`, as one kernel (and one for its gradient) on cpu and wasm.
 */
export function fusedGroupNorm<T extends tf.Tensor>(x: T, groups: number, scale: tf.Tensor1D, offset: tf.Tensor1D, epsilon: number): T {
  if (!fusedGroupNormAvailable()) {
    throw new Error(`fusedGroupNorm: runs on the cpu and wasm backends only, not '${tf.getBackend()}' (use the tensor-op GroupNorm there).`);
  }
  registerGroupNormKernels();
  const [y, stats] = tf.engine().runKernel(GROUP_NORM, { x, scale, offset }, { groups, epsilon }) as tf.Tensor[];
  // Only the gradient needs the stats, and the tape keeps its own reference to them.
  stats.dispose();
  return y as T;
}
