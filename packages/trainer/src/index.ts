/**
 * @scrl/trainer: SCRL and BYOL pretraining. The building blocks (the optimiser steps
 * `scrlStep` / `byolStep`, the hooks, checkpoints, metrics, and LARS, schedules, EMA and
 * gradient accumulation from @scrl/optim) are importable one by one for a user's own loop;
 * `train()` is a thin loop over them.
 */
import '@scrl/roi-align';

// The optimisers live in @scrl/optim (eval's fine-tuning uses them too); re-exported here.
export { copyModuleState, GradientAccumulator, Lars, learningRateAt, momentumAt, scaledLearningRate, updateMomentum } from '@scrl/optim';
export type { LarsConfig, LarsOptions, LarsState, LearningRateSchedule } from '@scrl/optim';
// Moved to @scrl/models (one safetensors implementation); re-exported for existing callers.
export { decodeSafetensors, encodeSafetensors } from '@scrl/models';
export type { TensorDict, TensorRecord } from '@scrl/models';
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
export { applyOverrides, PRESET_NAMES, presetConfig, trainConfigSchema, validateConfig } from './config';
export type { PresetName, TrainConfig } from './config';
export { loadConfigFile, resolveConfig } from './config-file';
export type { ResolveConfigOptions } from './config-file';
export { backboneFromCheckpoint, backboneFromInit, resolveCheckpoint } from './backbone';
// Image sources live in @scrl/data (the loader reads them); re-exported for existing callers.
export { imageFolderSource, inMemorySource } from '@scrl/data';
export type { ImageSource } from '@scrl/data';
export {
  buildNetworks,
  disposeNetworks,
  embed,
  networkTensors,
  onlineForward,
  onlineParameters,
  restoreNetworks,
  targetForward,
} from './networks';
export type { Networks, OnlineNetwork, Regions, TargetNetwork } from './networks';
export { defaultThreads, planTraining, train } from './train';
// The error class lives in @scrl/util (fine-tuning raises it too); re-exported for existing callers.
export { NonFiniteLossError, ScrlError } from '@scrl/util';
export type { TrainOptions, TrainPlan, TrainResult } from './train';
export { byolStep, createPretrainModel, disposePretrainModel, pretrainStep, scrlStep } from './step';
export type { PretrainBatch, PretrainModel, StepOptions, StepResult } from './step';
export { callbackHook, checkpointHook, evaluationHook, lossCurveHook, metricsHook, progressHook, scheduleHook } from './hooks';
export type { TrainContext, TrainHook } from './hooks';
export { ParallelStepper } from './parallel';
export { microBatchStream } from './micro-batches';
export type { MicroBatchStream } from './micro-batches';
