/**
 * Plain-data shapes shared by the view pipeline, box sampling and the data loader. They cross
 * worker-thread boundaries, so they hold numbers and typed arrays only.
 */

/** Where a view came from, in original-image pixels (Lightly's crop-with-location idea). */
export interface ViewGeometry {
  top: number;
  left: number;
  height: number;
  width: number;
  /** True when the crop was mirrored left-right after cropping. */
  flipped: boolean;
}

/** `(x1, y1, x2, y2)` in pixels of a view (or of an image, where said). */
export type Box = [number, number, number, number];

/** One matched box: the same image region as seen in view 1 and in view 2. */
export interface BoxPair {
  view1: Box;
  view2: Box;
}

/** Packed 8-bit RGB pixels, row-major HWC (3 channels). */
export interface RgbImage {
  data: Uint8Array;
  width: number;
  height: number;
}

/** One augmented view: `size x size x 3` normalised float pixels (HWC) and its geometry. */
export interface View {
  pixels: Float32Array;
  size: number;
  geometry: ViewGeometry;
}
