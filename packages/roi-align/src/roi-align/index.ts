export { roiAlign, RoIAlign } from './roi-align';
export type { RoiAlignOptions, RoiAlignOutputSize } from './roi-align';
export { RoiAlign as RoiAlignKernelName, RoiAlignGrad as RoiAlignGradKernelName } from './kernel-names';
export type { RoiAlignAttrs } from './sampling';
