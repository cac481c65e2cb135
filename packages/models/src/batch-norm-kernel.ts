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

/** Forward: inputs x, scale (γ), offset (β), runningMean, runningVar; attrs epsilon, momentum. */
export const BATCH_NORM_TRAINING = 'ScrlBatchNormTraining';
/** Backward: inputs dy, x, scale, stats (the forward's fourth output). */
export const BATCH_NORM_TRAINING_GRAD = 'ScrlBatchNormTrainingGrad';

/** The backends the kernels are registered on. */
const HOST_BACKENDS = ['cpu', 'wasm'] as const;

type TensorInfo = tf.TensorInfo;

/** The parts of the cpu and wasm backends the kernels use (tfjs-backend-cpu / -wasm 4.x). */
interface HostBackend extends tf.KernelBackend {
  /** wasm: a tensor in the heap. */
  makeOutput?(shape: number[], dtype: tf.DataType): TensorInfo;
  /** wasm: a view of a tensor's heap memory (detached by the next heap growth). */
  typedArrayFromHeap?(info: TensorInfo): Float32Array;
  /** cpu: a tensor holding `values` (by reference). */
  makeTensorInfo?(shape: number[], dtype: tf.DataType, values: Float32Array): TensorInfo;
}

/**
 * Allocates float32 outputs, then returns views of `inputs` and the outputs, in that order.
 * Everything is allocated before any view is taken: on wasm an allocation can grow the heap,
 * which detaches earlier views.
 */
function hostBuffers(
  backend: HostBackend,
  inputs: TensorInfo[],
  outputShapes: number[][],
): { outputs: TensorInfo[]; views: Float32Array[] } {
  for (const t of inputs) {
    if (t.dtype !== 'float32') {
      throw new Error(`${BATCH_NORM_TRAINING}: expected float32 tensors, got ${t.dtype} (cast the input first).`);
    }
  }
  if (backend.typedArrayFromHeap && backend.makeOutput) {
    const outputs = outputShapes.map((s) => (backend.makeOutput as NonNullable<HostBackend['makeOutput']>)(s, 'float32'));
    const views = [...inputs, ...outputs].map((t) => (backend.typedArrayFromHeap as NonNullable<HostBackend['typedArrayFromHeap']>)(t));
    return { outputs, views };
  }
  if (!backend.makeTensorInfo) {
    throw new Error(`${BATCH_NORM_TRAINING}: registered only for the cpu and wasm backends.`);
  }
  const arrays = outputShapes.map((s) => new Float32Array(s.reduce((a, b) => a * b, 1)));
  const outputs = outputShapes.map((s, i) => (backend.makeTensorInfo as NonNullable<HostBackend['makeTensorInfo']>)(s, 'float32', arrays[i]));
  const views = [...inputs.map((t) => backend.readSync(t.dataId) as Float32Array), ...arrays];
  return { outputs, views };
}

const sizeOf = (shape: number[]) => shape.reduce((a, b) => a * b, 1);

/** The stats output: mean (C), invstd (C), then the (reduced) count as two float32-exact halves. */
const COUNT_SPLIT = 2 ** 24;

function batchNormTrainingForward(args: { inputs: tf.NamedTensorInfoMap; backend: tf.KernelBackend; attrs: tf.NamedAttrMap }): TensorInfo[] {
  const { x, scale, offset, runningMean, runningVar } = args.inputs as Record<string, TensorInfo>;
  const eps = args.attrs.epsilon as number;
  const momentum = args.attrs.momentum as number;
  const C = x.shape[x.shape.length - 1];
  const total = sizeOf(x.shape);
  const { outputs, views } = hostBuffers(args.backend as HostBackend, [x, scale, offset, runningMean, runningVar], [
    x.shape,
    [C],
    [C],
    [2 * C + 2],
  ]);
  const [xv, gamma, beta, rm, rv, y, newRm, newRv, stats] = views;

  const sums = new Float64Array(2 * C + 1);
  for (let i = 0; i < total; i += C) {
    for (let c = 0; c < C; c++) {
      const v = xv[i + c];
      sums[c] += v;
      sums[C + c] += v * v;
    }
  }
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
  stats[2 * C] = Math.floor(n / COUNT_SPLIT);
  stats[2 * C + 1] = n % COUNT_SPLIT;
  for (let i = 0; i < total; i += C) {
    for (let c = 0; c < C; c++) y[i + c] = Math.fround(xv[i + c] * a[c]) + b[c];
  }
  return outputs;
}

