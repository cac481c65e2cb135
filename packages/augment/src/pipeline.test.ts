import * as path from 'node:path';
import { Worker } from 'node:worker_threads';
import {
  createRng,
  createViewPipeline,
  cropResize,
  normalize,
  sampleBoxPairs,
  VIEW_PIPELINE_DEFAULTS,
} from './index';
import type { RgbImage, View } from './index';

/** Smooth colour fields plus tiles: content that differs everywhere, so misplaced boxes show. */
function testImage(width: number, height: number): RgbImage {
  const data = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const p = (y * width + x) * 3;
      const tile = ((Math.floor(x / 40) + Math.floor(y / 40)) % 2) * 40;
      data[p] = Math.round((200 * x) / width) + tile / 2;
      data[p + 1] = Math.round((200 * y) / height);
      data[p + 2] = Math.round(127 + 100 * Math.sin(x / 23) * Math.cos(y / 31));
    }
  }
  return { data, width, height };
}

const plain = { flip: 0.5, colorJitter: 0, grayscale: 0, blur: 0, solarize: 0 };

function boxMean(v: View, box: number[], mean: number[], std: number[]): number[] {
  const S = v.size;
  const out = [0, 0, 0];
  let n = 0;
  for (let y = Math.ceil(box[1]); y < Math.floor(box[3]); y++) {
    for (let x = Math.ceil(box[0]); x < Math.floor(box[2]); x++) {
      for (let c = 0; c < 3; c++) out[c] += v.pixels[(y * S + x) * 3 + c] * std[c] + mean[c];
      n++;
    }
  }
  return out.map((s) => s / n);
}

