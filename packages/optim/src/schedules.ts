/**
 * Learning-rate and EMA-momentum schedules of BYOL/SCRL, as pure functions of the step.
 */
import { ScrlError } from '@scrl/util';

function check(fn: string, name: string, value: number, integer: boolean, min: number): void {
  const ok = typeof value === 'number' && Number.isFinite(value) && value >= min && (!integer || Number.isInteger(value));
  if (!ok) {
    throw new ScrlError(`Error in ${fn}: ${name} must be ${integer ? 'an integer' : 'a finite number'} >= ${min} but got ${value}.`);
  }
}

/** The linear scaling rule: `baseLr * batchSize / 256` (Goyal et al., 2017). */
export function scaledLearningRate(baseLr: number, batchSize: number): number {
  check('scaledLearningRate', 'baseLr', baseLr, false, 0);
  check('scaledLearningRate', 'batchSize', batchSize, true, 1);
  return (baseLr * batchSize) / 256;
}

export interface LearningRateSchedule {
  /** Peak learning rate, reached at the end of warmup (already scaled by the batch size). */
  peakLr: number;
  /** Steps of linear warmup (0 for none). */
  warmupSteps: number;
  /** Total optimiser steps of the run; the rate reaches 0 at this step. */
  totalSteps: number;
}

/**
 * The learning rate of optimiser step `step` (0-based): linear warmup, then cosine decay to 0.
 *
 * ```
 * step <  W:  lr = peak * (step + 1) / W
 * step >= W:  lr = peak * (1 + cos(pi * (step - W) / (K - W))) / 2
 * ```
 * with `W = warmupSteps` and `K = totalSteps`; steps past `K` stay at 0. The first warmup step
 * is not wasted at lr 0, and the last warmup step uses the peak.
 */
export function learningRateAt(step: number, schedule: LearningRateSchedule): number {
  check('learningRateAt', 'step', step, true, 0);
  check('learningRateAt', 'peakLr', schedule.peakLr, false, 0);
  check('learningRateAt', 'warmupSteps', schedule.warmupSteps, true, 0);
  check('learningRateAt', 'totalSteps', schedule.totalSteps, true, 1);
  const { peakLr, warmupSteps: w, totalSteps: k } = schedule;
  if (w > k) {
    throw new ScrlError(`Error in learningRateAt: warmupSteps (${w}) must not exceed totalSteps (${k}).`);
  }
  if (step < w) return (peakLr * (step + 1)) / w;
  if (step >= k) return 0;
  return (peakLr * (1 + Math.cos((Math.PI * (step - w)) / (k - w)))) / 2;
}

/**
 * BYOL's EMA momentum at optimiser step `step` of `totalSteps`:
 * `m = 1 - (1 - base) * (cos(pi * step / totalSteps) + 1) / 2`, from `base` at step 0 to 1 at
 * the end (steps past the end stay at 1).
 *
 * @param base `m_base` in [0, 1] (0.97 for 200 epochs, 0.996 for 1000 in the papers).
 */
export function momentumAt(step: number, base: number, totalSteps: number): number {
  check('momentumAt', 'step', step, true, 0);
  check('momentumAt', 'totalSteps', totalSteps, true, 1);
  if (!(base >= 0 && base <= 1)) {
    throw new ScrlError(`Error in momentumAt: base must be in [0, 1] but got ${base}.`);
  }
  const k = Math.min(step, totalSteps);
  return 1 - ((1 - base) * (Math.cos((Math.PI * k) / totalSteps) + 1)) / 2;
}

/** detectron2's `WarmupMultiStepLR`: step decay at milestones after a linear warmup. */
export interface MultiStepSchedule {
  /** Learning rate before any decay. */
  baseLr: number;
  /** Steps at which the rate is multiplied by `gamma` (each milestone once reached). */
  milestones: readonly number[];
  /** Decay factor per milestone. Default 0.1. */
  gamma?: number;
  /** Steps of linear warmup from `warmupFactor * lr` (default 0: none). */
  warmupSteps?: number;
  /** Start of the warmup as a fraction of the rate. Default 0.001. */
  warmupFactor?: number;
}

/**
 * The learning rate at `step` (0-based) of a {@link MultiStepSchedule}: `baseLr * gamma^k` after
 * k milestones, times `warmupFactor * (1 - a) + a` with `a = step / warmupSteps` during warmup.
 */
export function multiStepLearningRateAt(step: number, schedule: MultiStepSchedule): number {
  const gamma = schedule.gamma ?? 0.1;
  const warmupSteps = schedule.warmupSteps ?? 0;
  const warmupFactor = schedule.warmupFactor ?? 0.001;
  let lr = schedule.baseLr;
  for (const m of schedule.milestones) if (step >= m) lr *= gamma;
  if (step < warmupSteps) {
    const alpha = step / warmupSteps;
    lr *= warmupFactor * (1 - alpha) + alpha;
  }
  return lr;
}
