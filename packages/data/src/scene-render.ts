/**
 * Drawing one built-in scene: several textured objects of five classes on a textured, cluttered
 * background, with occlusion. Pure and deterministic: pixels depend only on (seed, index, size).
 * Only + - * / and sqrt (IEEE-exact) on floats: no trigonometry or exp (rotations come from
 * integer vectors), so the pixels do not depend on the platform's math library.
 */
import type { RgbImage } from '@scrl/augment';
import { ScenePrng } from './prng';

/** The object classes: each a distinct shape with a distinct texture; colours are random. */
export const SCENE_CLASSES: readonly string[] = ['striped-disc', 'checkered-square', 'dotted-triangle', 'ring', 'gradient-cross'];

type Rgb = [number, number, number];

interface PlacedObject {
  cls: number;
  cx: number;
  cy: number;
  r: number;
  /** Rotation as a unit vector. */
  ux: number;
  uy: number;
  /** Shape parameter: ring inner radius or cross arm half-width, in pixels. */
  shapeParam: number;
  colorA: Rgb;
  colorB: Rgb;
  /** Texture period (stripes, checker, dots), in pixels, and phase offsets. */
  period: number;
  offU: number;
  offV: number;
  /** Largest distance of any shape pixel from the centre. */
  extent: number;
}

/** One object as it appears in the rendered image. */
export interface SceneObject {
  /** Index into `SCENE_CLASSES`. */
  classIndex: number;
  /** Tight box of the object's *visible* pixels, COCO `[x, y, w, h]` (pixel edges). */
  bbox: [number, number, number, number];
  /** Visible pixels (what is left after occlusion by objects drawn later). */
  area: number;
  /** Tight box of the whole object, as if nothing covered it. */
  fullBbox: [number, number, number, number];
  /** Pixels of the whole object. */
  fullArea: number;
}

export interface RenderedScene {
  image: RgbImage;
  /** Objects in drawing order (later ones lie on top). */
  objects: SceneObject[];
}

export interface RenderSceneOptions {
  /** Image side in pixels (default 128). */
  size?: number;
  /** Objects per image, both inclusive (default 2 and 6). */
  minObjects?: number;
  maxObjects?: number;
  /** Smallest fraction of an object that must stay visible when later objects cover it (default 0.5). */
  minVisible?: number;
}

const clamp255 = (v: number) => (v < 0 ? 0 : v > 255 ? 255 : v | 0);

function randomColor(rng: ScenePrng): Rgb {
  return [rng.int(0, 255), rng.int(0, 255), rng.int(0, 255)];
}

/** Two colours far enough apart for a texture to show. */
function colorPair(rng: ScenePrng): [Rgb, Rgb] {
  for (;;) {
    const a = randomColor(rng);
    const b = randomColor(rng);
    if (Math.abs(a[0] - b[0]) + Math.abs(a[1] - b[1]) + Math.abs(a[2] - b[2]) >= 180) return [a, b];
  }
}

/** A random unit vector from an integer direction (no trigonometry). */
function unitVector(rng: ScenePrng): [number, number] {
  for (;;) {
    const x = rng.int(-16, 16);
    const y = rng.int(-16, 16);
    const n = Math.sqrt(x * x + y * y);
    if (n >= 4) return [x / n, y / n];
  }
}

function insideShape(o: PlacedObject, u: number, v: number): boolean {
  const r = o.r;
  switch (o.cls) {
    case 0: // disc
      return u * u + v * v <= r * r;
    case 1: // square (side 1.64 r)
      return Math.abs(u) <= 0.82 * r && Math.abs(v) <= 0.82 * r;
    case 2: // equilateral triangle with circumradius r
      return v <= 0.5 * r && 0.8660254037844386 * u - 0.5 * v <= 0.5 * r && -0.8660254037844386 * u - 0.5 * v <= 0.5 * r;
    case 3: {
      // ring
      const d = u * u + v * v;
      return d <= r * r && d >= o.shapeParam * o.shapeParam;
    }
    default: {
      // cross
      const w = o.shapeParam;
      const au = Math.abs(u);
      const av = Math.abs(v);
      return (au <= r && av <= w) || (av <= r && au <= w);
    }
  }
}

