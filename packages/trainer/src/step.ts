/**
 * The SCRL and BYOL optimiser steps as building blocks (docs/scrl-reference.md sections 3 to 5):
 * what `train()` runs once per step, exported so a user's own loop can run it too, as Lightly's
 * users call its losses and `update_momentum`.
 *
 *     const model = createPretrainModel(config);
 *     for await (const batch of loader.epoch(0)) {
 *       const r = await scrlStep(model, [batch], { lr: 0.01, momentum: 0.99 });
 *     }
 *     disposePretrainModel(model);
 *
 * One step: for each micro-batch, the target forward, the online forward and loss with their
 * gradients, accumulated (weighted by box pairs for SCRL, images for BYOL); then one LARS
 * update with the mean gradient and the EMA update of the target's backbone and projector.
 */
import * as tf from '@tensorflow/tfjs-core';
import { boxPairBatch } from '@scrl/augment';
import type { BoxPair } from '@scrl/augment';
import { byolLoss, scrlLoss } from '@scrl/loss';
import { GradientAccumulator, Lars, updateMomentum } from '@scrl/optim';
import { NonFiniteLossError, ScrlError } from '@scrl/util';
import type { TrainConfig } from './config';
import { buildNetworks, disposeNetworks, onlineForward, onlineParameters, targetForward } from './networks';
import type { Networks, Regions } from './networks';

/** The networks and optimiser state one step updates. */
export interface PretrainModel {
  method: TrainConfig['method'];
  nets: Networks;
  lars: Lars;
  accumulator: GradientAccumulator;
  variables: tf.Variable[];
}

/**
 * One micro-batch of view pairs, as `@scrl/data`'s view-pair loader yields them: `view1` and
 * `view2` hold `batchSize` views of side `size` (NHWC, normalised), `boxPairs` the matched boxes
 * per image (SCRL; ignored by BYOL).
 */
export interface PretrainBatch {
  view1: Float32Array;
  view2: Float32Array;
  size: number;
  batchSize: number;
  boxPairs: BoxPair[][];
}

export interface StepOptions {
  /** Learning rate of this step's LARS update. */
  lr: number;
  /** EMA momentum of the target update after it. */
  momentum: number;
}

export interface StepResult {
  /** Mean loss over the micro-batches used (weighted by box pairs / images); 0 if none. */
  loss: number;
  /** Box pairs that entered the loss (SCRL), 0 for BYOL. */
  boxPairs: number;
  /** True when no micro-batch was usable (no box pairs, or < 2 images): no update was made. */
  skipped: boolean;
}

/** A non-finite loss in a step, with the micro-batch it came from. */
export class NonFiniteStepError extends NonFiniteLossError {
  constructor(
    message: string,
    readonly value: number,
    readonly microBatch: number,
    readonly microBatches: number,
  ) {
    super(message, 0);
  }
}

/** Online and target networks, LARS and a gradient accumulator for `config` (validated). */
export function createPretrainModel(config: TrainConfig): PretrainModel {
  const nets = buildNetworks(config);
  const params = onlineParameters(nets.online);
  const lars = new Lars(params, {
    momentum: config.optimizer.momentum,
    weightDecay: config.optimizer.weightDecay,
    eta: config.optimizer.eta,
  });
  return { method: config.method, nets, lars, accumulator: new GradientAccumulator(), variables: params.map((p) => p.variable) };
}

/** Frees the networks, the optimiser state and any accumulated gradients. */
export function disposePretrainModel(model: PretrainModel): void {
  model.accumulator.reset();
  model.lars.dispose();
  disposeNetworks(model.nets);
}

/** One micro-batch's loss, its weight (box pairs for SCRL, images for BYOL) and its gradients (the caller disposes them). */
export interface MicroBatchGradients {
  /** The loss (before any `lossScale`). */
  value: number;
  /** The factor the gradients were computed for (`lossScale()`, or 1). */
  scale: number;
  weight: number;
  pairs: number;
  grads: tf.NamedTensorMap;
}

/**
 * Forward and backward of one micro-batch (internal: the one-thread step and each replica of
 * the multi-thread step run it). `lossScale`, called after the online forward and before the
 * backward, gives a factor for the loss whose gradients are returned (replicas with
 * synchronised BatchNorm differentiate their share of the whole batch's loss). Returns null
 * when the micro-batch cannot be used.
 */
