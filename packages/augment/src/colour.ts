/**
 * Colour and filter steps of the view pipeline on HWC Float32Array images with values in
 * [0, 1], in place, with torchvision's tensor semantics (`torchvision.transforms.functional`
 * on float tensors): every blend is clamped to [0, 1], grayscale is ITU-R 601-2 luma
 * (0.2989, 0.587, 0.114), contrast blends with the mean of that luma, hue is a rotation in HSV.
 */
import { convolvePaddedWasm } from './resample';
import { ensureWasmMemory as ensureMemory, instantiateWasm as instantiate, type WasmMemory } from '@scrl/roi-align/wasm';
import { COLOUR_WASM_BASE64 } from './wasm/colour-wasm';
import { ScrlError } from '@scrl/util';

interface ColourKernels {
  memory: WasmMemory;
  brightness(p: number, groups: number, factor: number): void;
  blendScalar(p: number, groups: number, factor: number, m: number): void;
  lumaSum(p: number, groups: number): number;
  saturation(p: number, groups: number, factor: number): void;
  grayscale(p: number, groups: number): void;
  solarize(p: number, groups: number, threshold: number): void;
  normalize(p: number, groups: number, constants: number): void;
  hue(p: number, groups: number, factor: number): void;
}

let kernels: ColourKernels | null | undefined;
let enabled = true;

/** Turns the SIMD colour kernels off (plain JavaScript) or back on; for tests and comparisons. */
export function useColourWasm(on: boolean): void {
  enabled = on;
}
const CONSTANTS = 16;
const DATA = 128;

/**
 * Runs a SIMD kernel on `img`: copies it into wasm memory (zero-padded to whole groups of four
 * pixels), calls `run(pointer, groups)`, copies it back. Returns false where wasm is unavailable.
 */
function simd(img: Float32Array, run: (k: ColourKernels, p: number, groups: number) => void): boolean {
  if (!enabled) return false;
  if (kernels === undefined) kernels = instantiate<ColourKernels>(COLOUR_WASM_BASE64);
  const k = kernels;
  if (k === null) return false;
  const groups = Math.ceil(img.length / 12);
  ensureMemory(k.memory, DATA + groups * 48);
  const view = new Float32Array(k.memory.buffer, DATA, groups * 12);
  view.set(img);
  view.fill(0, img.length);
  run(k, DATA, groups);
  img.set(view.subarray(0, img.length));
  return true;
}

function check(img: Float32Array, name: string): number {
  if (!(img instanceof Float32Array) || img.length % 3 !== 0) {
    throw new ScrlError(`Error in ${name}: image must be an HWC Float32Array with 3 channels, got length ${img?.length}.`);
  }
  return img.length / 3;
}

function clamp01(x: number): number {
  return x < 0 ? 0 : x > 1 ? 1 : x;
}

/** torchvision `adjust_brightness`: `clamp(x * factor, 0, 1)`. */
export function adjustBrightness(img: Float32Array, factor: number): Float32Array {
  check(img, 'adjustBrightness');
  if (simd(img, (k, p, g) => k.brightness(p, g, factor))) return img;
  for (let i = 0; i < img.length; i++) img[i] = clamp01(img[i] * factor);
  return img;
}

/** Mean of the ITU-R 601-2 luma over all pixels. */
export function meanLuma(img: Float32Array): number {
  const n = check(img, 'meanLuma');
  let total = NaN;
  if (simd(img, (k, p, g) => (total = k.lumaSum(p, g)))) return total / n;
  let s = 0;
  for (let p = 0, i = 0; p < n; p++, i += 3) s += 0.2989 * img[i] + 0.587 * img[i + 1] + 0.114 * img[i + 2];
  return s / n;
}

/** torchvision `adjust_contrast`: blend with the image's mean luma, `clamp(f * x + (1 - f) * mean)`. */
export function adjustContrast(img: Float32Array, factor: number): Float32Array {
  check(img, 'adjustContrast');
  const m = (1 - factor) * meanLuma(img);
  if (simd(img, (k, p, g) => k.blendScalar(p, g, factor, m))) return img;
  for (let i = 0; i < img.length; i++) img[i] = clamp01(factor * img[i] + m);
  return img;
}

