/**
 * SCRL's two-view pipeline (docs/scrl-reference.md section 1) on typed arrays and a small wasm kernel, with
 * no TF.js, so that it runs in the data loader's worker threads.
 *
 * Per view: random resized crop (PIL's bicubic filter in a wasm SIMD kernel, see `cropResize`),
 * horizontal flip, colour jitter in random order,
 * grayscale, blur (resize blur by default, in floats with the PIL bicubic filter; or Gaussian),
 * solarize, normalise. Every view carries its geometry in original-image pixels.
 */
import type { RgbImage, View, ViewGeometry } from './types';
import type { Rng } from '@scrl/util';
import { randomResizedCropParams } from './crop';
import { resampleBicubic } from './resample';
import {
  adjustBrightness,
  adjustContrast,
  adjustHue,
  adjustSaturation,
  gaussianBlur,
  normalize,
  solarize,
  toGrayscale,
} from './colour';
import { ScrlError } from '@scrl/util';

/** Probabilities of the random steps for one view. */
export interface ViewProbabilities {
  /** Horizontal flip. */
  flip: number;
  /** Colour jitter (all four adjustments, in random order). */
  colorJitter: number;
  /** Grayscale (kept as 3 channels). */
  grayscale: number;
  /** Blur (the kind chosen by `blur`). */
  blur: number;
  /** Solarize. */
  solarize: number;
}

export interface ViewPipelineOptions {
  /** Side S of the square views. Default 224. */
  viewSize?: number;
  /** Area fraction range of the random resized crop. Default [0.2, 1]. */
  scale?: [number, number];
  /** Aspect-ratio range (width / height) of the crop, sampled log-uniformly. Default [3/4, 4/3]. */
  ratio?: [number, number];
  /** Colour-jitter strengths, torchvision's `ColorJitter(0.4, 0.4, 0.2, 0.1)` by default. */
  brightness?: number;
  contrast?: number;
  saturation?: number;
  hue?: number;
  /** `'resize'` (the reference's default) or `'gaussian'`. */
  blur?: 'resize' | 'gaussian';
  /** Resize-blur factors, one chosen uniformly: shrink to floor(S / f), bicubic, and back. Default [1.1, 1.2, 1.5]. */
  resizeBlurFactors?: number[];
  /** Gaussian-blur sigma range, uniform. Default [0.1, 2.0]. */
  gaussianSigma?: [number, number];
  /** Gaussian kernel size as a fraction of S: radius = floor(int(f * S) / 2), taps 2r + 1. Default 0.1. */
  gaussianKernelFraction?: number;
  /** Solarize threshold in [0, 1] (pixels >= it are inverted). Default 128 / 255. */
  solarizeThreshold?: number;
  /** Normalisation mean and std per channel. Default ImageNet's. */
  mean?: [number, number, number];
  std?: [number, number, number];
  /** Step probabilities of view 1. Default flip 0.5, colorJitter 0.8, grayscale 0.2, blur 1.0, solarize 0. */
  view1?: Partial<ViewProbabilities>;
  /** Step probabilities of view 2. Default flip 0.5, colorJitter 0.8, grayscale 0.2, blur 0.1, solarize 0.2. */
  view2?: Partial<ViewProbabilities>;
}

export interface ResolvedViewPipelineOptions extends Required<Omit<ViewPipelineOptions, 'view1' | 'view2'>> {
  view1: ViewProbabilities;
  view2: ViewProbabilities;
}

export const VIEW_PIPELINE_DEFAULTS: ResolvedViewPipelineOptions = {
  viewSize: 224,
  scale: [0.2, 1],
  ratio: [3 / 4, 4 / 3],
  brightness: 0.4,
  contrast: 0.4,
  saturation: 0.2,
  hue: 0.1,
  blur: 'resize',
  resizeBlurFactors: [1.1, 1.2, 1.5],
  gaussianSigma: [0.1, 2.0],
  gaussianKernelFraction: 0.1,
  solarizeThreshold: 128 / 255,
  mean: [0.485, 0.456, 0.406],
  std: [0.229, 0.224, 0.225],
  view1: { flip: 0.5, colorJitter: 0.8, grayscale: 0.2, blur: 1.0, solarize: 0 },
  view2: { flip: 0.5, colorJitter: 0.8, grayscale: 0.2, blur: 0.1, solarize: 0.2 },
};

