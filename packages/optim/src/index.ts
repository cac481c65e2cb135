/**
 * @scrl/optim: optimisers and schedules as building blocks, usable in any TF.js loop: LARS
 * (SCRL/BYOL pretraining), SGD with momentum (detection fine-tuning), the learning-rate and
 * EMA-momentum schedules, the EMA (BYOL target) update and gradient accumulation. Both
 * @scrl/trainer and @scrl/eval use these; nothing else in the monorepo writes an update rule.
 */
import '@scrl/roi-align';

export { Lars, onHost, setHostLoops } from './lars';
export type { LarsConfig, LarsOptions, LarsState } from './lars';
export { globalNorm, SgdMomentum } from './sgd';
export type { SgdOptions } from './sgd';
export { learningRateAt, momentumAt, multiStepLearningRateAt, scaledLearningRate } from './schedules';
export type { LearningRateSchedule, MultiStepSchedule } from './schedules';
export { copyModuleState, updateMomentum } from './ema';
export { GradientAccumulator } from './accumulate';
export { HeapUpdates, setOptimSimd } from './host-memory';
export type { HeapView } from './host-memory';
