/**
 * @scrl/trainer: SCRL and BYOL pretraining. The building blocks (the optimiser steps
 * `scrlStep` / `byolStep`, the hooks, checkpoints, metrics, and LARS, schedules, EMA and
 * gradient accumulation from @scrl/optim) are importable one by one for a user's own loop;
 * `train()` is a thin loop over them.
 */
// The browser entry: the steps, networks, presets and config validation, and (re-exported from
// @scrl/optim, @scrl/models and @scrl/util) LARS, schedules, EMA, safetensors and the errors.
export * from './browser';

export {
  CHECKPOINT_FORMAT,
  CHECKPOINT_VERSION,
  findLatestCheckpoint,
  listCheckpoints,
  readCheckpoint,
  writeCheckpoint,
} from './checkpoint';
export type { Checkpoint, CheckpointSidecar, WriteCheckpointOptions } from './checkpoint';
export { writeFileDurably } from './atomic-write';
export { crashPoint, CRASH_POINTS } from './crash-points';
export type { CrashPoint } from './crash-points';
export { formatDuration, MetricsWriter, ProgressReporter, readMetrics } from './metrics';
export type { ProgressOptions, StepMetrics } from './metrics';
export { renderLossCurve, writeLossCurvePng } from './plot';
export type { LossCurveOptions, RgbCanvas } from './plot';
export { loadConfigFile, resolveConfig } from './config-file';
export type { ResolveConfigOptions } from './config-file';
export { backboneFromCheckpoint, backboneFromInit, resolveCheckpoint } from './backbone';
// Image sources live in @scrl/data (the loader reads them); re-exported for existing callers.
export { imageFolderSource, inMemorySource } from '@scrl/data';
export type { ImageSource } from '@scrl/data';
export { defaultThreads, planTraining, train } from './train';
export type { TrainOptions, TrainPlan, TrainResult } from './train';
export { callbackHook, checkpointHook, evaluationHook, lossCurveHook, metricsHook, progressHook, scheduleHook } from './hooks';
export type { TrainContext, TrainHook } from './hooks';
export { ParallelStepper } from './parallel';
export type { ParallelStepperOptions, ReplicaProfile } from './parallel';
export { threadCpuTime } from './collective';
export type { CollectiveCounters } from './collective';
export { microBatchStream } from './micro-batches';
export type { MicroBatchStream } from './micro-batches';
