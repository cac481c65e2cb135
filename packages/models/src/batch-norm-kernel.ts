/**
 * BatchNorm in training mode as one forward and one backward kernel on the backends whose
 * tensors live in host memory (cpu: typed arrays; wasm: views of the wasm heap), in place of the
 * dozen small ops of `tf.moments` + `tf.batchNorm` and their gradients. Per-channel sums are
 * accumulated in float64; the arithmetic is PyTorch's (`batch_norm_cpu` / its backward):
 *
 * ```
 * forward:  mean = Σx / N,  var = Σx² / N − mean²  (biased),  invstd = 1 / sqrt(var + eps)
 *           α = γ · invstd,  y = x · α + (β − mean · α)   (α, β − mean · α and x · α rounded to float32 as ATen does)
 *           running_mean ← (1 − m) · running_mean + m · mean
 *           running_var  ← (1 − m) · running_var  + m · var · N / (N − 1)   (unbiased)
 * backward: x̂ = (x − mean) · invstd,  dβ = Σdy,  dγ = Σdy·x̂
 *           dx = γ · invstd · (dy − Σdy / N − x̂ · Σdy·x̂ / N)
 * ```
 *
 * With the `relu` attribute the forward returns relu(y) and the backward first zeroes dy where
 * y ≤ 0 (y recomputed from x with the forward's float32 arithmetic, so the mask is the forward's):
 * BatchNorm + ReLU in one kernel each way instead of four (Relu; Step, Cast, Multiply).
 *
 * With a reducer installed (`setBatchNormReducer`, synchronised BatchNorm across replicas), the
 * forward reduces `[Σx (C), Σx² (C), N]` and the backward `[Σdy (C), Σdy·x̂ (C)]` before using
 * them, so the statistics, running statistics and `dx` are those of the whole batch; `dγ` and `dβ`
 * stay this replica's share (the replicas' parameter gradients are combined like every other
 * parameter's, as PyTorch's SyncBatchNorm does).
 *
 * Internal: `BatchNorm` in layers.ts uses it where {@link fusedBatchNormAvailable} says so.
 */
import * as tf from '@tensorflow/tfjs-core';
import { getBatchNormReducer } from './batch-norm-sync';
import {
  affine,
  affineRelu,
  anyNonFinite,
  canonicaliseNaN,
  gradientSums,
  HOST_BACKENDS,
  hostBuffers,
  type HostBackend,
  inputGradient,
  maskByRelu,
  maskByReluBits,
  sizeOf,
  sumsOfXAndSquares,
} from './host-norm-loops';
import type { HeapNormLoops } from './norm-simd';

type TensorInfo = tf.TensorInfo;

/** Forward: inputs x, scale (γ), offset (β), runningMean, runningVar; attrs epsilon, momentum, relu. */
export const BATCH_NORM_TRAINING = 'ScrlBatchNormTraining';
/** Backward: inputs dy, x, stats (the forward's fourth output); attr relu. */
export const BATCH_NORM_TRAINING_GRAD = 'ScrlBatchNormTrainingGrad';

/**
 * The stats output: mean (C), invstd (C), γ (C), the float32 affine terms α and β − mean · α
 * (C each), then the (reduced) count as two float32-exact halves. γ rides along so the tape saves
 * two tensors per BatchNorm (x and stats), not three: each saved tensor costs an Identity call.
 */
const STATS_COUNT = 5;
const COUNT_SPLIT = 2 ** 24;

function batchNormTrainingForward(args: { inputs: tf.NamedTensorInfoMap; backend: tf.KernelBackend; attrs: tf.NamedAttrMap }): TensorInfo[] {
  const { x, scale, offset, runningMean, runningVar } = args.inputs as Record<string, TensorInfo>;
  const eps = args.attrs.epsilon as number;
  const momentum = args.attrs.momentum as number;
  const C = x.shape[x.shape.length - 1];
  const total = sizeOf(x.shape);
  const { outputs, views, simd, release } = hostBuffers(
    BATCH_NORM_TRAINING,
    args.backend as HostBackend,
    [x, scale, offset, runningMean, runningVar],
    [x.shape, [C], [C], [STATS_COUNT * C + 2]],
    C,
  );
  try {
    forward(views, C, total, eps, momentum, args.attrs.relu === true, simd);
  } finally {
    release();
  }
  return outputs;
}

