/**
 * A loss-curve chart drawn into a raw RGB buffer (axes, ticks, numeric labels in a 5x7 bitmap
 * font), encoded as PNG with sharp. No fonts or canvas needed.
 */
import sharp from 'sharp';

export interface RgbCanvas {
  width: number;
  height: number;
  /** Row-major RGB, 3 bytes per pixel. */
  data: Uint8Array;
}

export interface LossCurveOptions {
  /** Image width in pixels (default 640). */
  width?: number;
  /** Image height in pixels (default 400). */
  height?: number;
  /** Line colour (default dark blue). */
  color?: [number, number, number];
}

// 5x7 glyphs, one string of 5 bits per row.
const GLYPHS: Record<string, string[]> = {
  '0': ['01110', '10001', '10011', '10101', '11001', '10001', '01110'],
  '1': ['00100', '01100', '00100', '00100', '00100', '00100', '01110'],
  '2': ['01110', '10001', '00001', '00010', '00100', '01000', '11111'],
  '3': ['11110', '00001', '00001', '01110', '00001', '00001', '11110'],
  '4': ['00010', '00110', '01010', '10010', '11111', '00010', '00010'],
  '5': ['11111', '10000', '11110', '00001', '00001', '10001', '01110'],
  '6': ['00110', '01000', '10000', '11110', '10001', '10001', '01110'],
  '7': ['11111', '00001', '00010', '00100', '01000', '01000', '01000'],
  '8': ['01110', '10001', '10001', '01110', '10001', '10001', '01110'],
  '9': ['01110', '10001', '10001', '01111', '00001', '00010', '01100'],
  '.': ['00000', '00000', '00000', '00000', '00000', '01100', '01100'],
  '-': ['00000', '00000', '00000', '11111', '00000', '00000', '00000'],
  '+': ['00000', '00100', '00100', '11111', '00100', '00100', '00000'],
  e: ['00000', '00000', '01110', '10001', '11111', '10000', '01110'],
  s: ['00000', '00000', '01111', '10000', '01110', '00001', '11110'],
  t: ['01000', '01000', '11100', '01000', '01000', '01001', '00110'],
  p: ['00000', '00000', '11110', '10001', '11110', '10000', '10000'],
  l: ['01100', '00100', '00100', '00100', '00100', '00100', '01110'],
  o: ['00000', '00000', '01110', '10001', '10001', '10001', '01110'],
  k: ['10000', '10000', '10010', '10100', '11000', '10100', '10010'],
  ' ': ['00000', '00000', '00000', '00000', '00000', '00000', '00000'],
};

function setPixel(c: RgbCanvas, x: number, y: number, rgb: readonly number[]): void {
  x = Math.round(x);
  y = Math.round(y);
  if (x < 0 || y < 0 || x >= c.width || y >= c.height) return;
  const i = (y * c.width + x) * 3;
  c.data[i] = rgb[0];
  c.data[i + 1] = rgb[1];
  c.data[i + 2] = rgb[2];
}

