import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import sharp from 'sharp';
import { loadDetectionSamples } from '../index';

describe('loadDetectionSamples', () => {
  it('decodes images and groups annotations per image', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'scrl-eval-ds-'));
    const raw = Buffer.alloc(8 * 6 * 3, 0);
    raw[0] = 200; // top-left pixel red
    for (const name of ['a.png', 'b.png']) {
      await sharp(raw, { raw: { width: 8, height: 6, channels: 3 } }).png().toFile(path.join(dir, name));
    }
    const samples = await loadDetectionSamples({
      images: [
        { id: 3, file: path.join(dir, 'a.png'), width: 8, height: 6 },
        { id: 4, file: path.join(dir, 'b.png'), width: 8, height: 6 },
      ],
      categories: [{ id: 1, name: 'thing' }],
      annotations: [{ id: 1, imageId: 3, categoryId: 1, bbox: [1, 1, 3, 2], area: 5, iscrowd: 1 }],
    });
    expect(samples).toHaveLength(2);
    expect(samples[0]).toMatchObject({ id: 3, bboxes: [[1, 1, 3, 2]], categoryIds: [1], areas: [5], iscrowd: [1] });
    expect(samples[0].image.width).toBe(8);
    expect(samples[0].image.data[0]).toBe(200);
    expect(samples[1].bboxes).toEqual([]);
    fs.rmSync(dir, { recursive: true, force: true });
  });
});