function batchNormTrainingBackward(args: { inputs: tf.NamedTensorInfoMap; backend: tf.KernelBackend; attrs: tf.NamedAttrMap }): TensorInfo[] {
  const { dy, x, scale, stats } = args.inputs as Record<string, TensorInfo>;
  const C = x.shape[x.shape.length - 1];
  const total = sizeOf(x.shape);
  const { outputs, views } = hostBuffers(args.backend as HostBackend, [dy, x, scale, stats], [x.shape, [C], [C]]);
  const [dyv, xv, gamma, st, dx, dGamma, dBeta] = views;

  // Σdy and Σdy·(x − mean); the latter times invstd is Σdy·x̂.
  const sums = new Float64Array(2 * C);
  const mean = new Float64Array(C);
  for (let c = 0; c < C; c++) mean[c] = st[c];
  for (let i = 0; i < total; i += C) {
    for (let c = 0; c < C; c++) {
      const g = dyv[i + c];
      sums[c] += g;
      sums[C + c] += g * (xv[i + c] - mean[c]);
    }
  }
  for (let c = 0; c < C; c++) {
    sums[C + c] *= st[C + c];
    dBeta[c] = sums[c];
    dGamma[c] = sums[C + c];
  }
  const reducer = getBatchNormReducer();
  if (reducer) reducer(sums);
  const n = st[2 * C] * COUNT_SPLIT + st[2 * C + 1];

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
  for (let i = 0; i < total; i += C) {
    for (let c = 0; c < C; c++) dx[i + c] = p[c] * dyv[i + c] + q[c] * xv[i + c] + r[c];
  }
  return outputs;
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
      inputsToSave: ['x', 'scale'],
      outputsToSave: [false, false, false, true],
      gradFunc: (dys: tf.Tensor | tf.Tensor[], saved: tf.Tensor[]) => {
        const dy = (dys as tf.Tensor[])[0];
        const [x, scale, stats] = saved;
        // Computed here, not in the closures below: the engine runs each closure in its own
        // tidy, which would dispose the two outputs the closure does not return. Here they are
        // in the gradient computation's scope, which frees the unused ones.
        const [dx, dScale, dOffset] = tf.engine().runKernel(BATCH_NORM_TRAINING_GRAD, { dy, x, scale, stats }, {}) as tf.Tensor[];
        return {
          x: () => dx,
          scale: () => dScale,
          offset: () => dOffset,
          // The running statistics are buffers: no gradient flows into them.
          runningMean: () => tf.zerosLike(scale),
          runningVar: () => tf.zerosLike(scale),
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
 * One training-mode BatchNorm over the last axis: returns the output and the new running
 * statistics (to be assigned by the caller; they carry no gradient).
 */
export function batchNormTraining(
  x: tf.Tensor,
  scale: tf.Tensor1D,
  offset: tf.Tensor1D,
  runningMean: tf.Tensor1D,
  runningVar: tf.Tensor1D,
  epsilon: number,
  momentum: number,
): { y: tf.Tensor; runningMean: tf.Tensor1D; runningVar: tf.Tensor1D } {
  const [y, rm, rv, stats] = tf.engine().runKernel(
    BATCH_NORM_TRAINING,
    { x, scale, offset, runningMean, runningVar },
    { epsilon, momentum },
  ) as tf.Tensor[];
  // Only the gradient needs the stats, and the tape keeps its own reference to them.
  stats.dispose();
  return { y, runningMean: rm as tf.Tensor1D, runningVar: rv as tf.Tensor1D };
}
