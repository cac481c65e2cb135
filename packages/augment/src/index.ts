/**
 * @scrl/augment: views that know their geometry, and SCRL's matched box pairs.
 *
 * Importing this package does not load TF.js (only `boxPairBatch` does, when called), so the
 * per-image path (`createViewPipeline`, `sampleBoxPairs`, `createRng`) runs in worker threads.
 *
 * The Node entry is the browser entry (./browser) plus `renderBoxPairs`, which encodes PNGs
 * with sharp.
 */
export * from './browser';

export { renderBoxPairs } from './render';
export type { RenderBoxPairsInput } from './render';
