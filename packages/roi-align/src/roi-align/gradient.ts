/**
 * Gradient of RoiAlign: the input gradient is the RoiAlignGrad kernel (dy scattered back with
 * the forward's bilinear weights). Boxes and box indices get zeros: like torchvision, RoIAlign
 * is not differentiated with respect to box coordinates.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { GradConfig, NamedAttrMap, NamedTensorMap } from '@tensorflow/tfjs-core';
import { RoiAlign, RoiAlignGrad, type RoiAlignGradAttrs } from './kernel-names';

export const roiAlignGradConfig: GradConfig = {
  kernelName: RoiAlign,
  inputsToSave: ['x', 'boxes', 'boxIndices'],
  gradFunc: (dy: tf.Tensor | tf.Tensor[], saved: tf.Tensor[], attrs: NamedAttrMap) => {
    const [x, boxes, boxIndices] = saved;
    const gradAttrs = { ...attrs, inputShape: x.shape } as RoiAlignGradAttrs;
    return {
      x: () =>
        tf.engine().runKernel(
          RoiAlignGrad,
          { dy: dy as tf.Tensor, boxes, boxIndices } as unknown as NamedTensorMap,
          gradAttrs,
        ) as tf.Tensor,
      boxes: () => tf.zeros(boxes.shape, 'float32'),
      boxIndices: () => tf.zeros(boxIndices.shape, 'float32'),
    };
  },
};