describe('createViewPipeline', () => {
  const image = testImage(320, 240);

  it('replays views and geometry from the same seed', async () => {
    const pipe = createViewPipeline({ viewSize: 64 });
    const [a1, a2] = await pipe.viewPair(image, createRng(10));
    const [b1, b2] = await pipe.viewPair(image, createRng(10));
    expect(b1.geometry).toEqual(a1.geometry);
    expect(b2.geometry).toEqual(a2.geometry);
    expect(Buffer.from(b1.pixels.buffer).equals(Buffer.from(a1.pixels.buffer))).toBe(true);
    expect(Buffer.from(b2.pixels.buffer).equals(Buffer.from(a2.pixels.buffer))).toBe(true);
    const [c1] = await pipe.viewPair(image, createRng(11));
    expect(c1.geometry).not.toEqual(a1.geometry);
  });

  it('returns S x S x 3 normalised pixels and geometry inside the image', async () => {
    const pipe = createViewPipeline({ viewSize: 48 });
    const rng = createRng(1);
    for (let i = 0; i < 20; i++) {
      for (const v of await pipe.viewPair(image, rng)) {
        expect(v.size).toBe(48);
        expect(v.pixels.length).toBe(48 * 48 * 3);
        const g = v.geometry;
        expect(g.top >= 0 && g.left >= 0 && g.top + g.height <= 240 && g.left + g.width <= 320).toBe(true);
        expect(g.width * g.height).toBeGreaterThanOrEqual(0.19 * 320 * 240);
        for (let c = 0; c < 3; c++) {
          const lo = (0 - VIEW_PIPELINE_DEFAULTS.mean[c]) / VIEW_PIPELINE_DEFAULTS.std[c];
          const hi = (1 - VIEW_PIPELINE_DEFAULTS.mean[c]) / VIEW_PIPELINE_DEFAULTS.std[c];
          for (let p = c; p < v.pixels.length; p += 3) {
            if (!(v.pixels[p] >= lo - 1e-5 && v.pixels[p] <= hi + 1e-5)) throw new Error(`pixel ${p} = ${v.pixels[p]}`);
          }
        }
      }
    }
  });

  it('without colour steps a view is exactly normalize(cropResize(image, geometry)), flip included', async () => {
    const pipe = createViewPipeline({ viewSize: 64, view1: plain, view2: plain });
    const rng = createRng(3);
    let flipped = 0;
    for (let i = 0; i < 8; i++) {
      for (const v of await pipe.viewPair(image, rng)) {
        const ref = normalize(await cropResize(image, v.geometry, 64), pipe.options.mean, pipe.options.std);
        expect(Buffer.from(v.pixels.buffer).equals(Buffer.from(ref.buffer))).toBe(true);
        if (v.geometry.flipped) {
          flipped++;
          const unflipped = normalize(await cropResize(image, { ...v.geometry, flipped: false }, 64), pipe.options.mean, pipe.options.std);
          expect(v.pixels[0]).toBe(unflipped[63 * 3]);
          expect(v.pixels[(5 * 64 + 10) * 3 + 2]).toBe(unflipped[(5 * 64 + 53) * 3 + 2]);
        }
      }
    }
    expect(flipped).toBeGreaterThan(0);
  });

  it('matched boxes show the same content in both views', async () => {
    const S = 224;
    const pipe = createViewPipeline({ viewSize: S, view1: plain, view2: plain });
    const rng = createRng('content');
    const { mean, std } = pipe.options;
    let checked = 0;
    let worst = 0;
    for (let i = 0; i < 12; i++) {
      const [v1, v2] = await pipe.viewPair(image, rng);
      for (const p of sampleBoxPairs(v1.geometry, v2.geometry, { viewSize: S }, rng)) {
        const a = boxMean(v1, p.view1, mean, std);
        const b = boxMean(v2, p.view2, mean, std);
        worst = Math.max(worst, ...a.map((x, c) => Math.abs(x - b[c])));
        checked++;
      }
    }
    expect(checked).toBeGreaterThan(30);
    // Box means differ only by resampling and the half-pixel edges of the box: a few levels.
    expect(worst).toBeLessThan(6 / 255);
    // A control: the same boxes against the other view's unrelated region differ a lot.
    const [v1, v2] = await pipe.viewPair(image, createRng('control'));
    const a = boxMean(v1, [0, 0, 40, 40], mean, std);
    const b = boxMean(v2, [184, 184, 224, 224], mean, std);
    expect(Math.max(...a.map((x, c) => Math.abs(x - b[c])))).toBeGreaterThan(worst);
  });

  it('draws each step with the per-view probabilities of the spec', () => {
    const pipe = createViewPipeline();
    const rng = createRng('probabilities');
    const n = 4000;
    const count = [1, 2].map(() => ({ flip: 0, jitter: 0, gray: 0, blur: 0, solar: 0 }));
    for (let i = 0; i < n; i++) {
      for (const which of [1, 2] as const) {
        const d = pipe.decide({ width: 500, height: 375 }, rng, which);
        const c = count[which - 1];
        c.flip += +d.geometry.flipped;
        c.jitter += +(d.colorJitter !== null);
        c.gray += +d.grayscale;
        c.blur += +(d.blur !== null);
        c.solar += +d.solarize;
        if (d.colorJitter) {
          expect([...d.colorJitter.order].sort()).toEqual([0, 1, 2, 3]);
          const j = d.colorJitter;
          if (!(j.brightness >= 0.6 && j.brightness <= 1.4 && j.contrast >= 0.6 && j.contrast <= 1.4)) throw new Error('b/c range');
          if (!(j.saturation >= 0.8 && j.saturation <= 1.2 && Math.abs(j.hue) <= 0.1)) throw new Error('s/h range');
        }
        if (d.blur && d.blur.kind === 'resize' && ![1.1, 1.2, 1.5].includes(d.blur.factor)) throw new Error('factor');
      }
    }
    const near = (k: number, p: number) => Math.abs(k / n - p) < 4 * Math.sqrt((p * (1 - p)) / n) + 1e-9;
    const [c1, c2] = count;
    expect([near(c1.flip, 0.5), near(c1.jitter, 0.8), near(c1.gray, 0.2), c1.blur === n, c1.solar === 0]).toEqual([true, true, true, true, true]);
    expect([near(c2.flip, 0.5), near(c2.jitter, 0.8), near(c2.gray, 0.2), near(c2.blur, 0.1), near(c2.solar, 0.2)]).toEqual([true, true, true, true, true]);
  });

  it('offers the Gaussian blur (sigma in range, kernel 10% of S) and every option is configurable', async () => {
    const pipe = createViewPipeline({
      viewSize: 40,
      blur: 'gaussian',
      gaussianSigma: [0.5, 0.6],
      view1: { blur: 1, flip: 0, colorJitter: 0, grayscale: 1 },
    });
    const d = pipe.decide(image, createRng(0), 1);
    expect(d.blur?.kind).toBe('gaussian');
    expect(d.blur && 'sigma' in d.blur && d.blur.sigma >= 0.5 && d.blur.sigma < 0.6).toBe(true);
    expect(d.grayscale).toBe(true);
    const v = await pipe.apply(image, d);
    // Grayscale: the three channels agree once denormalised.
    const { mean, std } = pipe.options;
    for (let p = 0; p < v.pixels.length; p += 3) {
      const r = v.pixels[p] * std[0] + mean[0];
      const g = v.pixels[p + 1] * std[1] + mean[1];
      if (Math.abs(r - g) > 1e-5) throw new Error(`not gray at ${p}`);
    }
  });

  it('rejects bad options and images with messages naming them', async () => {
    expect(() => createViewPipeline({ viewSize: 3 })).toThrow(/createViewPipeline: options.viewSize must be an integer >= 8, got 3/);
    expect(() => createViewPipeline({ view2: { solarize: 2 } })).toThrow(/options.view2.solarize must be a probability/);
    expect(() => createViewPipeline({ view1: { blurr: 1 } as never })).toThrow(/options.view1.blurr must be one of/);
    expect(() => createViewPipeline({ scale: [0.5, 0.2] })).toThrow(/options.scale must be/);
    expect(() => createViewPipeline({ blur: 'box' as never })).toThrow(/options.blur must be 'resize' or 'gaussian'/);
    expect(() => createViewPipeline({ hue: 0.7 })).toThrow(/options.hue/);
    const pipe = createViewPipeline();
    await expect(pipe.viewPair({ data: new Uint8Array(10), width: 4, height: 4 }, createRng(0))).rejects.toThrow(
      /ViewPipeline.viewPair: image.data has 10 bytes but 4 x 4 x 3 = 48/,
    );
    await expect(pipe.viewPair({ data: [1, 2] as never, width: 1, height: 1 }, createRng(0))).rejects.toThrow(/must be a Uint8Array/);
  });

  it('runs in a worker thread without loading TF.js', async () => {
    const src = path.join(__dirname, 'index.ts');
    const code = `
      const { parentPort, workerData } = require('node:worker_threads');
      const swc = require('@swc/core');
      require.extensions['.ts'] = (m, filename) =>
        m._compile(swc.transformFileSync(filename, { jsc: { parser: { syntax: 'typescript' }, target: 'es2022' }, module: { type: 'commonjs' } }).code, filename);
      const aug = require(workerData.src);
      const img = { data: new Uint8Array(100 * 80 * 3).map((_, i) => i % 251), width: 100, height: 80 };
      const rng = aug.createRng('worker');
      aug.createViewPipeline({ viewSize: 32 }).viewPair(img, rng).then(([v1, v2]) => {
        const pairs = aug.sampleBoxPairs(v1.geometry, v2.geometry, { viewSize: 32, minSize: 8 }, rng);
        const tf = Object.keys(require.cache).filter((p) => p.includes('@tensorflow'));
        parentPort.postMessage({ tf, sizes: [v1.pixels.length, v2.pixels.length], pairs: pairs.length, g: v1.geometry });
      });
    `;
    const result = await new Promise<{ tf: string[]; sizes: number[]; g: unknown }>((resolve, reject) => {
      const w = new Worker(code, { eval: true, workerData: { src } });
      w.once('message', (m) => {
        resolve(m);
        void w.terminate();
      });
      w.once('error', reject);
    });
    expect(result.tf).toEqual([]);
    expect(result.sizes).toEqual([32 * 32 * 3, 32 * 32 * 3]);
    // Same seed in the main thread: same geometry.
    const img = { data: new Uint8Array(100 * 80 * 3).map((_, i) => i % 251), width: 100, height: 80 };
    const [v1] = await createViewPipeline({ viewSize: 32 }).viewPair(img, createRng('worker'));
    expect(result.g).toEqual(v1.geometry);
  });
});