/** The forward on the views [x, γ, β, running mean, running var, y, new running mean, new running var, stats]. */
function forward(views: Float32Array[], C: number, total: number, eps: number, momentum: number, relu: boolean, simd: HeapNormLoops | null): void {
  const [xv, gamma, beta, rm, rv, y, newRm, newRv, stats] = views;
  const sums = new Float64Array(2 * C + 1);
  if (simd) simd.sums(xv, sums);
  else sumsOfXAndSquares(xv, C, sums);
  sums[2 * C] = total / C;
  const reducer = getBatchNormReducer();
  if (reducer) reducer(sums);
  const n = sums[2 * C];

  const a = new Float64Array(C);
  const b = new Float64Array(C);
  for (let c = 0; c < C; c++) {
    const mean = sums[c] / n;
    const variance = Math.max(0, sums[C + c] / n - mean * mean);
    const invstd = 1 / Math.sqrt(variance + eps);
    // ATen's float32 rounding of the affine terms (batch_norm_cpu_transform_input: mean and
    // invstd saved as float, alpha = invstd * w and beta = b - mean * alpha in float, then
    // y = x * alpha + beta in float), so a ReLU input near 0 lands where PyTorch's does.
    const mean32 = Math.fround(mean);
    a[c] = Math.fround(Math.fround(invstd) * gamma[c]);
    b[c] = Math.fround(beta[c] - Math.fround(mean32 * a[c]));
    newRm[c] = (1 - momentum) * rm[c] + momentum * mean;
    newRv[c] = (1 - momentum) * rv[c] + momentum * variance * (n / (n - 1));
    stats[c] = mean;
    stats[C + c] = invstd;
  }
  stats.set(gamma, 2 * C);
  stats.set(a, 3 * C);
  stats.set(b, 4 * C);
  stats[STATS_COUNT * C] = Math.floor(n / COUNT_SPLIT);
  stats[STATS_COUNT * C + 1] = n % COUNT_SPLIT;
  // A non-finite x makes its channel's mean or variance non-finite, so checking a and b finds it.
  const nonFinite = anyNonFinite(a, b);
  if (nonFinite) {
    affine(xv, y, C, a, b, relu);
    canonicaliseNaN(y);
  } else if (simd) {
    simd.affine(xv, y, a, b, relu);
  } else if (relu) {
    affineRelu(xv, y, new Int32Array(y.buffer, y.byteOffset, y.length), C, a, b);
  } else {
    affine(xv, y, C, a, b, false);
  }
}

function batchNormTrainingBackward(args: { inputs: tf.NamedTensorInfoMap; backend: tf.KernelBackend; attrs: tf.NamedAttrMap }): TensorInfo[] {
  const { dy, x, stats } = args.inputs as Record<string, TensorInfo>;
  const C = x.shape[x.shape.length - 1];
  const { outputs, views, simd, release } = hostBuffers(BATCH_NORM_TRAINING_GRAD, args.backend as HostBackend, [dy, x, stats], [x.shape, [C], [C]], C);
  try {
    backward(views, C, args.attrs.relu === true, simd);
  } finally {
    release();
  }
  return outputs;
}

/** The backward on the views [dy, x, stats, dx, dγ, dβ]. */
function backward(views: Float32Array[], C: number, relu: boolean, simd: HeapNormLoops | null): void {
  const [dyv, xv, st, dx, dGamma, dBeta] = views;
  const gamma = st.subarray(2 * C, 3 * C);

  // Σg and Σg·(x − mean), with g = dy (times the ReLU's mask, kept in dx until dx is computed);
  // the latter times invstd is Σg·x̂.
  const sums = new Float64Array(2 * C);
  const mean = Float64Array.from(st.subarray(0, C));
  const a = st.subarray(3 * C, 4 * C);
  const b = st.subarray(4 * C, 5 * C);
  if (relu && anyNonFinite(a, b)) {
    maskByRelu(dyv, xv, dx, C, a, b);
    gradientSums(dx, xv, C, mean, sums);
  } else if (simd) {
    simd.gradientSums(dyv, xv, mean, sums, relu ? { a, b, g: dx } : null);
  } else if (relu) {
    const bits = (v: Float32Array) => new Int32Array(v.buffer, v.byteOffset, v.length);
    maskByReluBits(bits(dyv), xv, dx, bits(dx), C, a, b);
    gradientSums(dx, xv, C, mean, sums);
  } else {
    gradientSums(dyv, xv, C, mean, sums);
  }
  for (let c = 0; c < C; c++) {
    sums[C + c] *= st[C + c];
    dBeta[c] = sums[c];
    dGamma[c] = sums[C + c];
  }
  const reducer = getBatchNormReducer();
  if (reducer) reducer(sums);
  const n = st[STATS_COUNT * C] * COUNT_SPLIT + st[STATS_COUNT * C + 1];

  // dx = p·dy + q·x + r per channel.
  const p = new Float64Array(C);
  const q = new Float64Array(C);
  const r = new Float64Array(C);
  for (let c = 0; c < C; c++) {
    const invstd = st[C + c];
    const k = invstd * gamma[c];
    const kx = (k * invstd * sums[C + c]) / n; // coefficient of (x − mean)
    p[c] = k;
    q[c] = -kx;
    r[c] = kx * mean[c] - (k * sums[c]) / n;
  }
  if (simd) simd.inputGradient(relu ? dx : dyv, xv, dx, p, q, r);
  else inputGradient(relu ? dx : dyv, xv, dx, C, p, q, r);
  if (anyNonFinite(p, q, r, sums)) canonicaliseNaN(dx);
}

