import * as fs from 'node:fs';
import * as path from 'node:path';
import {
  checkScenes,
  DataError,
  decodeImage,
  dominantClassLabels,
  ensureScenes,
  generateScenes,
  loadSceneLabels,
  loadScenes,
  objectCrops,
  renderScene,
  SCENE_CLASSES,
} from '../index';
import { removeDir, tempDir } from './helpers';

// The machine is shared; the root preset's testTimeout does not reach projects.
jest.setTimeout(120_000);

const filesOf = (dir: string): Record<string, Buffer> => {
  const out: Record<string, Buffer> = {};
  const walk = (d: string) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const full = path.join(d, e.name);
      if (e.isDirectory()) walk(full);
      else out[path.relative(dir, full)] = fs.readFileSync(full);
    }
  };
  walk(dir);
  return out;
};

describe('scene sets of different sizes', () => {
  it('share their first images: a larger set extends a smaller one with the same seed', async () => {
    // scrl eval detection's 2000 built-in scenes rely on this: their first 1000 are the probes' scenes.
    const root = tempDir('scenes-prefix');
    try {
      const small = path.join(root, 'small');
      const large = path.join(root, 'large');
      await generateScenes({ out: small, images: 4, size: 32, seed: 3 });
      await generateScenes({ out: large, images: 9, size: 32, seed: 3 });
      const a = await loadScenes(small);
      const b = await loadScenes(large);
      expect(b.images.slice(0, 4).map((im) => path.basename(im.file))).toEqual(a.images.map((im) => path.basename(im.file)));
      const annotationsOf = (d: typeof a, ids: Set<number>) => d.annotations.filter((x) => ids.has(x.imageId));
      const ids = new Set(a.images.map((im) => im.id));
      expect(annotationsOf(b, ids).map((x) => [x.imageId, x.categoryId, x.bbox])).toEqual(a.annotations.map((x) => [x.imageId, x.categoryId, x.bbox]));
      const fa = filesOf(small);
      const fb = filesOf(large);
      const pngs = Object.keys(fa).filter((k) => k.endsWith('.png'));
      expect(pngs).toHaveLength(4);
      for (const k of pngs) expect(fb[k]?.equals(fa[k])).toBe(true);
    } finally {
      removeDir(root);
    }
  });
});

describe('renderScene', () => {
  it('is deterministic for (seed, index) and differs across them', () => {
    const a = renderScene(7, 3);
    const b = renderScene(7, 3);
    expect(Buffer.from(a.image.data).equals(Buffer.from(b.image.data))).toBe(true);
    expect(a.objects).toEqual(b.objects);
    expect(Buffer.from(renderScene(7, 4).image.data).equals(Buffer.from(a.image.data))).toBe(false);
    expect(Buffer.from(renderScene(8, 3).image.data).equals(Buffer.from(a.image.data))).toBe(false);
  });

  it('places 2-6 objects of all five classes, boxes honest about occlusion', () => {
    const counts = new Array<number>(SCENE_CLASSES.length).fill(0);
    let occluded = 0;
    for (let i = 0; i < 60; i++) {
      const { image, objects } = renderScene(1, i);
      expect([image.width, image.height, image.data.length]).toEqual([128, 128, 128 * 128 * 3]);
      expect(objects.length).toBeGreaterThanOrEqual(2);
      expect(objects.length).toBeLessThanOrEqual(6);
      for (const o of objects) {
        counts[o.classIndex]++;
        const [x, y, w, h] = o.bbox;
        const [fx, fy, fw, fh] = o.fullBbox;
        expect(x >= 0 && y >= 0 && x + w <= 128 && y + h <= 128).toBe(true);
        // the visible box lies inside the full-object box; at least half the object shows
        expect(x >= fx && y >= fy && x + w <= fx + fw && y + h <= fy + fh).toBe(true);
        expect(o.area).toBeLessThanOrEqual(w * h);
        expect(o.area).toBeLessThanOrEqual(o.fullArea);
        expect(o.area).toBeGreaterThanOrEqual(0.5 * o.fullArea);
        if (o.area < o.fullArea) occluded++;
      }
    }
    expect(Math.min(...counts)).toBeGreaterThan(10);
    expect(occluded).toBeGreaterThan(10);
  });

  it('honours size and object-count options', () => {
    const { image, objects } = renderScene(2, 0, { size: 64, minObjects: 1, maxObjects: 1 });
    expect([image.width, image.height]).toEqual([64, 64]);
    expect(objects).toHaveLength(1);
    expect(objects[0].area).toBe(objects[0].fullArea);
  });
});