/** torchvision `adjust_saturation`: blend each pixel with its own luma. */
export function adjustSaturation(img: Float32Array, factor: number): Float32Array {
  const n = check(img, 'adjustSaturation');
  if (simd(img, (k, p, groups) => k.saturation(p, groups, factor))) return img;
  const g = 1 - factor;
  for (let p = 0, i = 0; p < n; p++, i += 3) {
    const l = g * (0.2989 * img[i] + 0.587 * img[i + 1] + 0.114 * img[i + 2]);
    img[i] = clamp01(factor * img[i] + l);
    img[i + 1] = clamp01(factor * img[i + 1] + l);
    img[i + 2] = clamp01(factor * img[i + 2] + l);
  }
  return img;
}

/**
 * torchvision `adjust_hue`: to HSV, `h = (h + factor) mod 1`, back to RGB. `factor` in
 * [-0.5, 0.5] (a fraction of the hue circle).
 */
export function adjustHue(img: Float32Array, factor: number): Float32Array {
  const n = check(img, 'adjustHue');
  if (!(factor >= -0.5 && factor <= 0.5)) {
    throw new ScrlError(`Error in adjustHue: factor must be in [-0.5, 0.5], got ${factor}.`);
  }
  if (simd(img, (k, p, g) => k.hue(p, g, factor))) return img;
  for (let p = 0, i = 0; p < n; p++, i += 3) {
    const r = img[i];
    const g = img[i + 1];
    const b = img[i + 2];
    const maxc = r > g ? (r > b ? r : b) : g > b ? g : b;
    const minc = r < g ? (r < b ? r : b) : g < b ? g : b;
    if (maxc === minc) continue; // gray: hue rotation leaves it unchanged
    const cr = maxc - minc;
    const s = cr / maxc;
    let h: number;
    if (maxc === r) h = (g - b) / cr;
    else if (maxc === g) h = 2 + (b - r) / cr;
    else h = 4 + (r - g) / cr;
    // torchvision: fmod(h / 6 + 1, 1), then (h + factor) mod 1, Python-style.
    h = h / 6 + 1;
    h -= Math.floor(h);
    h += factor;
    h -= Math.floor(h);
    if (h >= 1) h = 0; // h = -tiny rounds to 1 above; mod 1 makes it 0
    const v = maxc;
    const h6 = h * 6;
    const k = Math.floor(h6);
    const f = h6 - k;
    const pp = clamp01(v * (1 - s));
    const q = clamp01(v * (1 - s * f));
    const t = clamp01(v * (1 - s * (1 - f)));
    switch (k) {
      case 0: img[i] = v; img[i + 1] = t; img[i + 2] = pp; break;
      case 1: img[i] = q; img[i + 1] = v; img[i + 2] = pp; break;
      case 2: img[i] = pp; img[i + 1] = v; img[i + 2] = t; break;
      case 3: img[i] = pp; img[i + 1] = q; img[i + 2] = v; break;
      case 4: img[i] = t; img[i + 1] = pp; img[i + 2] = v; break;
      default: img[i] = v; img[i + 1] = pp; img[i + 2] = q; break;
    }
  }
  return img;
}

/** torchvision `rgb_to_grayscale(num_output_channels=3)`: ITU-R 601-2 luma in all three channels. */
export function toGrayscale(img: Float32Array): Float32Array {
  const n = check(img, 'toGrayscale');
  if (simd(img, (k, p, g) => k.grayscale(p, g))) return img;
  for (let p = 0, i = 0; p < n; p++, i += 3) {
    const l = 0.2989 * img[i] + 0.587 * img[i + 1] + 0.114 * img[i + 2];
    img[i] = l;
    img[i + 1] = l;
    img[i + 2] = l;
  }
  return img;
}

/** torchvision `solarize`: values `>= threshold` become `1 - x`. Default threshold 128/255 (PIL's 128 of 255). */
export function solarize(img: Float32Array, threshold = 128 / 255): Float32Array {
  check(img, 'solarize');
  if (simd(img, (k, p, g) => k.solarize(p, g, threshold))) return img;
  for (let i = 0; i < img.length; i++) if (img[i] >= threshold) img[i] = 1 - img[i];
  return img;
}