/** What one view's random draws decided (returned for inspection and tests). */
export interface ViewDecisions {
  geometry: ViewGeometry;
  /** Colour-jitter order (0 brightness, 1 contrast, 2 saturation, 3 hue) and factors, or null if skipped. */
  colorJitter: { order: number[]; brightness: number; contrast: number; saturation: number; hue: number } | null;
  grayscale: boolean;
  /** Resize-blur factor or Gaussian sigma, or null if no blur. */
  blur: { kind: 'resize'; factor: number } | { kind: 'gaussian'; sigma: number } | null;
  solarize: boolean;
}

export interface ViewPipeline {
  readonly options: ResolvedViewPipelineOptions;
  /** Both views of one image: view 1 then view 2, each with its geometry. Draws from `rng` in that order. */
  viewPair(image: RgbImage, rng: Rng): Promise<[View, View]>;
  /** One view with the probabilities of view `which`. */
  view(image: RgbImage, rng: Rng, which: 1 | 2): Promise<View>;
  /** The random decisions of one view, without touching pixels (same draws as `view`). */
  decide(image: { width: number; height: number }, rng: Rng, which: 1 | 2): ViewDecisions;
  /** Applies decided steps to an image (the deterministic half of `view`). */
  apply(image: RgbImage, decisions: ViewDecisions): Promise<View>;
}

function fail(arg: string, got: unknown, want: string): never {
  throw new ScrlError(`Error in createViewPipeline: options.${arg} must be ${want}, got ${JSON.stringify(got)}.`);
}

function checkRange(name: string, v: unknown, lo: number, hi: number): [number, number] {
  if (!Array.isArray(v) || v.length !== 2 || !(v[0] >= lo && v[0] <= v[1] && v[1] <= hi)) {
    fail(name, v, `[lo, hi] with ${lo} <= lo <= hi <= ${hi}`);
  }
  return [v[0], v[1]];
}

function resolveProbabilities(name: string, given: Partial<ViewProbabilities> | undefined, base: ViewProbabilities): ViewProbabilities {
  const p = { ...base, ...(given ?? {}) };
  for (const key of Object.keys(base) as Array<keyof ViewProbabilities>) {
    if (!(p[key] >= 0 && p[key] <= 1)) fail(`${name}.${key}`, p[key], 'a probability in [0, 1]');
  }
  for (const key of Object.keys(p)) {
    if (!(key in base)) fail(`${name}.${key}`, key, `one of ${Object.keys(base).join(', ')}`);
  }
  return p;
}

