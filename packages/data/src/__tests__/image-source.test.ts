import * as path from 'node:path';
import { createViewPairLoader, decodeImage, imageFolderSource, ImageFolder, inMemorySource, isImageSource, type ViewPairBatch, type ViewPairLoader } from '../index';
import { expectSameBatches, removeDir, tempDir, writeImage } from './helpers';

jest.setTimeout(120_000);

async function collect(loader: ViewPairLoader, epochs: number): Promise<ViewPairBatch[]> {
  const out: ViewPairBatch[] = [];
  for (let e = 0; e < epochs; e++) for await (const b of loader.epoch(e)) out.push(b);
  await loader.close();
  return out;
}

describe('one data path: a folder and an ImageSource of it', () => {
  let dir: string;
  beforeAll(async () => {
    dir = tempDir('image-source');
    for (let i = 0; i < 7; i++) await writeImage(path.join(dir, `im${i}.png`), 40 + 4 * i, 36, 'png', i);
  });
  afterAll(() => removeDir(dir));

  it('give equal batches (same images, order, views and boxes) for the same seed', async () => {
    const options = { batchSize: 3, viewSize: 24, seed: 11, boxPairs: { minSize: 8, boxesPerImage: 3 }, warn: null };
    const files = [...(await ImageFolder.open(dir)).files].sort();
    const fromFolder = await collect(createViewPairLoader(files, { ...options, workers: 0 }), 2);
    const source = imageFolderSource(dir);
    expect(isImageSource(source)).toBe(true);
    const fromSource = await collect(createViewPairLoader(source, { ...options, workers: 2 }), 2);
    expect(fromFolder).toHaveLength(4);
    expectSameBatches(fromFolder, fromSource);
    // Images in memory follow the same path.
    const images = await Promise.all(files.map((f) => decodeImage(f)));
    const fromMemory = await collect(createViewPairLoader(inMemorySource(images), options), 2);
    expect(fromMemory.map((b) => b.boxPairs)).toEqual(fromFolder.map((b) => b.boxPairs));
  });

  it('imageFolderSource names a missing folder', () => {
    expect(() => imageFolderSource(path.join(dir, 'nope'))).toThrow(/^Error in imageFolderSource: '.*nope' is not a directory/);
  });
});
