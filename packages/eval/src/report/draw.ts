/**
 * Detections drawn over images, tiled into one PNG with sharp. Boxes and labels are drawn
 * into the pixel buffer with @scrl/util's raster helpers (a 3x5 bitmap font, scaled), so the
 * picture does not depend on the fonts installed on the machine.
 */
import sharp from 'sharp';
import type { RgbImage } from '@scrl/augment';
import { blit, drawBox, drawText, fillRect, textWidth, ScrlError } from '@scrl/util';

// Public names of this package since before the helpers moved to @scrl/util.
export { drawBox, drawText, textWidth };

/** A qualitative palette (Tableau 10), one colour per class index. */
export const CLASS_COLOURS: ReadonlyArray<readonly [number, number, number]> = [
  [31, 119, 180], [255, 127, 14], [44, 160, 44], [214, 39, 40], [148, 103, 189],
  [140, 86, 75], [227, 119, 194], [127, 127, 127], [188, 189, 34], [23, 190, 207],
];

/** Detections (or ground truth, with no scores) of one image, boxes (x1, y1, x2, y2) in its pixels. */
export interface ImageDetections {
  image: RgbImage;
  boxes: ReadonlyArray<readonly number[]>;
  labels: readonly number[];
  scores?: readonly number[];
}

export interface DrawDetectionsOptions {
  /** Class names by label index, for the labels and the legend. */
  classNames: readonly string[];
  /** Detections below this score are not drawn (default 0.3). */
  minScore?: number;
  /** Images per row of the grid (default 4). */
  columns?: number;
  /** Each image is scaled (nearest) by this integer factor first (default: to about 256 px wide). */
  upscale?: number;
  /** Pixels between tiles (default 4). */
  gap?: number;
}

/**
 * Draws boxes with "class score" labels over each image and tiles the results into a PNG
 * grid (row-major, `columns` per row) with a legend strip listing the class colours.
 * Returns the PNG bytes.
 */
export async function drawDetections(items: ImageDetections[], options: DrawDetectionsOptions): Promise<Buffer> {
  const fn = 'drawDetections';
  if (items.length === 0) throw new ScrlError(`Error in ${fn}: items is empty; pass at least one image.`);
  const minScore = options.minScore ?? 0.3;
  const columns = Math.max(1, Math.min(options.columns ?? 4, items.length));
  const gap = options.gap ?? 4;
  const maxW = Math.max(...items.map((it) => it.image.width));
  const upscale = options.upscale ?? Math.max(1, Math.round(256 / maxW));
  const tiles = items.map((it, i) => {
    if (it.boxes.length !== it.labels.length || (it.scores && it.scores.length !== it.labels.length)) {
      throw new ScrlError(`Error in ${fn}: item ${i} has ${it.boxes.length} boxes, ${it.labels.length} labels and ${it.scores?.length ?? 'no'} scores; they must match.`);
    }
    const w = it.image.width * upscale;
    const h = it.image.height * upscale;
    const tile: RgbImage = { data: new Uint8Array(w * h * 3), width: w, height: h };
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        const src = (Math.floor(y / upscale) * it.image.width + Math.floor(x / upscale)) * 3;
        tile.data.set(it.image.data.subarray(src, src + 3), (y * w + x) * 3);
      }
    }
    // Lowest score first, so the best detections end up on top.
    const order = it.labels.map((_, j) => j).sort((a, b) => (it.scores?.[a] ?? 1) - (it.scores?.[b] ?? 1));
    for (const j of order) {
      const score = it.scores?.[j];
      if (score !== undefined && score < minScore) continue;
      const colour = CLASS_COLOURS[it.labels[j] % CLASS_COLOURS.length];
      const box = it.boxes[j].map((v) => v * upscale);
      drawBox(tile, box, colour, 2);
      const name = options.classNames[it.labels[j]] ?? String(it.labels[j]);
      const label = score === undefined ? name : `${name} ${score.toFixed(2)}`;
      // Labels at twice the font size once images are upscaled enough to hold them.
      const ts = upscale >= 3 ? 2 : 1;
      const ty = Math.max(ts, Math.round(box[1]) - 7 * ts);
      drawText(tile, label, Math.max(ts, Math.round(box[0]) + ts), ty, [255, 255, 255], colour, ts);
    }
    return tile;
  });
  const tileW = Math.max(...tiles.map((t) => t.width));
  const tileH = Math.max(...tiles.map((t) => t.height));
  const rows = Math.ceil(tiles.length / columns);
  const legendH = 12;
  const width = columns * tileW + (columns + 1) * gap;
  const height = rows * tileH + (rows + 1) * gap + legendH;
  const canvas: RgbImage = { data: new Uint8Array(width * height * 3).fill(255), width, height };
  tiles.forEach((t, i) => blit(canvas, t, gap + (i % columns) * (tileW + gap), gap + Math.floor(i / columns) * (tileH + gap)));
  let lx = gap;
  const ly = height - legendH + 3;
  options.classNames.forEach((name, c) => {
    const colour = CLASS_COLOURS[c % CLASS_COLOURS.length];
    fillRect(canvas, lx, ly, lx + 5, ly + 5, colour);
    drawText(canvas, name, lx + 7, ly, [0, 0, 0]);
    lx += 7 + textWidth(name.toUpperCase()) + 8;
  });
  return sharp(Buffer.from(canvas.data.buffer, canvas.data.byteOffset, canvas.data.byteLength), {
    raw: { width, height, channels: 3 },
  })
    .png()
    .toBuffer();
}
