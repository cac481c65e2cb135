/**
 * Tensor form of a batch's box pairs for `roiAlign`. TF.js is loaded only when this is called,
 * so importing @scrl/augment in a worker thread does not load it.
 */
import type * as tfc from '@tensorflow/tfjs-core';
import type { BoxPair } from './types';
import { boxPairBatchArrays } from './boxes';

/** Box pairs of a batch of B images whose views are stacked `[view 1 of 0..B-1, view 2 of 0..B-1]`. */
export interface BoxPairBatch {
  /** `[2P, 4]` float32 `(x1, y1, x2, y2)` in view pixels: the P view-1 boxes, then the P view-2 boxes. */
  boxes: tfc.Tensor2D;
  /** `[2P]` int32: the view-1 box of image i -> i, its view-2 box -> B + i. */
  boxIndices: tfc.Tensor1D;
  /** P (may be 0: then both tensors are empty, with shapes [0, 4] and [0]). */
  numPairs: number;
  /** `[P]`: the image each pair comes from. */
  pairImage: Int32Array;
}

/**
 * Packs `pairsPerImage[i]` (the pairs of image i, from `sampleBoxPairs`) into the `boxes` and
 * `boxIndices` tensors that `roiAlign` takes over the stacked views. The caller owns (disposes)
 * the two tensors.
 */
export function boxPairBatch(pairsPerImage: BoxPair[][]): BoxPairBatch {
  const a = boxPairBatchArrays(pairsPerImage);
  // Loading @scrl/roi-align registers TF.js's gradients, as every @scrl tensor path does.
  require('@scrl/roi-align');
  const tf = require('@tensorflow/tfjs-core') as typeof tfc;
  const P = a.numPairs;
  return {
    boxes: tf.tensor2d(a.boxes, [2 * P, 4], 'float32'),
    boxIndices: tf.tensor1d(a.boxIndices, 'int32'),
    numPairs: P,
    pairImage: a.pairImage,
  };
}