function line(c: RgbCanvas, x0: number, y0: number, x1: number, y1: number, rgb: readonly number[]): void {
  // Bresenham on rounded endpoints.
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

/** Width in pixels of `text` at 1 px per font pixel (6 px per character). */
function textWidth(text: string): number {
  return text.length * 6 - 1;
}

function text(c: RgbCanvas, s: string, x: number, y: number, rgb: readonly number[]): void {
  for (let k = 0; k < s.length; k++) {
    const glyph = GLYPHS[s[k]] ?? GLYPHS[' '];
    for (let r = 0; r < 7; r++) {
      for (let col = 0; col < 5; col++) if (glyph[r][col] === '1') setPixel(c, x + k * 6 + col, y + r, rgb);
    }
  }
}

/** A "nice" tick spacing (1, 2 or 5 times a power of ten) giving about `count` ticks. */
function niceStep(range: number, count: number): number {
  const raw = range / count;
  const p = Math.pow(10, Math.floor(Math.log10(raw)));
  const f = raw / p;
  return (f < 1.5 ? 1 : f < 3.5 ? 2 : f < 7.5 ? 5 : 10) * p;
}

function formatTick(v: number, step: number): string {
  if (Math.abs(v) >= 1e5) return v.toExponential(1).replace('e+', 'e');
  const decimals = Math.max(0, -Math.floor(Math.log10(step) + 1e-9));
  return v.toFixed(decimals);
}

/**
 * Draws `points` (loss against step) as a line chart: white background, black axes with
 * ticks and numbers, grey grid, the curve in `color`. Non-finite losses are skipped.
 */
export function renderLossCurve(points: Array<{ step: number; loss: number }>, options: LossCurveOptions = {}): RgbCanvas {
  const width = options.width ?? 640;
  const height = options.height ?? 400;
  if (!Number.isInteger(width) || !Number.isInteger(height) || width < 120 || height < 80) {
    throw new Error(`Error in renderLossCurve: width and height must be integers >= 120 x 80 but got ${width} x ${height}.`);
  }
  const color = options.color ?? [31, 78, 160];
  const c: RgbCanvas = { width, height, data: new Uint8Array(width * height * 3).fill(255) };
  const pts = points.filter((p) => Number.isFinite(p.step) && Number.isFinite(p.loss));
  const left = 56;
  const right = width - 16;
  const top = 16;
  const bottom = height - 36;
  const black = [0, 0, 0];
  const grey = [225, 225, 225];

  let x0 = pts.length ? Math.min(...pts.map((p) => p.step)) : 0;
  let x1 = pts.length ? Math.max(...pts.map((p) => p.step)) : 1;
  let y0 = pts.length ? Math.min(...pts.map((p) => p.loss)) : 0;
  let y1 = pts.length ? Math.max(...pts.map((p) => p.loss)) : 1;
  if (x1 === x0) x1 = x0 + 1;
  if (y1 === y0) {
    y0 -= 0.5;
    y1 += 0.5;
  }
  const yPad = (y1 - y0) * 0.05;
  y0 -= yPad;
  y1 += yPad;
  const px = (s: number) => left + ((s - x0) / (x1 - x0)) * (right - left);
  const py = (v: number) => bottom - ((v - y0) / (y1 - y0)) * (bottom - top);

  const xs = niceStep(x1 - x0, 6);
  for (let v = Math.ceil(x0 / xs) * xs; v <= x1 + 1e-9 * xs; v += xs) {
    const x = px(v);
    line(c, x, top, x, bottom, grey);
    line(c, x, bottom, x, bottom + 4, black);
    const label = formatTick(v, xs);
    text(c, label, x - textWidth(label) / 2, bottom + 7, black);
  }
  const ys = niceStep(y1 - y0, 5);
  for (let v = Math.ceil(y0 / ys) * ys; v <= y1 + 1e-9 * ys; v += ys) {
    const y = py(v);
    line(c, left, y, right, y, grey);
    line(c, left - 4, y, left, y, black);
    const label = formatTick(v, ys);
    text(c, label, left - 7 - textWidth(label), y - 3, black);
  }
  line(c, left, top, left, bottom, black);
  line(c, left, bottom, right, bottom, black);
  text(c, 'step', (left + right) / 2 - textWidth('step') / 2, height - 11, black);
  text(c, 'loss', 4, 4, black);

  for (let i = 0; i < pts.length; i++) {
    const a = pts[Math.max(0, i - 1)];
    const b = pts[i];
    line(c, px(a.step), py(a.loss), px(b.step), py(b.loss), color);
    line(c, px(a.step), py(a.loss) + 1, px(b.step), py(b.loss) + 1, color);
  }
  return c;
}

/** Renders the loss curve and writes it as a PNG file. */
export async function writeLossCurvePng(
  file: string,
  points: Array<{ step: number; loss: number }>,
  options: LossCurveOptions = {},
): Promise<void> {
  const c = renderLossCurve(points, options);
  await sharp(Buffer.from(c.data.buffer, c.data.byteOffset, c.data.byteLength), {
    raw: { width: c.width, height: c.height, channels: 3 },
  })
    .png()
    .toFile(file);
}