let registered = false;

/** Registers both kernels on cpu and wasm and the forward's gradient (idempotent). */
export function registerBatchNormKernels(): void {
  if (registered) return;
  registered = true;
  for (const backendName of HOST_BACKENDS) {
    for (const [kernelName, fn] of [
      [BATCH_NORM_TRAINING, batchNormTrainingForward],
      [BATCH_NORM_TRAINING_GRAD, batchNormTrainingBackward],
    ] as const) {
      // A second copy of this module (jest may load src/ and dist/) finds them registered.
      if (tf.getKernel(kernelName, backendName) == null) {
        tf.registerKernel({ kernelName, backendName, kernelFunc: fn as unknown as tf.KernelFunc });
      }
    }
  }
  if (tf.getGradient(BATCH_NORM_TRAINING) == null) {
    tf.registerGradient({
      kernelName: BATCH_NORM_TRAINING,
      inputsToSave: ['x'],
      outputsToSave: [false, false, false, true],
      gradFunc: (dys: tf.Tensor | tf.Tensor[], saved: tf.Tensor[], attrs: tf.NamedAttrMap) => {
        const dy = (dys as tf.Tensor[])[0];
        const [x, stats] = saved;
        // Computed here, not in the closures below: the engine runs each closure in its own
        // tidy, which would dispose the two outputs the closure does not return. Here they are
        // in the gradient computation's scope, which frees the unused ones.
        const [dx, dScale, dOffset] = tf.engine().runKernel(BATCH_NORM_TRAINING_GRAD, { dy, x, stats }, { relu: attrs.relu === true }) as tf.Tensor[];
        return {
          x: () => dx,
          scale: () => dScale,
          offset: () => dOffset,
          // The running statistics are buffers: no gradient flows into them.
          runningMean: () => tf.zerosLike(dScale),
          runningVar: () => tf.zerosLike(dScale),
        };
      },
    });
  }
}

let fusedEnabled = true;

/**
 * Turns the fused training-mode BatchNorm kernels on (the default) or off. Off, BatchNorm runs as
 * `tf.moments` + `tf.batchNorm` on every backend: the reference path, kept for tests and
 * benchmarks, and what webgl/webgpu always use.
 */
export function setFusedBatchNorm(enabled: boolean): void {
  fusedEnabled = enabled;
}

/** True where training-mode BatchNorm runs as the fused kernels: enabled, on cpu or wasm. */
export function fusedBatchNormAvailable(): boolean {
  if (!fusedEnabled) return false;
  const backend = tf.getBackend();
  return (HOST_BACKENDS as readonly string[]).includes(backend) && tf.getKernel(BATCH_NORM_TRAINING, backend) != null;
}

/**
 * One training-mode BatchNorm over the last axis, followed by a ReLU with `relu`: returns the
 * output and the new running statistics (to be assigned by the caller; they carry no gradient).
 */
export function batchNormTraining(
  x: tf.Tensor,
  scale: tf.Tensor1D,
  offset: tf.Tensor1D,
  runningMean: tf.Tensor1D,
  runningVar: tf.Tensor1D,
  epsilon: number,
  momentum: number,
  relu: boolean,
): { y: tf.Tensor; runningMean: tf.Tensor1D; runningVar: tf.Tensor1D } {
  const [y, rm, rv, stats] = tf.engine().runKernel(
    BATCH_NORM_TRAINING,
    { x, scale, offset, runningMean, runningVar },
    { epsilon, momentum, relu },
  ) as tf.Tensor[];
  // Only the gradient needs the stats, and the tape keeps its own reference to them.
  stats.dispose();
  return { y, runningMean: rm as tf.Tensor1D, runningVar: rv as tf.Tensor1D };
}
