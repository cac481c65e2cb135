/**
 * @scrl/roi-align: RoIAlign with a gradient for TensorFlow.js (torchvision semantics), box ops,
 * and the runtime pieces every @scrl package shares: backend selection, TF.js gradient
 * registration, and the training kernels that TF.js backends lack.
 */
import './runtime/tfjs-runtime';
import './training-kernels/register';

export {
  BACKEND_CHOICES,
  BACKEND_ENV_VAR,
  currentBackend,
  describeBackend,
  initBackend,
  isBackendChoice,
  parseBackendChoice,
} from './runtime/backend';
export type { BackendChoice, BackendInfo, InitBackendOptions } from './runtime/backend';
export { ensureTfjsGradients } from './runtime/tfjs-runtime';
export { TRAINING_KERNELS, withStockKernels } from './training-kernels/registry';
export type { TrainingKernelInfo } from './training-kernels/registry';

export { RoIAlign, roiAlign } from './roi-align';
export type { RoiAlignAttrs, RoiAlignOptions, RoiAlignOutputSize } from './roi-align';
export { RoiAlignGradKernelName, RoiAlignKernelName } from './roi-align';
export {
  BOX_FORMATS,
  batchedNms,
  batchedNmsArray,
  boxArea,
  boxAreaArray,
  boxConvert,
  boxConvertArray,
  boxIou,
  boxIouArray,
  boxPairIou,
  clipBoxes,
  clipBoxesArray,
  nms,
  nmsArray,
} from './boxes';
export type { Box, BoxesLike, BoxFormat } from './boxes';
