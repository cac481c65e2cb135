import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import sharp from 'sharp';
import type { RgbImage } from '@scrl/augment';
import { drawBox, drawDetections, drawText, evaluateCoco, samplesToCoco, textWidth, writeEvalReport, DEFAULT_DETECTION_CONFIG } from '../index';
import type { DetectionEvalResult } from '../index';
import { RECT_CATEGORIES, rectangleScenes } from '../__tests__/rectangles';

const blank = (w: number, h: number): RgbImage => ({ data: new Uint8Array(w * h * 3), width: w, height: h });
const pixel = (im: RgbImage, x: number, y: number): number[] => Array.from(im.data.subarray((y * im.width + x) * 3, (y * im.width + x) * 3 + 3));

describe('drawing', () => {
  it('drawBox outlines the box inside its edges', () => {
    const im = blank(10, 10);
    drawBox(im, [2, 3, 7, 8], [255, 0, 0]);
    expect(pixel(im, 2, 3)).toEqual([255, 0, 0]); // top-left corner
    expect(pixel(im, 6, 7)).toEqual([255, 0, 0]); // bottom-right: x2 - 1, y2 - 1
    expect(pixel(im, 4, 5)).toEqual([0, 0, 0]); // inside stays
    expect(pixel(im, 7, 8)).toEqual([0, 0, 0]); // outside stays
  });

  it('drawText renders the 3x5 glyphs', () => {
    const im = blank(12, 6);
    drawText(im, '1', 0, 0, [9, 9, 9]);
    // '1' = 010/110/010/010/111
    const rows = [0, 1, 2, 3, 4].map((y) => [0, 1, 2].map((x) => (pixel(im, x, y)[0] === 9 ? 1 : 0)).join(''));
    expect(rows).toEqual(['010', '110', '010', '010', '111']);
    expect(textWidth('AB', 2)).toBe(14);
  });

  it('drawDetections tiles images into a PNG with a legend', async () => {
    const scenes = rectangleScenes(3);
    const png = await drawDetections(
      scenes.map((s) => ({
        image: s.image,
        boxes: s.bboxes.map(([x, y, w, h]) => [x, y, x + w, y + h]),
        labels: s.categoryIds.map((c) => c - 1),
        scores: s.bboxes.map(() => 0.9),
      })),
      { classNames: ['red', 'green'], columns: 2, upscale: 2 },
    );
    const meta = await sharp(png).metadata();
    expect(meta.format).toBe('png');
    // 2 columns of 128 px + 3 gaps of 4; 2 rows of 128 + 3 gaps + 12 px legend.
    expect([meta.width, meta.height]).toEqual([2 * 128 + 12, 2 * 128 + 12 + 12]);
    await expect(drawDetections([], { classNames: [] })).rejects.toThrow(/drawDetections: items is empty/);
  });
});

describe('writeEvalReport', () => {
  it('writes the stats table, per-class AP and the picture', async () => {
    const scenes = rectangleScenes(2);
    const groundTruth = samplesToCoco(scenes, RECT_CATEGORIES);
    // Perfect detections: AP 1 (up to pycocotools' eps).
    const detections = groundTruth.annotations.map((a) => ({ image_id: a.image_id, category_id: a.category_id, bbox: a.bbox, score: 0.9 }));
    const coco = evaluateCoco(groundTruth, detections);
    const result = { config: DEFAULT_DETECTION_CONFIG, coco, detections, groundTruth, history: [], detector: null } as unknown as DetectionEvalResult;
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'scrl-eval-report-'));
    const files = await writeEvalReport(dir, result, { title: 'perfect', val: scenes, notes: ['backbone: none'] });
    const md = fs.readFileSync(files.markdown, 'utf8');
    expect(md).toContain('# perfect');
    expect(md).toContain('| 100.0 | 100.0 | 100.0 | 100.0 | n/a | n/a |');
    expect(md).toContain(' Average Precision  (AP) @[ IoU=0.50:0.95 | area=   all | maxDets=100 ] = 1.000');
    expect(md).toMatch(/\| (red|green) \| 100\.0 \| 100\.0 \|/);
    expect(md).toContain('![validation detections](detections.png)');
    expect((await sharp(files.picture!).metadata()).format).toBe('png');
    fs.rmSync(dir, { recursive: true, force: true });
  });
});
