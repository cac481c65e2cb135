/**
 * BYOL/SCRL MLP heads: Linear -> BatchNorm1d -> ReLU -> Linear (no bias), named as PyTorch's
 * `nn.Sequential` would name them (`net.0`, `net.1`, `net.3`).
 */
import * as tf from '@tensorflow/tfjs-core';
import { BatchNorm, Linear, SeedSequence, type HasBatchNorms, type LayerState } from './layers';
import type { Module, NamedBuffer, NamedParameter } from './module';
import { ScrlError } from '@scrl/util';

export interface MlpHeadOptions {
  /** Input width (the backbone's featureDim for the projector, outDim for the predictor). */
  inDim: number;
  /** Hidden width. Default 4096. */
  hiddenDim?: number;
  /** Output width. Default 256. */
  outDim?: number;
  /** Seed for the initialisers (PyTorch's default Linear init). */
  seed?: number;
}

export interface MlpHead extends Module, HasBatchNorms {
  readonly inDim: number;
  readonly hiddenDim: number;
  readonly outDim: number;
  /**
   * [N, inDim] -> [N, outDim]. Training uses batch statistics and needs N >= 2 (PyTorch's
   * BatchNorm1d fails the same way for one sample).
   */
  apply(x: tf.Tensor2D, opts: { training: boolean }): tf.Tensor2D;
}

class MlpHeadImpl implements MlpHead {
  readonly inDim: number;
  readonly hiddenDim: number;
  readonly outDim: number;
  private readonly fc1: Linear;
  private readonly bn: BatchNorm;
  private readonly fc2: Linear;
  private readonly state: LayerState = { parameters: [], buffers: [] };

  constructor(
    private readonly fn: string,
    options: MlpHeadOptions,
  ) {
    if (options === null || typeof options !== 'object') {
      throw new ScrlError(`Error in ${fn}: options must be an object like { inDim: 2048 }, got ${String(options)}.`);
    }
    const { inDim, hiddenDim = 4096, outDim = 256, seed } = options;
    for (const [key, value] of Object.entries({ inDim, hiddenDim, outDim })) {
      if (!Number.isInteger(value) || value < 1) {
        throw new ScrlError(`Error in ${fn}: ${key} must be a positive integer, got ${String(value)}.`);
      }
    }
    this.inDim = inDim;
    this.hiddenDim = hiddenDim;
    this.outDim = outDim;
    const seeds = new SeedSequence(seed);
    this.fc1 = new Linear('net.0', inDim, hiddenDim, true, seeds);
    this.bn = new BatchNorm('net.1', hiddenDim, 'BatchNorm1d');
    this.fc2 = new Linear('net.3', hiddenDim, outDim, false, seeds);
    this.fc1.collect(this.state);
    this.bn.collect(this.state);
    this.fc2.collect(this.state);
  }

  apply(x: tf.Tensor2D, opts: { training: boolean }): tf.Tensor2D {
    if (!(x instanceof tf.Tensor) || x.rank !== 2 || x.shape[1] !== this.inDim) {
      const got = x instanceof tf.Tensor ? `shape [${x.shape.join(', ')}]` : String(x);
      throw new ScrlError(`Error in ${this.fn}.apply: x must be [N, ${this.inDim}] (inDim), got ${got}.`);
    }
    if (opts === null || typeof opts !== 'object' || typeof opts.training !== 'boolean') {
      throw new ScrlError(`Error in ${this.fn}.apply: opts must be { training: boolean }, got ${JSON.stringify(opts)}.`);
    }
    return tf.tidy(() => this.fc2.apply(this.bn.applyRelu(this.fc1.apply(x), opts.training)));
  }

  parameters(): NamedParameter[] {
    return this.state.parameters.slice();
  }

  buffers(): NamedBuffer[] {
    return this.state.buffers.slice();
  }

  batchNorms(): BatchNorm[] {
    return [this.bn];
  }

  dispose(): void {
    this.fc1.dispose();
    this.bn.dispose();
    this.fc2.dispose();
  }
}

/** SCRL/BYOL projector g: Linear(inDim, hiddenDim) -> BatchNorm1d -> ReLU -> Linear(hiddenDim, outDim, bias=False). */
export function projectionHead(options: MlpHeadOptions): MlpHead {
  return new MlpHeadImpl('projectionHead', options);
}

/** SCRL/BYOL predictor q (online branch only); same shape as the projector, inDim = projector's outDim. */
export function predictionHead(options: MlpHeadOptions): MlpHead {
  return new MlpHeadImpl('predictionHead', options);
}
