/**
 * A loss-curve chart drawn into a raw RGB buffer (axes, ticks, numeric labels in @scrl/util's
 * bitmap font), encoded as PNG with sharp. No fonts or canvas needed.
 */
import sharp from 'sharp';
import { drawLine as line, drawText, textWidth, ScrlError } from '@scrl/util';
import type { RgbCanvas } from '@scrl/util';

export type { RgbCanvas } from '@scrl/util';

export interface LossCurveOptions {
  /** Image width in pixels (default 640). */
  width?: number;
  /** Image height in pixels (default 400). */
  height?: number;
  /** Line colour (default dark blue). */
  color?: [number, number, number];
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
    throw new ScrlError(`Error in renderLossCurve: width and height must be integers >= 120 x 80 but got ${width} x ${height}.`);
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
    drawText(c, label, Math.round(x - textWidth(label) / 2), bottom + 7, black);
  }
  const ys = niceStep(y1 - y0, 5);
  for (let v = Math.ceil(y0 / ys) * ys; v <= y1 + 1e-9 * ys; v += ys) {
    const y = py(v);
    line(c, left, y, right, y, grey);
    line(c, left - 4, y, left, y, black);
    const label = formatTick(v, ys);
    drawText(c, label, left - 7 - textWidth(label), Math.round(y - 2), black);
  }
  line(c, left, top, left, bottom, black);
  line(c, left, bottom, right, bottom, black);
  drawText(c, 'step', Math.round((left + right) / 2 - textWidth('step') / 2), height - 11, black);
  drawText(c, 'loss', 4, 4, black);

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
