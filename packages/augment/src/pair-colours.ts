/** The colours matched box pairs are drawn in (renderBoxPairs, the browser page): one per pair, cycled. */
export type Rgb = [number, number, number];

/** Distinct colours for pairs (cycled). */
export const PAIR_COLOURS: Rgb[] = [
  [230, 25, 75], [60, 180, 75], [255, 225, 25], [0, 130, 200], [245, 130, 48],
  [145, 30, 180], [70, 240, 240], [240, 50, 230], [210, 245, 60], [250, 190, 212],
  [0, 128, 128], [170, 110, 40], [128, 0, 0], [170, 255, 195], [0, 0, 128],
];
