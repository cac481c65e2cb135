import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import sharp from 'sharp';
import { DataError, ImageFolder, LabelledImageFolder, decodeImage, isDataError, iterateImages, listImageFiles } from '../index';
import { pngBytes, pngHeaderOnly, removeDir, tempDir, warnings, writeImage, writeTruncatedPng } from './helpers';

// The machine is shared; the root preset's testTimeout does not reach projects.
jest.setTimeout(120_000);

describe('decodeImage', () => {
  let dir: string;
  beforeAll(() => {
    dir = tempDir('decode');
  });
  afterAll(() => removeDir(dir));

  it('decodes PNG and lossless WebP to the exact packed RGB pixels', async () => {
    for (const format of ['png', 'webp'] as const) {
      const file = path.join(dir, `a.${format}`);
      const raw = await writeImage(file, 7, 5, format);
      const img = await decodeImage(file);
      expect([img.width, img.height]).toEqual([7, 5]);
      expect(img.data).toBeInstanceOf(Uint8Array);
      expect(Buffer.from(img.data)).toEqual(raw);
    }
  });

  it('decodes JPEG to 3 channels of the right size', async () => {
    const file = path.join(dir, 'a.jpg');
    await writeImage(file, 16, 8, 'jpeg');
    const img = await decodeImage(file);
    expect([img.width, img.height, img.data.length]).toEqual([16, 8, 16 * 8 * 3]);
  });

  it('expands grey and drops alpha', async () => {
    const grey = path.join(dir, 'grey.png');
    await sharp(Buffer.alloc(6, 77), { raw: { width: 3, height: 2, channels: 1 } }).png().toFile(grey);
    expect(Array.from((await decodeImage(grey)).data)).toEqual(new Array(18).fill(77));
    const rgba = path.join(dir, 'rgba.png');
    await sharp(Buffer.from([1, 2, 3, 255, 4, 5, 6, 0, 1, 2, 3, 255, 4, 5, 6, 0]), { raw: { width: 2, height: 2, channels: 4 } }).png().toFile(rgba);
    expect(Array.from((await decodeImage(rgba)).data)).toEqual([1, 2, 3, 4, 5, 6, 1, 2, 3, 4, 5, 6]);
  });

  it('decodes 16-bit RGBA to 8-bit RGB: samples scaled (v >> 8), alpha dropped without premultiplying', async () => {
    const file = path.join(dir, 'rgba16.png');
    const px = [0, 257 * 100, 65535, 65535, 257 * 7, 32768, 1000, 0];
    fs.writeFileSync(file, pngBytes(2, 2, 16, 6, [...px, ...px]));
    expect(Array.from((await decodeImage(file)).data)).toEqual([0, 100, 255, 7, 128, 3, 0, 100, 255, 7, 128, 3]);
  });

  it('refuses, from the header and before decoding, an image over MAX_IMAGE_PIXELS, and one with a side under 2 px', async () => {
    const bomb = path.join(dir, 'bomb.png');
    fs.writeFileSync(bomb, pngHeaderOnly(20000, 20000));
    await expect(decodeImage(bomb)).rejects.toThrow('image is 20000x20000 (400.0 megapixels), over the 89.5-megapixel limit; resize it');
    const dot = path.join(dir, 'dot.png');
    await sharp({ create: { width: 1, height: 1, channels: 3, background: '#808080' } }).png().toFile(dot);
    await expect(decodeImage(dot)).rejects.toThrow('image is 1x1 px; images need at least 2 px per side');
  });

  it('fails on truncated and non-image files', async () => {
    const bad = path.join(dir, 'cut.png');
    await writeTruncatedPng(bad);
    await expect(decodeImage(bad)).rejects.toThrow();
    const txt = path.join(dir, 'text.png');
    fs.writeFileSync(txt, 'not an image');
    await expect(decodeImage(txt)).rejects.toThrow(/unsupported image format/);
  });
});