/** Texture colour of an object at local coordinates (before per-pixel noise). */
function textureAt(o: PlacedObject, u: number, v: number, out: Rgb): void {
  let t: number; // 0 = colour A, 1 = colour B, in between = blend
  switch (o.cls) {
    case 0: // stripes across u
      t = Math.floor((u + o.offU) / (o.period / 2)) & 1;
      break;
    case 1: // checker
      t = (Math.floor((u + o.offU) / o.period) + Math.floor((v + o.offV) / o.period)) & 1;
      break;
    case 2: {
      // dots on a square grid
      const gu = u + o.offU - o.period * Math.round((u + o.offU) / o.period);
      const gv = v + o.offV - o.period * Math.round((v + o.offV) / o.period);
      const rd = o.period * 0.3;
      t = gu * gu + gv * gv <= rd * rd ? 1 : 0;
      break;
    }
    case 3: // plain
      t = 0;
      break;
    default: // linear gradient along u
      t = Math.min(1, Math.max(0, (u / o.r + 1) / 2));
  }
  out[0] = o.colorA[0] + (o.colorB[0] - o.colorA[0]) * t;
  out[1] = o.colorA[1] + (o.colorB[1] - o.colorA[1]) * t;
  out[2] = o.colorA[2] + (o.colorB[2] - o.colorA[2]) * t;
}

const EXTENT = [1, 0.82 * Math.SQRT2, 1, 1, 1.05];

function drawBackground(rng: ScenePrng, size: number, px: Float32Array): void {
  const kind = rng.int(0, 2);
  const c1 = randomColor(rng);
  const c2 = randomColor(rng);
  if (kind === 0) {
    // linear gradient along a random direction
    const [gx, gy] = unitVector(rng);
    const half = size / 2;
    for (let y = 0; y < size; y++) {
      for (let x = 0; x < size; x++) {
        const t = Math.min(1, Math.max(0, (((x - half) * gx + (y - half) * gy) / (half * 1.4142) + 1) / 2));
        const p = (y * size + x) * 3;
        for (let c = 0; c < 3; c++) px[p + c] = c1[c] + (c2[c] - c1[c]) * t;
      }
    }
  } else {
    // value noise: random colours on a coarse (kind 1) or fine (kind 2) grid, bilinear
    const cell = kind === 1 ? size / rng.int(2, 5) : Math.max(2, Math.round((size / 128) * rng.int(3, 6)));
    const n = Math.ceil(size / cell) + 2;
    const spread = kind === 1 ? 1 : 0.35;
    const knots = new Float32Array(n * n * 3);
    for (let i = 0; i < n * n; i++) {
      const t = rng.next();
      for (let c = 0; c < 3; c++) knots[i * 3 + c] = c1[c] + (c2[c] - c1[c]) * t * spread + rng.int(-20, 20);
    }
    for (let y = 0; y < size; y++) {
      const fy = y / cell;
      const iy = Math.floor(fy);
      const ty = fy - iy;
      for (let x = 0; x < size; x++) {
        const fx = x / cell;
        const ix = Math.floor(fx);
        const tx = fx - ix;
        const k00 = (iy * n + ix) * 3;
        const k01 = k00 + 3;
        const k10 = k00 + n * 3;
        const k11 = k10 + 3;
        const p = (y * size + x) * 3;
        for (let c = 0; c < 3; c++) {
          const top = knots[k00 + c] + (knots[k01 + c] - knots[k00 + c]) * tx;
          const bottom = knots[k10 + c] + (knots[k11 + c] - knots[k10 + c]) * tx;
          px[p + c] = top + (bottom - top) * ty;
        }
      }
    }
  }
  // clutter: lines, scribbles and small blobs that belong to no class
  const k = size / 128;
  const clutter = rng.int(2, 10);
  for (let i = 0; i < clutter; i++) {
    const color = randomColor(rng);
    const kind2 = rng.int(0, 2);
    if (kind2 === 2) {
      const cx = rng.uniform(0, size);
      const cy = rng.uniform(0, size);
      const rad = rng.uniform(1.5, 3.5) * k;
      fillSegment(px, size, cx, cy, cx, cy, rad, color);
    } else {
      let x0 = rng.uniform(0, size);
      let y0 = rng.uniform(0, size);
      const segments = kind2 === 0 ? 1 : rng.int(3, 5);
      const width = rng.uniform(0.5, 1.6) * k;
      for (let s = 0; s < segments; s++) {
        const len = rng.uniform(8, kind2 === 0 ? 50 : 18) * k;
        const [dx, dy] = unitVector(rng);
        const x1 = x0 + dx * len;
        const y1 = y0 + dy * len;
        fillSegment(px, size, x0, y0, x1, y1, width, color);
        x0 = x1;
        y0 = y1;
      }
    }
  }
}

