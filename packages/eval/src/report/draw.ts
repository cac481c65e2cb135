/**
 * Detections drawn over images, tiled into one PNG with sharp. Boxes and labels are drawn
 * into the pixel buffer here (a 3x5 bitmap font, scaled), so the picture does not depend on
 * the fonts installed on the machine.
 */
import sharp from 'sharp';
import type { RgbImage } from '@scrl/augment';

/** 3x5 glyphs, one string of 15 bits per character (rows top to bottom). */
const GLYPHS: Record<string, string> = {
  '0': '111101101101111', '1': '010110010010111', '2': '111001111100111', '3': '111001111001111',
  '4': '101101111001001', '5': '111100111001111', '6': '111100111101111', '7': '111001010010010',
  '8': '111101111101111', '9': '111101111001111', '.': '000000000000010', ':': '000010000010000',
  '-': '000000111000000', '_': '000000000000111', ' ': '000000000000000', '/': '001001010100100',
  '?': '111001011000010', A: '010101111101101', B: '110101110101110', C: '011100100100011',
  D: '110101101101110', E: '111100110100111', F: '111100110100100', G: '011100101101011',
  H: '101101111101101', I: '111010010010111', J: '001001001101010', K: '101101110101101',
  L: '100100100100111', M: '101111111101101', N: '110101101101101', O: '010101101101010',
  P: '110101110100100', Q: '010101101110011', R: '110101110101101', S: '011100010001110',
  T: '111010010010010', U: '101101101101111', V: '101101101101010', W: '101101111111101',
  X: '101101010101101', Y: '101101010010010', Z: '111001010100111',
};

/** A qualitative palette (Tableau 10), one colour per class index. */
export const CLASS_COLOURS: ReadonlyArray<readonly [number, number, number]> = [
  [31, 119, 180], [255, 127, 14], [44, 160, 44], [214, 39, 40], [148, 103, 189],
  [140, 86, 75], [227, 119, 194], [127, 127, 127], [188, 189, 34], [23, 190, 207],
];

function setPixel(im: RgbImage, x: number, y: number, c: readonly number[]): void {
  if (x < 0 || y < 0 || x >= im.width || y >= im.height) return;
  const i = (y * im.width + x) * 3;
  im.data[i] = c[0];
  im.data[i + 1] = c[1];
  im.data[i + 2] = c[2];
}

function fillRect(im: RgbImage, x: number, y: number, w: number, h: number, c: readonly number[]): void {
  for (let yy = y; yy < y + h; yy++) for (let xx = x; xx < x + w; xx++) setPixel(im, xx, yy, c);
}

/** Draws the outline of (x1, y1, x2, y2), `thickness` pixels wide, inside the box. */
export function drawBox(im: RgbImage, box: readonly number[], colour: readonly number[], thickness = 1): void {
  const x1 = Math.round(box[0]);
  const y1 = Math.round(box[1]);
  const x2 = Math.round(box[2]) - 1;
  const y2 = Math.round(box[3]) - 1;
  for (let t = 0; t < thickness; t++) {
    for (let x = x1; x <= x2; x++) {
      setPixel(im, x, y1 + t, colour);
      setPixel(im, x, y2 - t, colour);
    }
    for (let y = y1; y <= y2; y++) {
      setPixel(im, x1 + t, y, colour);
      setPixel(im, x2 - t, y, colour);
    }
  }
}

/** Width in pixels of `text` at `scale` (4 * scale per character, less the last gap). */
export function textWidth(text: string, scale = 1): number {
  return text.length === 0 ? 0 : (4 * text.length - 1) * scale;
}

/** Writes `text` (upper-cased; unknown characters as '?') with its top-left at (x, y) on a filled background. */
export function drawText(
  im: RgbImage,
  text: string,
  x: number,
  y: number,
  colour: readonly number[],
  background: readonly number[] | null = null,
  scale = 1,
): void {
  const s = text.toUpperCase();
  if (background) fillRect(im, x - scale, y - scale, textWidth(s, scale) + 2 * scale, 7 * scale, background);
  for (let n = 0; n < s.length; n++) {
    const glyph = GLYPHS[s[n]] ?? GLYPHS['?'];
    for (let r = 0; r < 5; r++) {
      for (let c = 0; c < 3; c++) {
        if (glyph[r * 3 + c] === '1') fillRect(im, x + (4 * n + c) * scale, y + r * scale, scale, scale, colour);
      }
    }
  }
}

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
  if (items.length === 0) throw new Error(`${fn}: items is empty; pass at least one image.`);
  const minScore = options.minScore ?? 0.3;
  const columns = Math.max(1, Math.min(options.columns ?? 4, items.length));
  const gap = options.gap ?? 4;
  const maxW = Math.max(...items.map((it) => it.image.width));
  const upscale = options.upscale ?? Math.max(1, Math.round(256 / maxW));
  const tiles = items.map((it, i) => {
    if (it.boxes.length !== it.labels.length || (it.scores && it.scores.length !== it.labels.length)) {
      throw new Error(`${fn}: item ${i} has ${it.boxes.length} boxes, ${it.labels.length} labels and ${it.scores?.length ?? 'no'} scores; they must match.`);
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
  tiles.forEach((t, i) => {
    const ox = gap + (i % columns) * (tileW + gap);
    const oy = gap + Math.floor(i / columns) * (tileH + gap);
    for (let y = 0; y < t.height; y++) {
      canvas.data.set(t.data.subarray(y * t.width * 3, (y + 1) * t.width * 3), ((oy + y) * width + ox) * 3);
    }
  });
  let lx = gap;
  const ly = height - legendH + 3;
  options.classNames.forEach((name, c) => {
    const colour = CLASS_COLOURS[c % CLASS_COLOURS.length];
    fillRect(canvas, lx, ly, 5, 5, colour);
    drawText(canvas, name, lx + 7, ly, [0, 0, 0]);
    lx += 7 + textWidth(name.toUpperCase()) + 8;
  });
  return sharp(Buffer.from(canvas.data.buffer, canvas.data.byteOffset, canvas.data.byteLength), {
    raw: { width, height, channels: 3 },
  })
    .png()
    .toBuffer();
}