describe('unlabelled image folder', () => {
  let dir: string;
  beforeAll(async () => {
    dir = tempDir('folder');
    await writeImage(path.join(dir, 'b.png'), 8, 8);
    await writeImage(path.join(dir, 'a.JPG'), 8, 6, 'jpeg');
    await writeImage(path.join(dir, 'sub', 'c.webp'), 4, 4, 'webp');
    await writeImage(path.join(dir, 'sub', 'deeper', 'd.png'), 5, 5);
    await writeImage(path.join(dir, '.hidden', 'e.png'), 5, 5);
    fs.writeFileSync(path.join(dir, 'notes.txt'), 'ignored');
  });
  afterAll(() => removeDir(dir));

  it('lists jpg/png/webp recursively in a stable order, skipping other and hidden files', async () => {
    const files: string[] = [];
    for await (const f of listImageFiles(dir)) files.push(path.relative(dir, f));
    expect(files).toEqual(['a.JPG', 'b.png', path.join('sub', 'c.webp'), path.join('sub', 'deeper', 'd.png')]);
    const flat: string[] = [];
    for await (const f of listImageFiles(dir, { recursive: false })) flat.push(path.relative(dir, f));
    expect(flat).toEqual(['a.JPG', 'b.png']);
  });

  it('ImageFolder keeps paths and decodes per item', async () => {
    const ds = await ImageFolder.open(dir);
    expect(ds.length).toBe(4);
    expect(ds.files.every((f) => path.isAbsolute(f))).toBe(true);
    const img = await ds.load(3);
    expect(img && [img.width, img.height]).toEqual([5, 5]);
    const seen: number[] = [];
    for await (const item of ds) seen.push(item.index);
    expect(seen).toEqual([0, 1, 2, 3]);
    await expect(ds.load(4)).rejects.toThrow(/out of range/);
  });

  it('iterateImages streams decoded images', async () => {
    const sizes: string[] = [];
    for await (const item of iterateImages(dir)) sizes.push(`${item.image.width}x${item.image.height}`);
    expect(sizes).toEqual(['8x6', '8x8', '4x4', '5x5']);
  });
});

describe('bad folders and bad images', () => {
  let dir: string;
  beforeEach(() => {
    dir = tempDir('bad');
  });
  afterEach(() => removeDir(dir));

  it('skips a corrupt and a truncated image with one warning each, naming the file, and a count', async () => {
    await writeImage(path.join(dir, 'a.png'), 4, 4);
    await writeTruncatedPng(path.join(dir, 'b.png'));
    fs.writeFileSync(path.join(dir, 'c.jpg'), Buffer.from('garbage bytes, not a jpeg'));
    await writeImage(path.join(dir, 'd.png'), 4, 4);
    const w = warnings();
    const ds = await ImageFolder.open(dir, { warn: w.warn });
    const got: string[] = [];
    for await (const item of ds) got.push(path.basename(item.file));
    expect(got).toEqual(['a.png', 'd.png']);
    expect(ds.skipped.map((s) => path.basename(s.file))).toEqual(['b.png', 'c.jpg']);
    expect(w.lines).toHaveLength(3);
    expect(w.lines[0]).toContain(path.join(dir, 'b.png'));
    expect(w.lines[1]).toContain(path.join(dir, 'c.jpg'));
    expect(w.lines[2]).toMatch(/2 unreadable images were skipped/);
    // A second pass skips them again without repeating the per-file warnings.
    for await (const item of ds) void item;
    expect(w.lines.filter((l) => l.includes('b.png'))).toHaveLength(1);

    const w2 = warnings();
    const skipped: Array<{ file: string }> = [];
    const streamed: string[] = [];
    for await (const item of iterateImages(dir, { warn: w2.warn, skipped })) streamed.push(path.basename(item.file));
    expect(streamed).toEqual(['a.png', 'd.png']);
    expect(skipped).toHaveLength(2);
    expect(w2.lines).toHaveLength(3);
  });

  it('a folder with no images is a DataError naming the folder', async () => {
    fs.writeFileSync(path.join(dir, 'readme.txt'), 'x');
    const err = await ImageFolder.open(dir).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DataError);
    expect((err as DataError).file).toBe(dir);
    expect((err as DataError).message).toMatch(/contains no image files/);
    await expect(
      (async () => {
        for await (const item of iterateImages(dir)) void item;
      })(),
    ).rejects.toThrow(DataError);
  });

  it('a missing folder or a file in its place is a DataError', async () => {
    const missing = path.join(dir, 'nope');
    await expect(ImageFolder.open(missing)).rejects.toThrow(/folder does not exist/);
    fs.writeFileSync(path.join(dir, 'f'), 'x');
    const err = await ImageFolder.open(path.join(dir, 'f')).catch((e: unknown) => e);
    expect(isDataError(err)).toBe(true);
    expect((err as Error).message).toMatch(/is a file, expected a folder/);
  });
});

