/**
 * A picture of matched box pairs: the original image with both crops outlined, and the two
 * views side by side with each pair drawn in its own colour. Drawn into raw RGB buffers and
 * encoded as PNG with sharp.
 */
import sharp from 'sharp';
import { writeFile } from 'node:fs/promises';
import { blit, drawBox, fillRect, type RgbCanvas as Canvas, ScrlError } from '@scrl/util';
import type { BoxPair, RgbImage, View } from './types';
import { PAIR_COLOURS, type Rgb } from './pair-colours';

export interface RenderBoxPairsInput {
  /** The original image the views were cut from. */
  image: RgbImage;
  /** View 1 and view 2 as the pipeline returned them (normalised pixels and geometry). */
  views: [View, View];
  /** Pairs from `sampleBoxPairs(views[0].geometry, views[1].geometry, ...)`. */
  pairs: BoxPair[];
  /** Normalisation to undo for display. Default ImageNet's mean and std. */
  mean?: [number, number, number];
  std?: [number, number, number];
  /** Display magnification of the views. Default 2. */
  viewScale?: number;
  /** Where to write the PNG; omitted: only return it. */
  file?: string;
}

export { PAIR_COLOURS };
const VIEW1_COLOUR: Rgb = [255, 120, 0];
const VIEW2_COLOUR: Rgb = [0, 170, 255];

/** Normalised HWC floats back to bytes, magnified `k` times (nearest neighbour). */
function viewToCanvas(v: View, mean: number[], std: number[], k: number): Canvas {
  const S = v.size;
  const W = S * k;
  const out = new Uint8Array(W * W * 3);
  for (let y = 0; y < W; y++) {
    const sy = Math.floor(y / k);
    for (let x = 0; x < W; x++) {
      const s = (sy * S + Math.floor(x / k)) * 3;
      const d = (y * W + x) * 3;
      for (let c = 0; c < 3; c++) {
        const val = (v.pixels[s + c] * std[c] + mean[c]) * 255;
        out[d + c] = val < 0 ? 0 : val > 255 ? 255 : Math.round(val);
      }
    }
  }
  return { data: out, width: W, height: W };
}

/**
 * Draws the original image (both crops outlined: view 1 orange, view 2 blue) beside the two
 * views (framed in their crop's colour), each matched pair in the same colour in both views.
 * Returns the PNG bytes and writes them to `file` when given.
 */
export async function renderBoxPairs(input: RenderBoxPairsInput): Promise<Buffer> {
  const { image, views, pairs } = input;
  if (!image || !(image.data instanceof Uint8Array) || image.data.length !== image.width * image.height * 3) {
    throw new ScrlError('Error in renderBoxPairs: image must be an RgbImage (packed 8-bit RGB, data.length = width * height * 3).');
  }
  if (!Array.isArray(views) || views.length !== 2 || views.some((v) => !v || !(v.pixels instanceof Float32Array))) {
    throw new ScrlError('Error in renderBoxPairs: views must be [view1, view2] as returned by ViewPipeline.viewPair.');
  }
  if (!Array.isArray(pairs)) throw new ScrlError(`Error in renderBoxPairs: pairs must be an array of BoxPair, got ${typeof pairs}.`);
  const mean = input.mean ?? [0.485, 0.456, 0.406];
  const std = input.std ?? [0.229, 0.224, 0.225];
  const k = input.viewScale ?? 2;
  if (!(Number.isInteger(k) && k >= 1)) throw new ScrlError(`Error in renderBoxPairs: viewScale must be a positive integer, got ${k}.`);

  const margin = 12;
  const frame = 4;
  const panels = views.map((v) => viewToCanvas(v, mean, std, k));
  const panelH = panels[0].height;
  // Original, scaled to the views' displayed height.
  const z = panelH / image.height;
  const ow = Math.max(1, Math.round(image.width * z));
  const origBuf = await sharp(image.data, { raw: { width: image.width, height: image.height, channels: 3 } })
    .resize(ow, panelH, { kernel: 'cubic', fit: 'fill' })
    .raw()
    .toBuffer();
  const orig: Canvas = { data: new Uint8Array(origBuf.buffer, origBuf.byteOffset, origBuf.length), width: ow, height: panelH };
  views.forEach((v, i) => {
    const g = v.geometry;
    drawBox(orig, [g.left * z, g.top * z, (g.left + g.width) * z, (g.top + g.height) * z], i === 0 ? VIEW1_COLOUR : VIEW2_COLOUR, 3);
  });
  pairs.forEach((pair, j) => {
    const rgb = PAIR_COLOURS[j % PAIR_COLOURS.length];
    for (const [i, box] of [pair.view1, pair.view2].entries()) {
      drawBox(panels[i], [box[0] * k, box[1] * k, box[2] * k, box[3] * k], rgb, 3);
    }
  });

  const width = margin * 4 + ow + 2 * (panels[0].width + 2 * frame);
  const height = margin * 2 + panelH + 2 * frame;
  const canvas: Canvas = { data: new Uint8Array(width * height * 3).fill(255), width, height };
  blit(canvas, orig, margin, margin + frame);
  let x = margin * 2 + ow;
  panels.forEach((p, i) => {
    fillRect(canvas, x, margin, x + p.width + 2 * frame, margin + p.height + 2 * frame, i === 0 ? VIEW1_COLOUR : VIEW2_COLOUR);
    blit(canvas, p, x + frame, margin + frame);
    x += p.width + 2 * frame + margin;
  });
  const png = await sharp(canvas.data, { raw: { width, height, channels: 3 } }).png().toBuffer();
  if (input.file) await writeFile(input.file, png);
  return png;
}
