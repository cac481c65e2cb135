import * as fs from 'node:fs';
import * as path from 'node:path';
import { DataError, dominantClassLabels, loadCocoDataset, objectCrops, toCocoJson } from '../index';
import { removeDir, tempDir, writeImage } from './helpers';

function cocoFixture() {
  return {
    info: { description: 'test' },
    images: [
      { id: 10, file_name: 'a.png', width: 40, height: 30 },
      { id: 11, file_name: 'sub/b.png', width: 20, height: 20 },
    ],
    categories: [
      { id: 3, name: 'cat', supercategory: 'animal' },
      { id: 7, name: 'dog' },
    ],
    annotations: [
      { id: 1, image_id: 10, category_id: 3, bbox: [2, 3, 10, 8], area: 70, iscrowd: 0, segmentation: [[2, 3, 12, 3, 12, 11]] },
      { id: 2, image_id: 10, category_id: 7, bbox: [20, 5, 20.4, 10] },
      { id: 5, image_id: 11, category_id: 7, bbox: [0, 0, 20, 20], area: 400, iscrowd: 1 },
    ],
  };
}

describe('loadCocoDataset', () => {
  let dir: string;
  const write = (name: string, content: unknown) => {
    const file = path.join(dir, name);
    fs.writeFileSync(file, typeof content === 'string' ? content : JSON.stringify(content));
    return file;
  };
  beforeEach(() => {
    dir = tempDir('coco');
  });
  afterEach(() => removeDir(dir));

  it('reads images, categories and annotations into the common shape', async () => {
    const file = write('instances.json', cocoFixture());
    const ds = await loadCocoDataset(file);
    expect(ds.images).toEqual([
      { id: 10, file: path.join(dir, 'a.png'), width: 40, height: 30 },
      { id: 11, file: path.join(dir, 'sub', 'b.png'), width: 20, height: 20 },
    ]);
    expect(ds.categories).toEqual([
      { id: 3, name: 'cat' },
      { id: 7, name: 'dog' },
    ]);
    expect(ds.annotations[0]).toEqual({ id: 1, imageId: 10, categoryId: 3, bbox: [2, 3, 10, 8], area: 70, iscrowd: 0 });
    // within 1 px of the edge: clipped to the image; area defaults to w * h of the file's box
    expect(ds.annotations[1].bbox).toEqual([20, 5, 20, 10]);
    expect(ds.annotations[1].area).toBeCloseTo(204);
    expect(ds.annotations[1].iscrowd).toBe(0);
    expect(ds.annotations[2].iscrowd).toBe(1);
  });

  it('resolves file_name against imageDir', async () => {
    fs.mkdirSync(path.join(dir, 'imgs'));
    const file = write('instances.json', cocoFixture());
    const ds = await loadCocoDataset(file, path.join(dir, 'imgs'));
    expect(ds.images[1].file).toBe(path.join(dir, 'imgs', 'sub', 'b.png'));
    await expect(loadCocoDataset(file, path.join(dir, 'nope'))).rejects.toThrow(/image folder does not exist/);
  });

  it('toCocoJson gives pycocotools ground truth that reads back to the same dataset', async () => {
    const file = write('instances.json', cocoFixture());
    const ds = await loadCocoDataset(file);
    const json = toCocoJson(ds, { relativeTo: dir });
    expect(json.images[1]).toEqual({ id: 11, file_name: 'sub/b.png', width: 20, height: 20 });
    expect(json.annotations[2]).toEqual({ id: 5, image_id: 11, category_id: 7, bbox: [0, 0, 20, 20], area: 400, iscrowd: 1 });
    expect(json.categories[0]).toEqual({ id: 3, name: 'cat', supercategory: 'object' });
    const again = await loadCocoDataset(write('again.json', json));
    expect(again).toEqual(ds);
    expect(toCocoJson(ds).images[1].file_name).toBe('b.png');
  });

  it('dominantClassLabels picks the category with the largest area per image', async () => {
    const ds = await loadCocoDataset(write('instances.json', cocoFixture()));
    // image 10: cat 70 vs dog 204 -> dog (index 1); image 11: dog (crowd counts)
    expect(dominantClassLabels(ds)).toEqual([1, 1]);
    expect(dominantClassLabels({ ...ds, annotations: [] })).toEqual([-1, -1]);
  });

  it('objectCrops yields one labelled crop per non-crowd object, optionally resized', async () => {
    await writeImage(path.join(dir, 'a.png'), 40, 30);
    await writeImage(path.join(dir, 'sub', 'b.png'), 20, 20);
    const ds = await loadCocoDataset(write('instances.json', cocoFixture()));
    const crops = [];
    for await (const c of objectCrops(ds)) crops.push(c);
    expect(crops.map((c) => [c.annotationId, c.label, c.image.width, c.image.height])).toEqual([
      [1, 0, 10, 8],
      [2, 1, 20, 10],
    ]);
    // pixel (x=2, y=3) of the image is the first pixel of crop 1
    expect(crops[0].image.data[0]).toBe((2 * 7 + 3 * 13) & 255);
    const sized = [];
    for await (const c of objectCrops(ds, { size: 16, skipCrowd: false })) sized.push(c);
    expect(sized).toHaveLength(3);
    expect(sized.every((c) => c.image.width === 16 && c.image.data.length === 16 * 16 * 3)).toBe(true);
  });

  describe('bad input: one DataError naming the file and the problem', () => {
    const expectDataError = async (p: Promise<unknown>, file: string, pattern: RegExp) => {
      const err = await p.catch((e: unknown) => e);
      expect(err).toBeInstanceOf(DataError);
      expect((err as DataError).file).toBe(file);
      expect((err as DataError).message).toMatch(pattern);
      expect((err as DataError).message).toContain('loadCocoDataset');
    };

    it('missing annotation file', async () => {
      const file = path.join(dir, 'missing.json');
      await expectDataError(loadCocoDataset(file), file, /COCO annotation file does not exist/);
    });

    it('malformed JSON', async () => {
      const file = write('broken.json', '{"images": [');
      await expectDataError(loadCocoDataset(file), file, /is not valid JSON/);
    });

    it('JSON that is not COCO', async () => {
      const bad = cocoFixture() as { annotations: Array<Record<string, unknown>> };
      bad.annotations[1].bbox = [1, 2, 3];
      const file = write('shape.json', bad);
      await expectDataError(loadCocoDataset(file), file, /does not match COCO's detection format: annotations\[1\]\.bbox/);
      await expectDataError(loadCocoDataset(write('arr.json', [])), path.join(dir, 'arr.json'), /format/);
    });

    it('an annotation that points outside its image', async () => {
      const bad = cocoFixture();
      bad.annotations[0].bbox = [35, 3, 10, 8];
      const file = write('outside.json', bad);
      await expectDataError(loadCocoDataset(file), file, /annotations\[0\] \(id 1, image 'a.png'\) has bbox \[35, 3, 10, 8\].*outside its 40x30 image/);
      bad.annotations[0].bbox = [2, 3, -1, 8];
      await expectDataError(loadCocoDataset(write('neg.json', bad)), path.join(dir, 'neg.json'), /negative bbox size/);
    });

    it('unknown image or category, duplicate ids', async () => {
      const a = cocoFixture();
      a.annotations[1].image_id = 99;
      await expectDataError(loadCocoDataset(write('a.json', a)), path.join(dir, 'a.json'), /image_id 99, which is not in images/);
      const b = cocoFixture();
      b.annotations[1].category_id = 4;
      await expectDataError(loadCocoDataset(write('b.json', b)), path.join(dir, 'b.json'), /category_id 4, which is not in categories/);
      const c = cocoFixture();
      c.images[1].id = 10;
      await expectDataError(loadCocoDataset(write('c.json', c)), path.join(dir, 'c.json'), /two images with id 10/);
    });
  });
});