/** Fills in defaults and checks every option. */
export function resolveViewPipelineOptions(options: ViewPipelineOptions = {}): ResolvedViewPipelineOptions {
  const d = VIEW_PIPELINE_DEFAULTS;
  const o: ResolvedViewPipelineOptions = {
    ...d,
    ...options,
    view1: resolveProbabilities('view1', options.view1, d.view1),
    view2: resolveProbabilities('view2', options.view2, d.view2),
  };
  if (!(Number.isInteger(o.viewSize) && o.viewSize >= 8)) fail('viewSize', o.viewSize, 'an integer >= 8');
  o.scale = checkRange('scale', o.scale, Number.MIN_VALUE, Infinity);
  o.ratio = checkRange('ratio', o.ratio, Number.MIN_VALUE, Infinity);
  for (const k of ['brightness', 'contrast', 'saturation'] as const) {
    if (!(o[k] >= 0)) fail(k, o[k], 'a number >= 0');
  }
  if (!(o.hue >= 0 && o.hue <= 0.5)) fail('hue', o.hue, 'a number in [0, 0.5]');
  if (o.blur !== 'resize' && o.blur !== 'gaussian') fail('blur', o.blur, "'resize' or 'gaussian'");
  if (
    !Array.isArray(o.resizeBlurFactors) ||
    o.resizeBlurFactors.length === 0 ||
    !o.resizeBlurFactors.every((f) => f >= 1 && Math.floor(o.viewSize / f) >= 1)
  ) {
    fail('resizeBlurFactors', o.resizeBlurFactors, 'a non-empty array of factors >= 1 (each at most viewSize)');
  }
  o.gaussianSigma = checkRange('gaussianSigma', o.gaussianSigma, Number.MIN_VALUE, Infinity);
  const radius = Math.floor(Math.floor(o.gaussianKernelFraction * o.viewSize) / 2);
  if (!(o.gaussianKernelFraction > 0 && radius < o.viewSize)) {
    fail('gaussianKernelFraction', o.gaussianKernelFraction, 'a number in (0, 1]');
  }
  if (!(o.solarizeThreshold >= 0 && o.solarizeThreshold <= 1)) fail('solarizeThreshold', o.solarizeThreshold, 'a number in [0, 1]');
  for (const k of ['mean', 'std'] as const) {
    const v = o[k];
    if (!Array.isArray(v) || v.length !== 3 || !v.every((x) => Number.isFinite(x) && (k === 'mean' || x > 0))) {
      fail(k, v, k === 'mean' ? 'three finite numbers' : 'three positive numbers');
    }
  }
  return o;
}

function checkImage(image: RgbImage, fn: string): void {
  if (!image || !(image.data instanceof Uint8Array)) {
    throw new ScrlError(`Error in ${fn}: image.data must be a Uint8Array of packed RGB bytes (HWC), got ${image?.data?.constructor?.name}.`);
  }
  const { width, height } = image;
  if (!(Number.isInteger(width) && width > 0 && Number.isInteger(height) && height > 0)) {
    throw new ScrlError(`Error in ${fn}: image width and height must be positive integers, got ${width} x ${height}.`);
  }
  if (image.data.length !== width * height * 3) {
    throw new ScrlError(
      `Error in ${fn}: image.data has ${image.data.length} bytes but ${width} x ${height} x 3 = ${width * height * 3}; ` +
        'pass packed 8-bit RGB without alpha (sharp: .removeAlpha().raw()).',
    );
  }
}

/**
 * Crop + bicubic resize to S x S, as floats in [0, 1], mirrored if `g.flipped`: PIL's
 * antialiased bicubic filter (torchvision `resized_crop` on PIL images), run by the wasm SIMD
 * kernel of `resampleBicubic`.
 *
 * Why not sharp: on this machine the kernel took 1.6-4.9 ms CPU per 224 px view against
 * sharp's 3.5-7.3 ms (extract + cubic resize of raw pixels, concurrency 1), and libvips
 * places enlarged output pixels half an output pixel away from PIL's centres (up to 101 levels
 * of 255 off at edges on the fixture), which would shift a view against its geometry.
 */
export async function cropResize(image: RgbImage, g: ViewGeometry, size: number): Promise<Float32Array> {
  const region = { left: g.left, top: g.top, width: g.width, height: g.height };
  return resampleBicubic(image.data, image.width, image.height, 3, region, size, size, 1 / 255, g.flipped, true);
}

/** Resize blur: shrink to floor(S / factor) and back, both with the PIL bicubic filter, in floats. */
export function resizeBlur(img: Float32Array, size: number, factor: number): Float32Array {
  const small = Math.floor(size / factor);
  const full = { left: 0, top: 0, width: size, height: size };
  const down = resampleBicubic(img, size, size, 3, full, small, small);
  return resampleBicubic(down, small, small, 3, { left: 0, top: 0, width: small, height: small }, size, size, 1, false, true);
}

