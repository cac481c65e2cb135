/**
 * @scrl/trainer for browsers (the `browser` condition of the exports map): what a training loop
 * needs and nothing that touches files or processes. The SCRL/BYOL steps and networks, the
 * presets and config validation, LARS, the schedules, EMA and gradient accumulation. The
 * Node entry adds `train()`, checkpoints, metrics files, config files, loss-curve PNGs and the
 * data loader's sources.
 */
import '@scrl/roi-align';

export { copyModuleState, GradientAccumulator, Lars, learningRateAt, momentumAt, scaledLearningRate, updateMomentum } from '@scrl/optim';
export type { LarsConfig, LarsOptions, LarsState, LearningRateSchedule } from '@scrl/optim';
export { decodeSafetensors, encodeSafetensors } from '@scrl/models';
export type { TensorDict, TensorRecord } from '@scrl/models';
export { applyOverrides, PRESET_NAMES, presetConfig, trainConfigSchema, validateConfig } from './config';
export type { PresetName, TrainConfig } from './config';
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
export { NonFiniteLossError, ScrlError } from '@scrl/util';
export { byolStep, createPretrainModel, disposePretrainModel, pretrainStep, scrlStep } from './step';
export type { PretrainBatch, PretrainModel, StepOptions, StepResult } from './step';
