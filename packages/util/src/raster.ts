/**
 * Drawing into packed RGB buffers: pixels, filled and outlined rectangles, lines and text in a
 * 3x5 bitmap font. The loss curve (@scrl/trainer), the detection pictures (@scrl/eval) and the
 * box-pair pictures (@scrl/augment) all draw with these, so a picture never depends on the
 * fonts installed on the machine. Coordinates are pixels, x to the right, y down; anything
 * outside the canvas is clipped.
 */

/** A packed 8-bit RGB raster (the same shape as @scrl/augment's `RgbImage`). */
export interface RgbCanvas {
  width: number;
  height: number;
  /** Row-major RGB, 3 bytes per pixel. */
  data: Uint8Array;
}

/** 3x5 glyphs, one string of 15 bits per character (rows top to bottom). */
const GLYPHS: Record<string, string> = {
  '0': '111101101101111', '1': '010110010010111', '2': '111001111100111', '3': '111001111001111',
  '4': '101101111001001', '5': '111100111001111', '6': '111100111101111', '7': '111001010010010',
  '8': '111101111101111', '9': '111101111001111', '.': '000000000000010', ':': '000010000010000',
  '-': '000000111000000', '_': '000000000000111', ' ': '000000000000000', '/': '001001010100100',
  '+': '000010111010000', '?': '111001011000010', A: '010101111101101', B: '110101110101110',
  C: '011100100100011', D: '110101101101110', E: '111100110100111', F: '111100110100100',
  G: '011100101101011', H: '101101111101101', I: '111010010010111', J: '001001001101010',
  K: '101101110101101', L: '100100100100111', M: '101111111101101', N: '110101101101101',
  O: '010101101101010', P: '110101110100100', Q: '010101101110011', R: '110101110101101',
  S: '011100010001110', T: '111010010010010', U: '101101101101111', V: '101101101101010',
  W: '101101111111101', X: '101101010101101', Y: '101101010010010', Z: '111001010100111',
};

/** Glyph height in font pixels (each glyph is 3 wide, 5 high, with 1 pixel between characters). */
export const FONT_HEIGHT = 5;

/** Sets the pixel nearest to (x, y), if it is on the canvas. */
export function setPixel(c: RgbCanvas, x: number, y: number, rgb: readonly number[]): void {
  x = Math.round(x);
  y = Math.round(y);
  if (x < 0 || y < 0 || x >= c.width || y >= c.height) return;
  const i = (y * c.width + x) * 3;
  c.data[i] = rgb[0];
  c.data[i + 1] = rgb[1];
  c.data[i + 2] = rgb[2];
}

/** Fills the pixels of `[x0, x1) x [y0, y1)` (fractional corners widen the rectangle outward). */
export function fillRect(c: RgbCanvas, x0: number, y0: number, x1: number, y1: number, rgb: readonly number[]): void {
  const xa = Math.max(0, Math.floor(x0));
  const ya = Math.max(0, Math.floor(y0));
  const xb = Math.min(c.width, Math.ceil(x1));
  const yb = Math.min(c.height, Math.ceil(y1));
  for (let y = ya; y < yb; y++) {
    for (let x = xa; x < xb; x++) {
      const p = (y * c.width + x) * 3;
      c.data[p] = rgb[0];
      c.data[p + 1] = rgb[1];
      c.data[p + 2] = rgb[2];
    }
  }
}

/**
 * Outlines the box `(x1, y1, x2, y2)` (corners rounded to pixels), `thickness` pixels wide,
 * inside the box: the pixels of `[x1, x2) x [y1, y2)` within `thickness` of its edge.
 */
export function drawBox(c: RgbCanvas, box: ArrayLike<number>, rgb: readonly number[], thickness = 1): void {
  const l = Math.round(box[0]);
  const top = Math.round(box[1]);
  const r = Math.round(box[2]);
  const b = Math.round(box[3]);
  const t = thickness;
  fillRect(c, l, top, r, top + t, rgb);
  fillRect(c, l, b - t, r, b, rgb);
  fillRect(c, l, top, l + t, b, rgb);
  fillRect(c, r - t, top, r, b, rgb);
}

/** A one-pixel line between the rounded end points (Bresenham). */
export function drawLine(c: RgbCanvas, x0: number, y0: number, x1: number, y1: number, rgb: readonly number[]): void {
  x0 = Math.round(x0);
  y0 = Math.round(y0);
  x1 = Math.round(x1);
  y1 = Math.round(y1);
  const dx = Math.abs(x1 - x0);
  const dy = -Math.abs(y1 - y0);
  const sx = x0 < x1 ? 1 : -1;
  const sy = y0 < y1 ? 1 : -1;
  let err = dx + dy;
  for (;;) {
    setPixel(c, x0, y0, rgb);
    if (x0 === x1 && y0 === y1) return;
    const e2 = 2 * err;
    if (e2 >= dy) {
      err += dy;
      x0 += sx;
    }
    if (e2 <= dx) {
      err += dx;
      y0 += sy;
    }
  }
}

/** Width in pixels of `text` at `scale` (4 * scale per character, less the last gap). */
export function textWidth(text: string, scale = 1): number {
  return text.length === 0 ? 0 : (4 * text.length - 1) * scale;
}

/**
 * Writes `text` (upper-cased; characters the font lacks as '?') with its top-left at (x, y),
 * each font pixel `scale` pixels wide, on a filled `background` box when one is given.
 */
export function drawText(
  c: RgbCanvas,
  text: string,
  x: number,
  y: number,
  rgb: readonly number[],
  background: readonly number[] | null = null,
  scale = 1,
): void {
  const s = text.toUpperCase();
  if (background) fillRect(c, x - scale, y - scale, x + textWidth(s, scale) + scale, y + 6 * scale, background);
  for (let n = 0; n < s.length; n++) {
    const glyph = GLYPHS[s[n]] ?? GLYPHS['?'];
    for (let r = 0; r < FONT_HEIGHT; r++) {
      for (let col = 0; col < 3; col++) {
        if (glyph[r * 3 + col] === '1') {
          const px = x + (4 * n + col) * scale;
          const py = y + r * scale;
          fillRect(c, px, py, px + scale, py + scale, rgb);
        }
      }
    }
  }
}

/** Copies `src` into `dst` with its top-left at (ox, oy); `src` must fit. */
export function blit(dst: RgbCanvas, src: RgbCanvas, ox: number, oy: number): void {
  for (let y = 0; y < src.height; y++) {
    dst.data.set(src.data.subarray(y * src.width * 3, (y + 1) * src.width * 3), ((oy + y) * dst.width + ox) * 3);
  }
}