export async function microBatchGradients(model: PretrainModel, batch: PretrainBatch, lossScale?: () => number): Promise<MicroBatchGradients | null> {
  const scrl = model.method === 'scrl';
  const n = batch.batchSize;
  const S = batch.size;
  const P = batch.boxPairs.reduce((count, p) => count + p.length, 0);
  // BYOL's BatchNorm needs >= 2 images; SCRL's needs >= 1 pair (2 rows).
  if (scrl ? P === 0 : n < 2) return null;
  const weight = scrl ? P : n;
  const x = tf.tidy(() => tf.concat([tf.tensor4d(batch.view1, [n, S, S, 3]), tf.tensor4d(batch.view2, [n, S, S, 3])], 0)) as tf.Tensor4D;
  let regions: Regions | null = null;
  if (scrl) {
    const b = boxPairBatch(batch.boxPairs);
    regions = { boxes: b.boxes, boxIndices: b.boxIndices };
  }
  const R = scrl ? P : n;
  const z = targetForward(model.nets.target, x, regions);
  let scale = 1;
  const { value, grads } = tf.variableGrads(() => {
    const q = onlineForward(model.nets.online, x, regions);
    const half = (t: tf.Tensor2D, i: number) => tf.slice(t, [i * R, 0], [R, -1]);
    const loss = scrl ? scrlLoss : byolLoss;
    const l = loss(half(q, 0), half(q, 1), half(z, 0), half(z, 1));
    scale = lossScale?.() ?? 1;
    return scale === 1 ? l : tf.mul(l, scale);
  }, model.variables);
  const v = (await value.data())[0] / scale;
  tf.dispose([x, z, value]);
  if (regions) tf.dispose([regions.boxes, regions.boxIndices]);
  return { value: v, scale, weight, pairs: scrl ? P : 0, grads };
}

/**
 * Forward and backward of one micro-batch, its gradients added to the accumulator. Returns
 * the loss and its weight, or null when the micro-batch cannot be used.
 */
async function microStep(model: PretrainModel, batch: PretrainBatch, label: string): Promise<{ value: number; weight: number; pairs: number } | null> {
  const r = await microBatchGradients(model, batch);
  if (r === null) return null;
  const { value: v, weight, pairs, grads } = r;
  if (!Number.isFinite(v)) {
    tf.dispose(Object.values(grads));
    model.accumulator.reset();
    throw new NonFiniteStepError(`Error in ${label}: the loss became ${v}; no update was made. Lower the learning rate or check the data.`, v, 0, 0);
  }
  model.accumulator.add(grads, weight);
  tf.dispose(Object.values(grads));
  return { value: v, weight, pairs };
}

/**
 * The LARS update with the step's mean gradients, then the EMA update of the target (internal).
 * With `only` (a replica's share of the online parameters; `grads` then holds theirs alone),
 * only those parameters and their target counterparts are updated.
 */
export function applyUpdate(model: PretrainModel, grads: tf.NamedTensorMap, options: StepOptions, only?: ReadonlySet<tf.Variable>): void {
  model.lars.step(grads, options.lr);
  updateMomentum(model.nets.target.backbone, model.nets.online.backbone, options.momentum, { only });
  updateMomentum(model.nets.target.projector, model.nets.online.projector, options.momentum, { only });
}

async function step(model: PretrainModel, batches: PretrainBatch[], options: StepOptions, label: string): Promise<StepResult> {
  let lossSum = 0;
  let weightSum = 0;
  let boxPairs = 0;
  for (let micro = 0; micro < batches.length; micro++) {
    let r: Awaited<ReturnType<typeof microStep>>;
    try {
      r = await microStep(model, batches[micro], label);
    } catch (err) {
      if (!(err instanceof NonFiniteStepError)) throw err;
      throw new NonFiniteStepError(
        `Error in ${label}: the loss became ${err.value} in micro-batch ${micro + 1} of ${batches.length}; no update was made. ` +
          'Lower the learning rate or check the data.',
        err.value,
        micro + 1,
        batches.length,
      );
    }
    if (r === null) continue;
    lossSum += r.value * r.weight;
    weightSum += r.weight;
    boxPairs += r.pairs;
  }
  const skipped = model.accumulator.microBatches === 0;
  if (!skipped) {
    const grads = model.accumulator.mean();
    applyUpdate(model, grads, options);
    tf.dispose(Object.values(grads));
  }
  return { loss: weightSum > 0 ? lossSum / weightSum : 0, boxPairs, skipped };
}

/**
 * One SCRL optimiser step over `batches` (the micro-batches of one effective batch): the
 * box-level loss on RoIAlign-pooled C5 features of matched box pairs, LARS at `lr`, then the EMA
 * update at `momentum`. Throws a NonFiniteLossError, with no update made, if a loss is not finite.
 */
export function scrlStep(model: PretrainModel, batches: PretrainBatch[], options: StepOptions): Promise<StepResult> {
  if (model.method !== 'scrl') throw new ScrlError(`Error in scrlStep: the model was built for '${model.method}'; use byolStep or build it with method 'scrl'.`);
  return step(model, batches, options, 'scrlStep');
}

/** One BYOL optimiser step (global pooling instead of box pairs); otherwise as {@link scrlStep}. */
export function byolStep(model: PretrainModel, batches: PretrainBatch[], options: StepOptions): Promise<StepResult> {
  if (model.method !== 'byol') throw new ScrlError(`Error in byolStep: the model was built for '${model.method}'; use scrlStep or build it with method 'byol'.`);
  return step(model, batches, options, 'byolStep');
}

/** {@link scrlStep} or {@link byolStep}, whichever the model was built for. */
export function pretrainStep(model: PretrainModel, batches: PretrainBatch[], options: StepOptions): Promise<StepResult> {
  return model.method === 'scrl' ? scrlStep(model, batches, options) : byolStep(model, batches, options);
}
