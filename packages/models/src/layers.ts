/**
 * The three layers our networks are made of — Conv2d, BatchNorm and Linear — with PyTorch's
 * semantics and default initialisation, stored in TF.js layouts (conv HWIO, linear [in, out]).
 * Internal: the public surface is the networks that use them.
 */
import * as tf from '@tensorflow/tfjs-core';
import { mulberry32, ScrlError } from '@scrl/util';
import type { NamedBuffer, NamedParameter } from './module';
import { batchNormTraining, fusedBatchNormAvailable, registerBatchNormKernels } from './batch-norm-kernel';
import { getBatchNormReducer } from './batch-norm-sync';

registerBatchNormKernels();

/** A uniform [0, 1) generator (@scrl/util's mulberry32): fast, and identical on every backend. */
export type Random = () => number;

/**
 * One generator per tensor, derived from the model seed and the tensor's position, so two builds
 * with one seed are equal. Without a seed every tensor gets a Math.random() seed.
 */
export class SeedSequence {
  private counter = 0;
  constructor(private readonly seed: number | undefined) {}
  next(): Random {
    this.counter += 1;
    const s =
      this.seed === undefined
        ? Math.floor(Math.random() * 4294967296)
        : (Math.imul(Math.floor(this.seed) | 0, 0x9e3779b1) + Math.imul(this.counter, 0x85ebca77)) >>> 0;
    return mulberry32(s);
  }
}

/** A variable owning its initial value (tf.variable alone would leave the initial tensor alive). */
function variableOf<R extends tf.Rank>(init: () => tf.Tensor<R>, trainable: boolean): tf.Variable<R> {
  return tf.tidy(() => tf.variable(init(), trainable));
}

export interface LayerState {
  parameters: NamedParameter[];
  buffers: NamedBuffer[];
}

/** `nn.init.kaiming_normal_(w, mode='fan_out', nonlinearity='relu')`: N(0, 2 / fan_out), Box-Muller. */
function kaimingNormalFanOut(shape: [number, number, number, number], random: Random): tf.Tensor4D {
  const [kh, kw, , outChannels] = shape;
  const std = Math.sqrt(2 / (outChannels * kh * kw));
  const n = shape.reduce((a, b) => a * b, 1);
  const data = new Float32Array(n);
  for (let i = 0; i < n; i += 2) {
    const r = Math.sqrt(-2 * Math.log(1 - random())) * std;
    const theta = 2 * Math.PI * random();
    data[i] = r * Math.cos(theta);
    if (i + 1 < n) data[i + 1] = r * Math.sin(theta);
  }
  return tf.tensor4d(data, shape);
}

/** PyTorch's default Linear init: weight and bias both U(-1/sqrt(fan_in), 1/sqrt(fan_in)). */
function linearDefault(shape: number[], fanIn: number, random: Random): tf.Tensor {
  const bound = 1 / Math.sqrt(fanIn);
  const n = shape.reduce((a, b) => a * b, 1);
  const data = new Float32Array(n);
  for (let i = 0; i < n; i++) data[i] = (2 * random() - 1) * bound;
  return tf.tensor(data, shape);
}

/**
 * `nn.Conv2d(in, out, k, stride, padding, bias=False)` with torchvision's ResNet init.
 * Weight is HWIO, `[k, k, in, out]`; the name keeps PyTorch's (`<prefix>.weight`).
 */
export class Conv2d {
  readonly weight: tf.Variable<tf.Rank.R4>;
  constructor(
    readonly name: string,
    readonly inChannels: number,
    readonly outChannels: number,
    readonly kernelSize: number,
    readonly stride: number,
    readonly padding: number,
    seeds: SeedSequence,
  ) {
    const shape: [number, number, number, number] = [kernelSize, kernelSize, inChannels, outChannels];
    this.weight = variableOf(() => kaimingNormalFanOut(shape, seeds.next()), true);
  }

  apply(x: tf.Tensor4D): tf.Tensor4D {
    // A number pad is PyTorch's symmetric zero padding; 'same' would pad asymmetrically.
    return tf.conv2d(x, this.weight, this.stride, this.padding);
  }

  collect(state: LayerState): void {
    state.parameters.push({ name: `${this.name}.weight`, variable: this.weight, role: 'weight' });
  }

  dispose(): void {
    this.weight.dispose();
  }
}

/** PyTorch's BatchNorm defaults, used by torchvision's ResNet and by the heads. */
export const BATCH_NORM_EPS = 1e-5;
export const BATCH_NORM_MOMENTUM = 0.1;

/**
 * `nn.BatchNorm2d` / `nn.BatchNorm1d` over the last (channel) axis of NHWC or [N, C] input.
 * Training: normalise with the biased batch variance; running statistics move by
 * `running = (1 - 0.1) * running + 0.1 * batch` using the unbiased variance, as PyTorch does.
 * Inference: normalise with the running statistics.
 * On cpu and wasm, training mode runs as one fused kernel each way (batch-norm-kernel.ts), which
 * also applies an installed synchronised-BatchNorm reducer (batch-norm-sync.ts); elsewhere, or
 * with `setFusedBatchNorm(false)`, as `tf.moments` + `tf.batchNorm`.
 */
export class BatchNorm {
  readonly weight: tf.Variable<tf.Rank.R1>;
  readonly bias: tf.Variable<tf.Rank.R1>;
  readonly runningMean: tf.Variable<tf.Rank.R1>;
  readonly runningVar: tf.Variable<tf.Rank.R1>;
  /** PyTorch's `num_batches_tracked`: kept in JS, exported as int64 for strict loading. */
  numBatchesTracked = 0;

