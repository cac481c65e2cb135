/**
 * @scrl/roi-align for browsers (the `browser` condition of the package's exports map): the same
 * surface as the Node entry less `initBackend` and its helpers, which load backend packages
 * from node_modules. A page imports its TF.js backends itself, *before* this package (so that
 * our training kernels, registered on import, win over the backends' stock ones), and calls
 * `tf.setBackend`. RoIAlign has kernels for cpu, wasm, webgl and webgpu.
 */
import './runtime/tfjs-runtime';
import './training-kernels/register';

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