/** Paints every pixel whose centre lies within `radius` of segment (x0,y0)-(x1,y1). */
function fillSegment(px: Float32Array, size: number, x0: number, y0: number, x1: number, y1: number, radius: number, color: Rgb): void {
  const minX = Math.max(0, Math.floor(Math.min(x0, x1) - radius));
  const maxX = Math.min(size - 1, Math.ceil(Math.max(x0, x1) + radius));
  const minY = Math.max(0, Math.floor(Math.min(y0, y1) - radius));
  const maxY = Math.min(size - 1, Math.ceil(Math.max(y0, y1) + radius));
  const dx = x1 - x0;
  const dy = y1 - y0;
  const len2 = dx * dx + dy * dy;
  for (let y = minY; y <= maxY; y++) {
    for (let x = minX; x <= maxX; x++) {
      const qx = x + 0.5 - x0;
      const qy = y + 0.5 - y0;
      const t = len2 > 0 ? Math.min(1, Math.max(0, (qx * dx + qy * dy) / len2)) : 0;
      const ex = qx - t * dx;
      const ey = qy - t * dy;
      if (ex * ex + ey * ey <= radius * radius) {
        const p = (y * size + x) * 3;
        px[p] = color[0];
        px[p + 1] = color[1];
        px[p + 2] = color[2];
      }
    }
  }
}

function randomObject(rng: ScenePrng, size: number): PlacedObject {
  const cls = rng.int(0, SCENE_CLASSES.length - 1);
  const k = size / 128;
  // radius 6% to 22% of the image side (diameter ~15 to ~56 px at 128), small ones more often
  const q = rng.next();
  const r = size * (0.06 + 0.16 * q * q);
  const extent = r * EXTENT[cls];
  const [ux, uy] = unitVector(rng);
  const [colorA, colorB] = colorPair(rng);
  // texture period in pixels, capped so even a small object shows a couple of periods
  const period = Math.min((cls === 0 ? rng.uniform(4, 8) : cls === 1 ? rng.uniform(3, 6) : rng.uniform(5, 8)) * k, Math.max(3.5, 0.6 * r));
  return {
    cls,
    r,
    extent,
    cx: rng.uniform(extent, size - extent),
    cy: rng.uniform(extent, size - extent),
    ux,
    uy,
    shapeParam: cls === 3 ? r * rng.uniform(0.45, 0.65) : r * rng.uniform(0.25, 0.35),
    colorA,
    colorB,
    period,
    offU: rng.uniform(0, period),
    offV: rng.uniform(0, period),
  };
}

/** Pixel indices covered by an object (its own full mask). */
function objectMask(o: PlacedObject, size: number): Int32Array {
  const minX = Math.max(0, Math.floor(o.cx - o.extent));
  const maxX = Math.min(size - 1, Math.ceil(o.cx + o.extent));
  const minY = Math.max(0, Math.floor(o.cy - o.extent));
  const maxY = Math.min(size - 1, Math.ceil(o.cy + o.extent));
  const out = new Int32Array(Math.max(0, (maxX - minX + 1) * (maxY - minY + 1)));
  let n = 0;
  for (let y = minY; y <= maxY; y++) {
    for (let x = minX; x <= maxX; x++) {
      const dx = x + 0.5 - o.cx;
      const dy = y + 0.5 - o.cy;
      if (insideShape(o, o.ux * dx + o.uy * dy, -o.uy * dx + o.ux * dy)) out[n++] = y * size + x;
    }
  }
  return out.slice(0, n);
}

function boxOf(pixels: ArrayLike<number>, size: number): [number, number, number, number] {
  let x1 = size;
  let y1 = size;
  let x2 = -1;
  let y2 = -1;
  for (let i = 0; i < pixels.length; i++) {
    const x = pixels[i] % size;
    const y = (pixels[i] - x) / size;
    if (x < x1) x1 = x;
    if (x > x2) x2 = x;
    if (y < y1) y1 = y;
    if (y > y2) y2 = y;
  }
  return [x1, y1, x2 - x1 + 1, y2 - y1 + 1];
}