/**
 * Builds SCRL's two-view pipeline. Each call of `viewPair(image, rng)` draws view 1's decisions,
 * then view 2's, from `rng` (so a seed replays both), and returns normalised `S x S x 3` HWC
 * float pixels with each view's geometry in original-image pixels.
 */
export function createViewPipeline(options: ViewPipelineOptions = {}): ViewPipeline {
  const o = resolveViewPipelineOptions(options);
  const S = o.viewSize;
  const gaussianRadius = Math.floor(Math.floor(o.gaussianKernelFraction * S) / 2);

  const decide = (image: { width: number; height: number }, rng: Rng, which: 1 | 2): ViewDecisions => {
    const p = which === 1 ? o.view1 : which === 2 ? o.view2 : fail('which', which, '1 or 2');
    const crop = randomResizedCropParams(image.height, image.width, rng, o.scale, o.ratio);
    const geometry: ViewGeometry = { ...crop, flipped: rng.bool(p.flip) };
    let colorJitter: ViewDecisions['colorJitter'] = null;
    if (rng.bool(p.colorJitter)) {
      // torchvision ColorJitter.get_params: the permutation first, then the four factors.
      const order = [0, 1, 2, 3];
      for (let i = 3; i > 0; i--) {
        const j = rng.int(0, i);
        [order[i], order[j]] = [order[j], order[i]];
      }
      colorJitter = {
        order,
        brightness: rng.uniform(Math.max(0, 1 - o.brightness), 1 + o.brightness),
        contrast: rng.uniform(Math.max(0, 1 - o.contrast), 1 + o.contrast),
        saturation: rng.uniform(Math.max(0, 1 - o.saturation), 1 + o.saturation),
        hue: rng.uniform(-o.hue, o.hue),
      };
    }
    const grayscale = rng.bool(p.grayscale);
    let blur: ViewDecisions['blur'] = null;
    if (rng.bool(p.blur)) {
      blur =
        o.blur === 'resize'
          ? { kind: 'resize', factor: o.resizeBlurFactors[rng.int(0, o.resizeBlurFactors.length - 1)] }
          : { kind: 'gaussian', sigma: rng.uniform(o.gaussianSigma[0], o.gaussianSigma[1]) };
    }
    const solar = rng.bool(p.solarize);
    return { geometry, colorJitter, grayscale, blur, solarize: solar };
  };

  const apply = async (image: RgbImage, d: ViewDecisions): Promise<View> => {
    checkImage(image, 'ViewPipeline.apply');
    let px = await cropResize(image, d.geometry, S);
    if (d.colorJitter) {
      for (const step of d.colorJitter.order) {
        if (step === 0) adjustBrightness(px, d.colorJitter.brightness);
        else if (step === 1) adjustContrast(px, d.colorJitter.contrast);
        else if (step === 2) adjustSaturation(px, d.colorJitter.saturation);
        else adjustHue(px, d.colorJitter.hue);
      }
    }
    if (d.grayscale) toGrayscale(px);
    if (d.blur?.kind === 'resize') px = resizeBlur(px, S, d.blur.factor);
    else if (d.blur?.kind === 'gaussian') px = gaussianBlur(px, S, S, gaussianRadius, d.blur.sigma);
    if (d.solarize) solarize(px, o.solarizeThreshold);
    normalize(px, o.mean, o.std);
    return { pixels: px, size: S, geometry: { ...d.geometry } };
  };

  const view = async (image: RgbImage, rng: Rng, which: 1 | 2): Promise<View> => {
    checkImage(image, 'ViewPipeline.view');
    return apply(image, decide(image, rng, which));
  };

  return {
    options: o,
    decide,
    apply,
    view,
    async viewPair(image: RgbImage, rng: Rng): Promise<[View, View]> {
      checkImage(image, 'ViewPipeline.viewPair');
      // Decide both views first (fixed draw order), then render them concurrently.
      const d1 = decide(image, rng, 1);
      const d2 = decide(image, rng, 2);
      return Promise.all([apply(image, d1), apply(image, d2)]);
    },
  };
}

