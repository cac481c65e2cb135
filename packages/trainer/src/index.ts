/**
 * @scrl/trainer: SCRL and BYOL pretraining. The building blocks (LARS, schedules, EMA,
 * gradient accumulation, checkpoints, metrics) are importable one by one for a user's own
 * loop; `train()` puts them together.
 */
import '@scrl/roi-align';

export { Lars } from './lars';
export type { LarsConfig, LarsOptions, LarsState } from './lars';
export { learningRateAt, momentumAt, scaledLearningRate } from './schedules';
export type { LearningRateSchedule } from './schedules';
export { copyModuleState, updateMomentum } from './ema';
export { GradientAccumulator } from './accumulate';
export { decodeSafetensors, encodeSafetensors } from './safetensors';
export type { TensorDict, TensorRecord } from './safetensors';
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
export {
  applyOverrides,
  loadConfigFile,
  PRESET_NAMES,
  presetConfig,
  resolveConfig,
  trainConfigSchema,
  validateConfig,
} from './config';
export type { PresetName, ResolveConfigOptions, TrainConfig } from './config';
export { imageFolderSource, inMemorySource } from './source';
export type { ImageSource } from './source';
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
export { NonFiniteLossError, planTraining, train } from './train';
export type { TrainOptions, TrainPlan, TrainResult } from './train';
