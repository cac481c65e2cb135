/** Kernel names and attribute types of RoIAlign, in the style of tfjs-core's kernel_names.ts. */
import type { NamedAttrMap, TensorInfo } from '@tensorflow/tfjs-core';
import type { RoiAlignAttrs } from './sampling';

export const RoiAlign = 'RoiAlign';
export type RoiAlignInputs = { x: TensorInfo; boxes: TensorInfo; boxIndices: TensorInfo };
export type RoiAlignKernelAttrs = RoiAlignAttrs & NamedAttrMap;

export const RoiAlignGrad = 'RoiAlignGrad';
export type RoiAlignGradInputs = { dy: TensorInfo; boxes: TensorInfo; boxIndices: TensorInfo };
/** The forward attributes plus the NHWC shape of the input whose gradient is computed. */
export type RoiAlignGradAttrs = RoiAlignKernelAttrs & { inputShape: number[] };