  constructor(
    readonly name: string,
    readonly numFeatures: number,
    private readonly kind: 'BatchNorm1d' | 'BatchNorm2d',
  ) {
    this.weight = variableOf(() => tf.ones([numFeatures]) as tf.Tensor1D, true);
    this.bias = variableOf(() => tf.zeros([numFeatures]) as tf.Tensor1D, true);
    this.runningMean = variableOf(() => tf.zeros([numFeatures]) as tf.Tensor1D, false);
    this.runningVar = variableOf(() => tf.ones([numFeatures]) as tf.Tensor1D, false);
  }

  apply<T extends tf.Tensor>(x: T, training: boolean): T {
    return this.normalize(x, training, false);
  }

  /** `relu(apply(x, training))`; in training mode on cpu/wasm, one fused kernel each way. */
  applyRelu<T extends tf.Tensor>(x: T, training: boolean): T {
    return this.normalize(x, training, true);
  }

  private normalize<T extends tf.Tensor>(x: T, training: boolean, relu: boolean): T {
    if (!training) {
      const y = tf.batchNorm(x, this.runningMean, this.runningVar, this.bias, this.weight, BATCH_NORM_EPS) as T;
      return relu ? tf.relu(y) : y;
    }
    const count = x.size / this.numFeatures;
    if (count <= 1) {
      throw new ScrlError(
        `Error in ${this.kind} '${this.name}': expected more than 1 value per channel when training, got input shape ` +
          `[${x.shape.join(', ')}]. Use a batch of at least 2 (PyTorch fails the same way), or apply in ` +
          `inference mode ({ training: false }).`,
      );
    }
    const m = BATCH_NORM_MOMENTUM;
    if (fusedBatchNormAvailable()) {
      const fused = batchNormTraining(x, this.weight, this.bias, this.runningMean, this.runningVar, BATCH_NORM_EPS, m, relu);
      this.runningMean.assign(fused.runningMean);
      this.runningVar.assign(fused.runningVar);
      tf.dispose([fused.runningMean, fused.runningVar]);
      this.numBatchesTracked += 1;
      return fused.y as T;
    }
    if (getBatchNormReducer()) {
      throw new ScrlError(
        `Error in ${this.kind} '${this.name}': a synchronised-BatchNorm reducer is installed, but training-mode ` +
          `BatchNorm on the '${tf.getBackend()}' backend does not use it (only the fused kernels do, on cpu and wasm with ` +
          `setFusedBatchNorm left on). Train on the cpu or wasm backend with fused BatchNorm on, or remove the reducer ` +
          `(setBatchNormReducer(null)).`,
      );
    }
    const axes = x.rank === 4 ? [0, 1, 2] : [0];
    const { mean, variance } = tf.moments(x, axes);
    // New running statistics hang off `mean`/`variance` but not off the output, so a
    // surrounding tf.variableGrads ignores them; assign() keeps their data past any tidy.
    this.runningMean.assign(tf.add(tf.mul(this.runningMean, 1 - m), tf.mul(mean, m)));
    this.runningVar.assign(tf.add(tf.mul(this.runningVar, 1 - m), tf.mul(variance, (m * count) / (count - 1))));
    this.numBatchesTracked += 1;
    const y = tf.batchNorm(x, mean, variance, this.bias, this.weight, BATCH_NORM_EPS) as T;
    return relu ? tf.relu(y) : y;
  }

  collect(state: LayerState): void {
    state.parameters.push(
      { name: `${this.name}.weight`, variable: this.weight, role: 'bn-weight' },
      { name: `${this.name}.bias`, variable: this.bias, role: 'bn-bias' },
    );
    state.buffers.push(
      { name: `${this.name}.running_mean`, variable: this.runningMean },
      { name: `${this.name}.running_var`, variable: this.runningVar },
    );
  }

  dispose(): void {
    this.weight.dispose();
    this.bias.dispose();
    this.runningMean.dispose();
    this.runningVar.dispose();
  }
}

/** `nn.Linear(in, out, bias)` with PyTorch's default init; weight stored `[in, out]`. */
export class Linear {
  readonly weight: tf.Variable<tf.Rank.R2>;
  readonly bias: tf.Variable<tf.Rank.R1> | null;
  constructor(
    readonly name: string,
    readonly inFeatures: number,
    readonly outFeatures: number,
    useBias: boolean,
    seeds: SeedSequence,
  ) {
    this.weight = variableOf(() => linearDefault([inFeatures, outFeatures], inFeatures, seeds.next()) as tf.Tensor2D, true);
    const biasRandom = useBias ? seeds.next() : null;
    this.bias = biasRandom ? variableOf(() => linearDefault([outFeatures], inFeatures, biasRandom) as tf.Tensor1D, true) : null;
  }

  apply(x: tf.Tensor2D): tf.Tensor2D {
    const y: tf.Tensor2D = tf.matMul(x, this.weight);
    return this.bias ? (tf.add(y, this.bias) as tf.Tensor2D) : y;
  }

  collect(state: LayerState): void {
    state.parameters.push({ name: `${this.name}.weight`, variable: this.weight, role: 'weight' });
    if (this.bias) state.parameters.push({ name: `${this.name}.bias`, variable: this.bias, role: 'bias' });
  }

  dispose(): void {
    this.weight.dispose();
    this.bias?.dispose();
  }
}

/** Every BatchNorm layer of a module, by its name prefix, for num_batches_tracked import/export (internal: not part of the supported API). */
export interface HasBatchNorms {
  batchNorms(): BatchNorm[];
}
