/** @scrl/augment: views that know their geometry, and SCRL's matched box pairs. */
export type { Box, BoxPair, RgbImage, View, ViewGeometry } from './types';
