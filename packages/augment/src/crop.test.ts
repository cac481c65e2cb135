import { createRng, randomResizedCropParams } from './index';
import { scriptedRng } from './__tests__/scripted-rng';
import fixtures from './__fixtures__/augment.json';

describe('randomResizedCropParams', () => {
  it("matches torchvision's RandomResizedCrop.get_params given the same uniforms (incl. the centre-crop fallback)", () => {
    let fallbacks = 0;
    for (const c of fixtures.rrc) {
      const rng = scriptedRng(c.draws);
      const p = randomResizedCropParams(c.height, c.width, rng, c.scale as [number, number], c.ratio as [number, number]);
      expect([p.top, p.left, p.height, p.width]).toEqual(c.expected);
      expect(rng.remaining()).toBe(0); // the same number of draws as torchvision
      if (c.draws.length === 20) fallbacks++;
    }
    expect(fallbacks).toBeGreaterThan(3);
  });

  it('always returns a crop inside the image, of the asked area and aspect when not falling back', () => {
    const rng = createRng('rrc');
    let bad = 0;
    for (let i = 0; i < 5000; i++) {
      const H = rng.int(1, 900);
      const W = rng.int(1, 900);
      const p = randomResizedCropParams(H, W, rng);
      if (!(p.top >= 0 && p.left >= 0 && p.top + p.height <= H && p.left + p.width <= W && p.height > 0 && p.width > 0)) bad++;
      if (!Number.isInteger(p.top + p.left + p.height + p.width)) bad++;
    }
    expect(bad).toBe(0);
  });

  it('rejects bad sizes and ranges', () => {
    expect(() => randomResizedCropParams(0, 10, createRng(0))).toThrow(/randomResizedCropParams: image size must be positive integers, got 0 x 10/);
    expect(() => randomResizedCropParams(10, 10, createRng(0), [0.5, 0.2])).toThrow(/scale must be/);
    expect(() => randomResizedCropParams(10, 10, createRng(0), [0.2, 1], [0, 1])).toThrow(/ratio must be/);
  });
});
