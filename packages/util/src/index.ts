/**
 * @scrl/util: the small helpers every @scrl package shares, kept in one place: the seeded
 * random generators and raster drawing. No TF.js, no native modules: it runs in any thread.
 */
export { createRng, mulberry32, mulberry32Open, mulberry32Uint32, normalSampler, restoreRng, Sfc32Generator } from './rng';
export type { Rng, RngState } from './rng';
export { blit, drawBox, drawLine, drawText, fillRect, FONT_HEIGHT, setPixel, textWidth } from './raster';
export type { RgbCanvas } from './raster';
export { NonFiniteLossError, ScrlError } from './errors';
