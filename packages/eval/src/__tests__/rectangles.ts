/** Tiny detection sets for tests: coloured rectangles on a plain grey background. */
import type { DetectionSample } from '../detection/finetune';
import { mulberry32Open } from '@scrl/util';

export const RECT_CATEGORIES = [
  { id: 1, name: 'red' },
  { id: 2, name: 'green' },
];
const COLOURS: Record<number, [number, number, number]> = { 1: [220, 40, 40], 2: [40, 200, 60] };

/** `count` images of size x size with 1-3 non-overlapping rectangles each (side 14-30 px). */
export function rectangleScenes(count: number, size = 64, seed = 3): DetectionSample[] {
  const rand = mulberry32Open(seed);
  const ri = (lo: number, hi: number): number => lo + Math.floor(rand() * (hi - lo + 1));
  const samples: DetectionSample[] = [];
  for (let n = 0; n < count; n++) {
    const data = new Uint8Array(size * size * 3).fill(110);
    const bboxes: number[][] = [];
    const categoryIds: number[] = [];
    const want = ri(1, 3);
    for (let tries = 0; tries < 100 && bboxes.length < want; tries++) {
      const w = ri(14, 30);
      const h = ri(14, 30);
      const x = ri(0, size - w);
      const y = ri(0, size - h);
      const overlaps = bboxes.some(([bx, by, bw, bh]) => x < bx + bw + 2 && bx < x + w + 2 && y < by + bh + 2 && by < y + h + 2);
      if (overlaps) continue;
      const cat = ri(1, 2);
      for (let yy = y; yy < y + h; yy++) {
        for (let xx = x; xx < x + w; xx++) data.set(COLOURS[cat], (yy * size + xx) * 3);
      }
      bboxes.push([x, y, w, h]);
      categoryIds.push(cat);
    }
    samples.push({ id: n + 1, image: { data, width: size, height: size }, bboxes, categoryIds });
  }
  return samples;
}
