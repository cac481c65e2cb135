import { createRng, drawBox, drawText, fillRect, mulberry32, mulberry32Uint32, Sfc32Generator, textWidth } from './index';
import type { RgbCanvas } from './index';

const canvas = (w: number, h: number): RgbCanvas => ({ width: w, height: h, data: new Uint8Array(w * h * 3) });
const lit = (c: RgbCanvas) => {
  const out: string[] = [];
  for (let i = 0; i < c.width * c.height; i++) if (c.data[3 * i] > 0) out.push(`${i % c.width},${Math.floor(i / c.width)}`);
  return out;
};

describe('mulberry32', () => {
  it('gives the reference sequence (the C original with seed 1)', () => {
    // Values from the C original (compiled with gcc), seed 1.
    const u = mulberry32Uint32(1);
    expect([u(), u(), u()]).toEqual([2693262067, 11749833, 2265367787]);
    const f = mulberry32(1);
    expect(f()).toBe(2693262067 / 4294967296);
  });
});

describe('Sfc32Generator', () => {
  it('is the core of createRng: same registers, same outputs', () => {
    const rng = createRng(5);
    const { state } = rng.getState();
    const core = new Sfc32Generator(state);
    const xs = Array.from({ length: 8 }, () => core.nextUint32() / 4294967296);
    expect(Array.from({ length: 8 }, () => rng.next())).toEqual(xs);
  });
});

describe('raster', () => {
  it('fillRect clips to the canvas and drawBox outlines inside the box', () => {
    const c = canvas(6, 6);
    fillRect(c, -2, -2, 1, 1, [1, 1, 1]);
    expect(lit(c)).toEqual(['0,0']);
    const d = canvas(6, 6);
    drawBox(d, [1, 1, 4, 4], [9, 9, 9]);
    expect(lit(d)).toEqual(['1,1', '2,1', '3,1', '1,2', '3,2', '1,3', '2,3', '3,3']);
  });

  it('drawText writes 3x5 glyphs, 4 pixels apart', () => {
    const c = canvas(8, 5);
    drawText(c, '11', 0, 0, [9, 9, 9]);
    expect(lit(c).filter((p) => p.endsWith(',4'))).toEqual(['0,4', '1,4', '2,4', '4,4', '5,4', '6,4']);
    expect(textWidth('AB', 2)).toBe(14);
  });
});