/**
 * Renders scene `index` of the set generated with `seed`. Objects are drawn in z-order; an
 * object is only placed if every object under it keeps at least `minVisible` of its pixels (up
 * to 40 placements are tried, then it is left out, so a scene can have fewer than drawn for).
 * Boxes and areas describe what is visible.
 */
export function renderScene(seed: number, index: number, options: RenderSceneOptions = {}): RenderedScene {
  const size = options.size ?? 128;
  const minObjects = options.minObjects ?? 2;
  const maxObjects = options.maxObjects ?? 6;
  const minVisible = options.minVisible ?? 0.5;
  const rng = new ScenePrng(seed, index);
  const px = new Float32Array(size * size * 3);
  drawBackground(rng, size, px);

  const owner = new Int16Array(size * size).fill(-1);
  const placed: PlacedObject[] = [];
  const fullMasks: Int32Array[] = [];
  const visible: number[] = [];
  const target = rng.int(minObjects, maxObjects);
  for (let n = 0; n < target; n++) {
    for (let attempt = 0; attempt < 40; attempt++) {
      const o = randomObject(rng, size);
      const mask = objectMask(o, size);
      if (mask.length < 24) continue;
      const lost = new Int32Array(placed.length);
      for (let i = 0; i < mask.length; i++) {
        const j = owner[mask[i]];
        if (j >= 0) lost[j]++;
      }
      let ok = true;
      for (let j = 0; j < placed.length; j++) if (visible[j] - lost[j] < minVisible * fullMasks[j].length) ok = false;
      if (!ok) continue;
      // Keep the object's main colour away from the background under its centre, so that no
      // object is invisible; colour still says nothing about the class.
      const c = (Math.floor(o.cy) * size + Math.floor(o.cx)) * 3;
      for (let t = 0; t < 16 && Math.abs(o.colorA[0] - px[c]) + Math.abs(o.colorA[1] - px[c + 1]) + Math.abs(o.colorA[2] - px[c + 2]) < 120; t++) {
        o.colorA = randomColor(rng);
      }
      for (let j = 0; j < placed.length; j++) visible[j] -= lost[j];
      const id = placed.length;
      for (let i = 0; i < mask.length; i++) owner[mask[i]] = id;
      placed.push(o);
      fullMasks.push(mask);
      visible.push(mask.length);
      break;
    }
  }

  // Paint objects over the background: each pixel takes its topmost object's texture.
  const noise = rng.int(3, 12);
  const rgb: Rgb = [0, 0, 0];
  const data = new Uint8Array(size * size * 3);
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      const p = y * size + x;
      const j = owner[p];
      if (j >= 0) {
        const o = placed[j];
        const dx = x + 0.5 - o.cx;
        const dy = y + 0.5 - o.cy;
        textureAt(o, o.ux * dx + o.uy * dy, -o.uy * dx + o.ux * dy, rgb);
        px[p * 3] = rgb[0];
        px[p * 3 + 1] = rgb[1];
        px[p * 3 + 2] = rgb[2];
      }
      // one draw per pixel: grey noise in [-noise, noise] plus a little colour noise in [-2, 2]
      const bits = rng.u32();
      const e = ((bits & 0xffff) % (2 * noise + 1)) - noise + 0.5;
      data[p * 3] = clamp255(px[p * 3] + e);
      data[p * 3 + 1] = clamp255(px[p * 3 + 1] + e + (((bits >>> 16) & 0xff) % 5) - 2);
      data[p * 3 + 2] = clamp255(px[p * 3 + 2] + e + ((bits >>> 24) % 5) - 2);
    }
  }

  const visiblePixels: number[][] = placed.map(() => []);
  for (let p = 0; p < owner.length; p++) if (owner[p] >= 0) visiblePixels[owner[p]].push(p);
  const objects = placed.map((o, j) => ({
    classIndex: o.cls,
    bbox: boxOf(visiblePixels[j], size),
    area: visiblePixels[j].length,
    fullBbox: boxOf(fullMasks[j], size),
    fullArea: fullMasks[j].length,
  }));
  return { image: { data, width: size, height: size }, objects };
}