describe('labelled image folder', () => {
  let dir: string;
  beforeAll(async () => {
    dir = tempDir('labelled');
    await writeImage(path.join(dir, 'dog', 'x.png'), 4, 4, 'png', 1);
    await writeImage(path.join(dir, 'dog', 'more', 'y.png'), 4, 4, 'png', 2);
    await writeImage(path.join(dir, 'cat', 'z.jpg'), 4, 4, 'jpeg', 3);
    await writeImage(path.join(dir, 'top-level.png'), 4, 4);
  });
  afterAll(() => removeDir(dir));

  it('numbers classes by sorted folder name and labels each image', async () => {
    const ds = await LabelledImageFolder.open(dir);
    expect(ds.classes).toEqual(['cat', 'dog']);
    expect(ds.samples.map((s) => [path.relative(dir, s.file), s.label])).toEqual([
      [path.join('cat', 'z.jpg'), 0],
      [path.join('dog', 'x.png'), 1],
      [path.join('dog', 'more', 'y.png'), 1],
    ]);
    const labels: number[] = [];
    for await (const item of ds) labels.push(item.label);
    expect(labels).toEqual([0, 1, 1]);
  });

  it('a class folder without images, or no class folders, is a DataError', async () => {
    const bad = tempDir('labelled-bad');
    try {
      await writeImage(path.join(bad, 'only.png'), 4, 4);
      await expect(LabelledImageFolder.open(bad)).rejects.toThrow(/has no class sub-folders/);
      await writeImage(path.join(bad, 'a', 'x.png'), 4, 4);
      fs.mkdirSync(path.join(bad, 'b'));
      const err = await LabelledImageFolder.open(bad).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(DataError);
      expect((err as DataError).file).toBe(path.join(bad, 'b'));
    } finally {
      removeDir(bad);
    }
  });
});

describe('memory stays flat in the number of images', () => {
  let dir: string;
  beforeAll(async () => {
    dir = tempDir('memory');
    // 150 images of 256x256 (196 KB each decoded, 29 MB if they were all kept).
    const raw = Buffer.alloc(256 * 256 * 3, 90);
    const png = await sharp(raw, { raw: { width: 256, height: 256, channels: 3 } }).png().toBuffer();
    for (let i = 0; i < 150; i++) fs.writeFileSync(path.join(dir, `${String(i).padStart(3, '0')}.png`), png);
  });
  afterAll(() => removeDir(dir));

  it('streaming a folder retains at most a few decoded images (measured after GC in a child process)', () => {
    const dist = path.join(__dirname, '..', '..', 'dist', 'index.js');
    expect(fs.existsSync(dist)).toBe(true);
    // The child samples external memory (sharp's buffers live there) after a forced GC every
    // 10 images while it iterates, once streaming and once through ImageFolder.
    const script = `
      const { iterateImages, ImageFolder } = require(${JSON.stringify(dist)});
      (async () => {
        const mem = () => { global.gc(); return process.memoryUsage().external; };
        const samples = [];
        let n = 0;
        for await (const item of iterateImages(${JSON.stringify(dir)})) {
          if (++n % 10 === 0) samples.push(mem());
        }
        const ds = await ImageFolder.open(${JSON.stringify(dir)});
        for await (const item of ds) {
          if (++n % 10 === 0) samples.push(mem());
        }
        console.log(JSON.stringify({ n, samples }));
      })();`;
    const r = spawnSync(process.execPath, ['--expose-gc', '-e', script], { encoding: 'utf8' });
    expect(r.stderr).toBe('');
    const { n, samples } = JSON.parse(r.stdout) as { n: number; samples: number[] };
    expect(n).toBe(300);
    expect(samples).toHaveLength(30);
    // From the 2nd sample (after warm-up) to the end, growth stays under 4 decoded images
    // (196 KB each); keeping every image would add 130 x 196 KB = 25 MB per pass.
    const growth = Math.max(...samples.slice(2)) - samples[1];
    expect(growth).toBeLessThan(4 * 256 * 256 * 3);
  });
});

describe('default warnings', () => {
  let dir: string;
  beforeAll(async () => {
    dir = tempDir('warn');
    await writeImage(path.join(dir, 'a.png'), 8, 8);
    fs.writeFileSync(path.join(dir, 'broken.png'), 'not an image');
  });
  afterAll(() => removeDir(dir));

  it('are our own lines on stderr, without Node\'s "(node:PID) Warning:" prefix or --trace-warnings hint', () => {
    const dist = path.join(__dirname, '..', '..', 'dist', 'index.js');
    const script = `
      const { iterateImages } = require(${JSON.stringify(dist)});
      (async () => { for await (const item of iterateImages(${JSON.stringify(dir)})) void item; })();`;
    const r = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8' });
    expect(r.status).toBe(0);
    const lines = r.stderr.trimEnd().split('\n');
    expect(lines).toEqual([
      expect.stringMatching(/^\[scrl\] skipped unreadable image .*broken\.png: /),
      expect.stringMatching(/^\[scrl\] iterateImages\(.*\): 1 unreadable image was skipped/),
    ]);
  });
});
