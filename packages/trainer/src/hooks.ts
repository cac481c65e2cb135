/**
 * What `train()` does around each step, as hooks in the manner of detectron2's trainer: the
 * schedule before a step; metrics, progress, the user's callback and periodic checkpoints after
 * it; the last checkpoint and the loss curve at the end. `evaluationHook` (opt-in) runs an
 * evaluation every N steps. A user adds hooks with `train({ hooks })`; they run after the
 * built-in ones at each point.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import type { Rng } from '@scrl/augment';
import type { TensorDict } from '@scrl/models';
import { learningRateAt, momentumAt } from '@scrl/optim';
import { ScrlError } from '@scrl/util';
import { writeCheckpoint } from './checkpoint';
import { crashPoint } from './crash-points';
import type { TrainConfig } from './config';
import { MetricsWriter, ProgressReporter, readMetrics } from './metrics';
import type { ProgressOptions, StepMetrics } from './metrics';
import { batchNormCounters, networkTensors } from './networks';
import { writeLossCurvePng } from './plot';
import type { PretrainModel } from './step';

/** The numbers derived from the config and the dataset, written to config.json. */
export interface TrainPlan {
  images: number;
  effectiveBatch: number;
  stepsPerEpoch: number;
  totalSteps: number;
  warmupSteps: number;
  peakLr: number;
}

/** The state of a run that hooks read and write. */
export interface TrainContext {
  readonly config: TrainConfig;
  readonly plan: TrainPlan;
  readonly out: string;
  readonly model: PretrainModel;
  /** The run's root random stream (its state goes into checkpoints). */
  readonly rng: Rng;
  /** Optimiser steps completed so far. */
  step: number;
  /** Learning rate and EMA momentum of the step about to run (set by the schedule hook). */
  lr: number;
  momentum: number;
  /** Sidecar path and step of the newest checkpoint written or resumed from. */
  lastCheckpoint: string | null;
  lastSavedStep: number;
  stopReason: 'completed' | 'max-steps' | 'aborted';
  log: (line: string) => void;
}

/** One hook; every method is optional and may be async. */
export interface TrainHook {
  beforeTrain?(ctx: TrainContext): void | Promise<void>;
  beforeStep?(ctx: TrainContext): void | Promise<void>;
  afterStep?(ctx: TrainContext, metrics: StepMetrics): void | Promise<void>;
  afterTrain?(ctx: TrainContext): void | Promise<void>;
  /** Always called last, also when the run fails (release what the hook holds). */
  dispose?(): void;
}

/** Sets `ctx.lr` (warmup then cosine) and `ctx.momentum` (BYOL's EMA schedule) for each step. */
export function scheduleHook(): TrainHook {
  return {
    beforeStep(ctx) {
      const { plan, config } = ctx;
      ctx.lr = learningRateAt(ctx.step, { peakLr: plan.peakLr, warmupSteps: plan.warmupSteps, totalSteps: plan.totalSteps });
      ctx.momentum = momentumAt(ctx.step, config.ema.baseMomentum, plan.totalSteps);
    },
  };
}

/** Appends each step's metrics to `metrics.jsonl` (`writer.file`). */
export function metricsHook(writer: MetricsWriter): TrainHook {
  return {
    afterStep: (_ctx, m) => {
      writer.append(m);
      crashPoint('after-metrics');
    },
  };
}

/** A progress bar or lines on `stream`, from the step the run starts at. */
export function progressHook(stream: ProgressOptions['stream']): TrainHook {
  let progress: ProgressReporter | null = null;
  return {
    beforeTrain(ctx) {
      progress = new ProgressReporter({ total: ctx.plan.totalSteps, start: ctx.step, stream });
    },
    afterStep: (ctx, m) => progress?.update(ctx.step, m),
    afterTrain() {
      progress?.finish();
      progress = null;
    },
    dispose() {
      progress?.finish();
      progress = null;
    },
  };
}

/** Calls `fn` with each step's metrics. */
export function callbackHook(fn: (metrics: StepMetrics) => void): TrainHook {
  return { afterStep: (_ctx, m) => fn(m) };
}

/**
 * Writes a checkpoint (networks, LARS momentum, BatchNorm counters, the RNG state and the
 * config) every `every` steps, at the end of the schedule and when the run stops.
 */
export function checkpointHook(every: number): TrainHook {
  const save = async (ctx: TrainContext): Promise<void> => {
    const { model, config } = ctx;
    const tensors: TensorDict = await networkTensors(model.nets);
    const opt = await model.lars.getState();
    for (const [name, buf] of Object.entries(opt.buffers)) tensors[`optimizer.momentum.${name}`] = buf;
    const state = {
      config,
      plan: ctx.plan,
      rng: { root: ctx.rng.getState(), microBatchesSeen: ctx.step * config.batch.accumulate, source: 'view-pair-loader' },
      optimizer: { config: opt.config, steps: opt.steps },
      batchNormCounters: batchNormCounters(model.nets),
      backend: tf.getBackend(),
    };
    ctx.lastCheckpoint = writeCheckpoint(path.join(ctx.out, 'checkpoints'), { step: ctx.step, tensors, state }, { keep: config.checkpoint.keep });
    ctx.lastSavedStep = ctx.step;
    ctx.log(`[scrl] checkpoint: step ${ctx.step} -> ${ctx.lastCheckpoint}`);
  };
  return {
    async afterStep(ctx) {
      if (ctx.step % every === 0 || ctx.step === ctx.plan.totalSteps) await save(ctx);
    },
    async afterTrain(ctx) {
      if (ctx.lastSavedStep !== ctx.step) await save(ctx);
    },
  };
}

/** Draws `loss.png` from `metrics.jsonl` at the end of the run. */
export function lossCurveHook(metricsFile: string): TrainHook {
  return {
    async afterTrain(ctx) {
      // A run stopped before its first step (--max-steps 0) has no metrics yet.
      if (!fs.existsSync(metricsFile)) return;
      const curve = readMetrics(metricsFile).map((r) => ({ step: r.step, loss: r.loss }));
      if (curve.length > 0) await writeLossCurvePng(path.join(ctx.out, 'loss.png'), curve);
    },
  };
}

/**
 * Runs `evaluate` (a kNN or linear probe of `ctx.model.nets.online.backbone`, a detection
 * fine-tuning of a copy, ...) every `every` steps and once more at the end of the run, unless
 * the last step was just evaluated.
 */
export function evaluationHook(every: number, evaluate: (ctx: TrainContext) => void | Promise<void>): TrainHook {
  if (!Number.isInteger(every) || every < 1) {
    throw new ScrlError(`Error in evaluationHook: every must be an integer >= 1, got ${every}.`);
  }
  let lastEvaluated = -1;
  const run = async (ctx: TrainContext) => {
    lastEvaluated = ctx.step;
    await evaluate(ctx);
  };
  return {
    async afterStep(ctx) {
      if (ctx.step % every === 0) await run(ctx);
    },
    async afterTrain(ctx) {
      if (lastEvaluated !== ctx.step) await run(ctx);
    },
  };
}
