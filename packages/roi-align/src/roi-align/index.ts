export { roiAlign, RoIAlign } from './roi_align';
export type { RoiAlignOptions, RoiAlignOutputSize } from './roi_align';
export { RoiAlign as RoiAlignKernelName, RoiAlignGrad as RoiAlignGradKernelName } from './kernel_names';
export type { RoiAlignAttrs } from './sampling';