describe('generateScenes', () => {
  let root: string;
  beforeAll(() => {
    root = tempDir('scenes');
  });
  afterAll(() => removeDir(root));

  it('writes a COCO dataset, byte-identical for the same seed', async () => {
    const a = await generateScenes({ out: path.join(root, 'a'), images: 12, seed: 5, size: 64 });
    await generateScenes({ out: path.join(root, 'b'), images: 12, seed: 5, size: 64 });
    await generateScenes({ out: path.join(root, 'c'), images: 12, seed: 6, size: 64 });
    expect(a).toMatchObject({ images: 12, generated: true, classes: SCENE_CLASSES });
    const fa = filesOf(path.join(root, 'a'));
    const fb = filesOf(path.join(root, 'b'));
    expect(Object.keys(fa).sort()).toEqual(
      ['annotations.json', 'labels.json', 'scenes.json', ...Array.from({ length: 12 }, (_, i) => path.join('images', `00000${i}`.slice(-6) + '.png'))].sort(),
    );
    for (const k of Object.keys(fa)) expect(fa[k].equals(fb[k])).toBe(true);
    const fc = filesOf(path.join(root, 'c'));
    expect(fa['annotations.json'].equals(fc['annotations.json'])).toBe(false);
    // no temporary folders left behind
    expect(fs.readdirSync(root).sort()).toEqual(['a', 'b', 'c']);
  });

  it('reads back with the COCO reader; pixels match renderScene; labels and crops agree', async () => {
    const dir = path.join(root, 'a');
    const ds = await loadScenes(dir);
    expect(ds.images).toHaveLength(12);
    expect(ds.categories.map((c) => c.name)).toEqual(SCENE_CLASSES);
    const img = await decodeImage(ds.images[4].file);
    expect(Buffer.from(img.data).equals(Buffer.from(renderScene(5, 4, { size: 64 }).image.data))).toBe(true);
    const labels = await loadSceneLabels(dir);
    expect(labels.labels).toEqual(dominantClassLabels(ds));
    expect(labels.files).toEqual(ds.images.map((im) => im.file));
    let crops = 0;
    for await (const c of objectCrops(ds, { size: 24, minSide: 1 })) {
      expect(c.label).toBe(c.categoryId - 1);
      crops++;
    }
    expect(crops).toBe(ds.annotations.length);
  });

  it('refuses to write over other files or an existing set without overwrite, losing nothing', async () => {
    const other = path.join(root, 'other');
    fs.mkdirSync(other);
    fs.writeFileSync(path.join(other, 'keep.txt'), 'mine');
    const err = await generateScenes({ out: other, images: 2, seed: 1, size: 32 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DataError);
    expect((err as DataError).file).toBe(other);
    expect(fs.readFileSync(path.join(other, 'keep.txt'), 'utf8')).toBe('mine');
    await expect(ensureScenes(other, { images: 2, seed: 1, size: 32 })).rejects.toThrow(/not a scenes set/);
    const before = filesOf(path.join(root, 'a'));
    await expect(generateScenes({ out: path.join(root, 'a'), images: 2, seed: 1, size: 32 })).rejects.toThrow(/already holds a scenes set/);
    expect(filesOf(path.join(root, 'a'))).toEqual(before);
    await expect(generateScenes({ out: path.join(root, 'x'), images: 0, seed: 1 })).rejects.toThrow(/images must be a positive integer, got 0/);
    expect(fs.existsSync(path.join(root, 'x'))).toBe(false);
  });

  it('overwrite replaces an existing set', async () => {
    const dir = path.join(root, 'b');
    const info = await generateScenes({ out: dir, images: 3, seed: 9, size: 32, overwrite: true });
    expect(info.images).toBe(3);
    expect((await loadScenes(dir)).images).toHaveLength(3);
    expect(checkScenes(dir, { images: 3, seed: 9, size: 32 })).toBeNull();
  });
});

describe('ensureScenes', () => {
  let dir: string;
  beforeEach(() => {
    dir = path.join(tempDir('ensure'), 'cache');
  });
  afterEach(() => removeDir(path.dirname(dir)));

  it('two runs filling the same cache at once end with one intact set', async () => {
    const opts = { images: 3, seed: 1, size: 32 };
    const results = await Promise.all([ensureScenes(dir, opts), ensureScenes(dir, opts)]);
    expect(results.map((r) => r.generated).sort()).toEqual([false, true]);
    expect(checkScenes(dir, opts)).toBeNull();
    expect(fs.readdirSync(path.dirname(dir))).toEqual(['cache']);
  });

  it('generates once, reuses, and regenerates when incomplete, modified or re-parameterised', async () => {
    const opts = { images: 4, seed: 3, size: 32 };
    const lines: string[] = [];
    const log = (l: string) => lines.push(l);
    expect((await ensureScenes(dir, opts, log)).generated).toBe(true);
    const first = filesOf(dir);
    expect((await ensureScenes(dir, opts, log)).generated).toBe(false);
    expect(lines).toHaveLength(1);

    fs.unlinkSync(path.join(dir, 'images', '000002.png'));
    expect(checkScenes(dir, opts)).toMatch(/000002.png is missing/);
    expect((await ensureScenes(dir, opts, log)).generated).toBe(true);
    expect(lines[1]).toMatch(/000002.png is missing/);
    expect(filesOf(dir)).toEqual(first);

    fs.writeFileSync(path.join(dir, 'images', '000001.png'), 'truncated');
    expect(checkScenes(dir, opts)).toMatch(/000001.png has 9 bytes/);
    fs.appendFileSync(path.join(dir, 'annotations.json'), ' ');
    expect(checkScenes(dir, opts)).toMatch(/annotations.json was modified/);
    fs.writeFileSync(path.join(dir, 'scenes.json'), '{');
    expect(checkScenes(dir, opts)).toMatch(/no readable stamp/);
    expect((await ensureScenes(dir, opts)).generated).toBe(true);
    expect(filesOf(dir)).toEqual(first);

    expect(checkScenes(dir, { ...opts, seed: 4 })).toMatch(/seed is 3, wanted 4/);
    const re = await ensureScenes(dir, { ...opts, images: 5 });
    expect(re).toMatchObject({ generated: true, images: 5 });
  });
});
