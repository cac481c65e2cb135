import sharp from 'sharp';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { createRng, createViewPipeline, PAIR_COLOURS, renderBoxPairs, sampleBoxPairs } from './index';

describe('renderBoxPairs', () => {
  it('writes a PNG with the original and both views, pairs drawn in their colours', async () => {
    const W = 200;
    const H = 150;
    const data = new Uint8Array(W * H * 3).fill(128);
    const image = { data, width: W, height: H };
    const pipe = createViewPipeline({ viewSize: 64, view1: { colorJitter: 0, grayscale: 0, blur: 0 }, view2: { colorJitter: 0, grayscale: 0, blur: 0, solarize: 0 } });
    const rng = createRng(5);
    let views = await pipe.viewPair(image, rng);
    let pairs = sampleBoxPairs(views[0].geometry, views[1].geometry, { viewSize: 64, minSize: 8, boxesPerImage: 3 }, rng);
    for (let i = 0; pairs.length === 0 && i < 20; i++) {
      views = await pipe.viewPair(image, rng);
      pairs = sampleBoxPairs(views[0].geometry, views[1].geometry, { viewSize: 64, minSize: 8, boxesPerImage: 3 }, rng);
    }
    expect(pairs.length).toBe(3);
    const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'scrl-render-')), 'pairs.png');
    const png = await renderBoxPairs({ image, views, pairs, file });
    expect(fs.readFileSync(file).equals(png)).toBe(true);
    const { data: px, info } = await sharp(png).raw().toBuffer({ resolveWithObject: true });
    // Layout: original scaled to 128 px high beside two 128 px views with 4 px frames and 12 px margins.
    expect(info.height).toBe(12 * 2 + 128 + 8);
    expect(info.width).toBe(12 * 4 + Math.round(W * (128 / H)) + 2 * (128 + 8));
    const has = (rgb: number[]) => {
      for (let p = 0; p < px.length; p += info.channels) if (px[p] === rgb[0] && px[p + 1] === rgb[1] && px[p + 2] === rgb[2]) return true;
      return false;
    };
    for (let j = 0; j < 3; j++) expect(has(PAIR_COLOURS[j])).toBe(true);
    expect(has(PAIR_COLOURS[5])).toBe(false);
    expect(has([255, 120, 0]) && has([0, 170, 255])).toBe(true);
  });

  it('rejects malformed input', async () => {
    await expect(renderBoxPairs({ image: { data: new Uint8Array(3), width: 2, height: 2 }, views: [] as never, pairs: [] })).rejects.toThrow(
      /renderBoxPairs: image must be an RgbImage/,
    );
  });
});
