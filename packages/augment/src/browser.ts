/**
 * @scrl/augment for browsers (the `browser` condition of the exports map): everything but
 * `renderBoxPairs`, which encodes PNGs with sharp; a page draws pairs on a canvas with
 * `PAIR_COLOURS`.
 *
 * @scrl/augment: views that know their geometry, and SCRL's matched box pairs.
 *
 * Importing this package does not load TF.js (only `boxPairBatch` does, when called), so the
 * per-image path (`createViewPipeline`, `sampleBoxPairs`, `createRng`) runs in worker threads.
 */
export type { Box, BoxPair, RgbImage, View, ViewGeometry } from './types';
export { createRng, restoreRng } from '@scrl/util';
export type { Rng, RngState } from '@scrl/util';
export {
  BOX_PAIR_DEFAULTS,
  boxPairBatchArrays,
  overlapFrame,
  pairIou,
  resolveBoxPairOptions,
  roundHalfEven,
  sampleBoxPairs,
  viewBoxToImage,
} from './boxes';
export type { BoxPairBatchArrays, BoxPairOptions, OverlapFrame, ResolvedBoxPairOptions } from './boxes';
export { boxPairBatch } from './batch';
export type { BoxPairBatch } from './batch';
export { randomResizedCropParams } from './crop';
export type { CropParams } from './crop';
export {
  adjustBrightness,
  adjustContrast,
  adjustHue,
  adjustSaturation,
  flipHorizontal,
  gaussianBlur,
  gaussianKernel,
  meanLuma,
  normalize,
  solarize,
  toGrayscale,
} from './colour';
export { resampleBicubic, resampleBicubicJs } from './resample';
export type { Region } from './resample';
export { VIEW_PIPELINE_DEFAULTS, createViewPipeline, cropResize, resizeBlur, resolveViewPipelineOptions } from './pipeline';
export type {
  ResolvedViewPipelineOptions,
  ViewDecisions,
  ViewPipeline,
  ViewPipelineOptions,
  ViewProbabilities,
} from './pipeline';
export { PAIR_COLOURS } from './pair-colours';