/** `(x - mean[c]) / std[c]` per channel. */
export function normalize(img: Float32Array, mean: readonly number[], std: readonly number[]): Float32Array {
  const n = check(img, 'normalize');
  const done = simd(img, (k, p, g) => {
    const c = new Float32Array(k.memory.buffer, CONSTANTS, 24);
    for (let i = 0; i < 12; i++) {
      c[i] = mean[i % 3];
      c[12 + i] = 1 / std[i % 3];
    }
    k.normalize(p, g, CONSTANTS);
  });
  if (done) return img;
  const m0 = mean[0], m1 = mean[1], m2 = mean[2];
  const i0 = 1 / std[0], i1 = 1 / std[1], i2 = 1 / std[2];
  for (let p = 0, i = 0; p < n; p++, i += 3) {
    img[i] = (img[i] - m0) * i0;
    img[i + 1] = (img[i + 1] - m1) * i1;
    img[i + 2] = (img[i + 2] - m2) * i2;
  }
  return img;
}

/** Mirrors an HWC 3-channel image left-right, in place. */
export function flipHorizontal(img: Float32Array, width: number): Float32Array {
  const n = check(img, 'flipHorizontal');
  const height = n / width;
  for (let y = 0; y < height; y++) {
    const row = y * width * 3;
    for (let x = 0, xr = width - 1; x < xr; x++, xr--) {
      for (let c = 0; c < 3; c++) {
        const a = row + x * 3 + c;
        const b = row + xr * 3 + c;
        const t = img[a];
        img[a] = img[b];
        img[b] = t;
      }
    }
  }
  return img;
}

/** Normalised 1-D Gaussian of `2 * radius + 1` taps. */
export function gaussianKernel(radius: number, sigma: number): Float32Array {
  const k = new Float32Array(2 * radius + 1);
  let s = 0;
  for (let i = -radius; i <= radius; i++) {
    const v = Math.exp(-(i * i) / (2 * sigma * sigma));
    k[i + radius] = v;
    s += v;
  }
  for (let i = 0; i < k.length; i++) k[i] /= s;
  return k;
}

function reflect(i: number, n: number): number {
  if (i < 0) return -i;
  if (i >= n) return 2 * n - 2 - i;
  return i;
}

/**
 * Separable Gaussian blur with reflect padding (torchvision `gaussian_blur` and the SCRL
 * reference's blur), kernel `2 * radius + 1` taps. Returns a new array.
 */
export function gaussianBlur(img: Float32Array, width: number, height: number, radius: number, sigma: number): Float32Array {
  check(img, 'gaussianBlur');
  if (!(radius >= 0 && radius < Math.min(width, height))) {
    throw new ScrlError(`Error in gaussianBlur: radius must be in [0, min(width, height)), got ${radius} for ${width} x ${height}.`);
  }
  if (!(sigma > 0)) throw new ScrlError(`Error in gaussianBlur: sigma must be positive, got ${sigma}.`);
  const k = gaussianKernel(radius, sigma);
  // Reflect-pad once, then let the wasm kernel filter with plain windows.
  const pw = width + 2 * radius;
  const ph = height + 2 * radius;
  const padded = new Float32Array(pw * ph * 3);
  for (let y = 0; y < ph; y++) {
    const sy = reflect(y - radius, height);
    for (let x = 0; x < pw; x++) {
      const s = (sy * width + reflect(x - radius, width)) * 3;
      const d = (y * pw + x) * 3;
      padded[d] = img[s];
      padded[d + 1] = img[s + 1];
      padded[d + 2] = img[s + 2];
    }
  }
  const fast = convolvePaddedWasm(padded, width, height, k);
  if (fast) return fast;
  const tmp = new Float32Array(img.length);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      let r = 0, g = 0, b = 0;
      for (let t = -radius; t <= radius; t++) {
        const p = (y * width + reflect(x + t, width)) * 3;
        const w = k[t + radius];
        r += img[p] * w;
        g += img[p + 1] * w;
        b += img[p + 2] * w;
      }
      const d = (y * width + x) * 3;
      tmp[d] = r;
      tmp[d + 1] = g;
      tmp[d + 2] = b;
    }
  }
  const out = new Float32Array(img.length);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      let r = 0, g = 0, b = 0;
      for (let t = -radius; t <= radius; t++) {
        const p = (reflect(y + t, height) * width + x) * 3;
        const w = k[t + radius];
        r += tmp[p] * w;
        g += tmp[p + 1] * w;
        b += tmp[p + 2] * w;
      }
      const d = (y * width + x) * 3;
      out[d] = r;
      out[d + 1] = g;
      out[d + 2] = b;
    }
  }
  return out;
}
