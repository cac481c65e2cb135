import * as fs from 'node:fs';
import * as path from 'node:path';
import { createViewPairLoader, generateScenes, ImageFolder, loadScenes, type ViewPairBatch, type ViewPairLoader } from '../index';
import { expectSameBatches, removeDir, tempDir, warnings, writeTruncatedPng } from './helpers';

// The machine is shared; the root preset's testTimeout does not reach projects.
jest.setTimeout(120_000);

const S = 32;
const base = { viewSize: S, boxPairs: { minSize: 8, boxesPerImage: 3 }, warn: null } as const;

async function collect(loader: ViewPairLoader, epoch: number, startStep = 0): Promise<ViewPairBatch[]> {
  const out: ViewPairBatch[] = [];
  for await (const b of loader.epoch(epoch, { startStep })) out.push(b);
  return out;
}

async function until(cond: () => boolean): Promise<void> {
  while (!cond()) await new Promise((r) => setTimeout(r, 5));
}


describe('view-pair loader', () => {
  let root: string;
  let files: string[];
  const open: ViewPairLoader[] = [];
  const make = (opts: Parameters<typeof createViewPairLoader>[1], source: Parameters<typeof createViewPairLoader>[0] = files) => {
    const l = createViewPairLoader(source, opts);
    open.push(l);
    return l;
  };

  beforeAll(async () => {
    root = tempDir('loader');
    await generateScenes({ out: path.join(root, 'scenes'), images: 10, seed: 2, size: 64 });
    files = (await loadScenes(path.join(root, 'scenes'))).images.map((im) => im.file);
  });
  afterEach(async () => {
    await Promise.all(open.splice(0).map((l) => l.close()));
  });
  afterAll(() => removeDir(root));

  it('delivers batches in step order with the documented shapes', async () => {
    const loader = make({ ...base, batchSize: 4, dropLast: false, workers: 2, seed: 1 });
    expect(loader.stepsPerEpoch).toBe(3);
    const batches = await collect(loader, 0);
    expect(batches.map((b) => b.step)).toEqual([0, 1, 2]);
    expect(batches.map((b) => b.batchSize)).toEqual([4, 4, 2]);
    expect(batches.flatMap((b) => b.indices).sort((x, y) => x - y)).toEqual([...Array(10).keys()]);
    for (const b of batches) {
      expect(b.size).toBe(S);
      expect(b.epoch).toBe(0);
      expect(b.view1).toBeInstanceOf(Float32Array);
      expect(b.view1.length).toBe(b.batchSize * S * S * 3);
      expect(b.view2.length).toBe(b.batchSize * S * S * 3);
      expect(b.geometry).toHaveLength(b.batchSize);
      expect(b.boxPairs).toHaveLength(b.batchSize);
      expect(b.indices).toEqual(loader.batchIndices(0, b.step));
      for (let i = 0; i < b.batchSize; i++) {
        for (const g of b.geometry[i]) {
          expect(g.left >= 0 && g.top >= 0 && g.left + g.width <= 64 && g.top + g.height <= 64).toBe(true);
        }
        expect([0, 3]).toContain(b.boxPairs[i].length);
        for (const p of b.boxPairs[i]) for (const v of [...p.view1, ...p.view2]) expect(v >= 0 && v <= S).toBe(true);
      }
    }
    expect(batches.some((b) => b.boxPairs.some((p) => p.length === 3))).toBe(true);
    expect(loader.positionAfter(batches[1])).toEqual({ epoch: 0, step: 2 });
    expect(loader.positionAfter(batches[2])).toEqual({ epoch: 1, step: 0 });
  });

  it('gives identical batches with 0, 1 and 2 workers; epochs differ; resume matches', async () => {
    const opts = { ...base, batchSize: 3, seed: 'run-7' };
    const one = make({ ...opts, workers: 1 });
    const two = make({ ...opts, workers: 2, prefetch: 3 });
    const local = make({ ...opts, workers: 0 });
    const e0 = await collect(one, 0);
    expect(e0).toHaveLength(3); // dropLast: 10 images -> 3 batches of 3
    expectSameBatches(e0, await collect(two, 0));
    expectSameBatches(e0, await collect(local, 0));
    // a second pass over the same epoch is the same; another epoch is shuffled and augmented anew
    expectSameBatches(e0, await collect(two, 0));
    const e1 = await collect(two, 1);
    expect(e1.map((b) => b.indices)).not.toEqual(e0.map((b) => b.indices));
    // resuming at (1, 1) gives the rest of epoch 1 exactly
    expectSameBatches(e1.slice(1), await collect(one, 1, 1));
    expect(() => one.epoch(1, { startStep: 3 })).toThrow(/step must be an integer in \[0, 3\), got 3/);
  });

  it('keeps order without shuffle and the same views for the same (seed, epoch, index)', async () => {
    const a = await collect(make({ ...base, batchSize: 5, shuffle: false, workers: 1, seed: 4 }), 2);
    expect(a.map((b) => b.indices)).toEqual([
      [0, 1, 2, 3, 4],
      [5, 6, 7, 8, 9],
    ]);
    // image 7 alone, in a different batch position and loader: same views
    const b = await collect(make({ ...base, batchSize: 1, shuffle: false, workers: 1, seed: 4 }, [files[7]]), 0);
    expect(b[0].geometry).toHaveLength(1);
    // index differs (0 vs 7), so the stream differs: only the stream of (seed, epoch, index) matters
    const c = await collect(make({ ...base, batchSize: 1, shuffle: false, workers: 1, seed: 4 }, files), 2);
    expect(c[7].geometry).toEqual([a[1].geometry[2]]);
    expect(Buffer.from(c[7].view1.buffer).equals(Buffer.from(a[1].view1.buffer, 2 * S * S * 3 * 4, S * S * 3 * 4))).toBe(true);
  });

  it('keeps at most `prefetch` batches built or waiting, however slow the consumer', async () => {
    const loader = make({ ...base, batchSize: 1, workers: 2, prefetch: 3, seed: 0 });
    const it = loader.epoch(0);
    const first = await it.next();
    expect(first.done).toBe(false);
    // Do not consume: wait until the workers have nothing left to do.
    await until(() => loader.stats().inFlight === 0);
    const s = loader.stats();
    expect(s.ready).toBe(3);
    expect(s.dispatched).toBe(4); // 1 taken + 3 queued, not the 10 of the epoch
    expect(s.highWater).toBeLessThanOrEqual(3);
    let taken = 1;
    for await (const b of { [Symbol.asyncIterator]: () => it }) {
      expect(b.step).toBe(taken++);
      expect(loader.stats().highWater).toBeLessThanOrEqual(3);
    }
    expect(taken).toBe(10);
    expect(loader.stats().dispatched).toBe(10);
  });

  it('abandons an epoch when the loop breaks and starts the next one cleanly', async () => {
    const loader = make({ ...base, batchSize: 2, workers: 2, seed: 3 });
    for await (const b of loader.epoch(0)) {
      if (b.step === 1) break;
    }
    const e1 = await collect(loader, 1);
    expect(e1.map((b) => b.step)).toEqual([0, 1, 2, 3, 4]);
    expect(e1.map((b) => b.epoch)).toEqual([1, 1, 1, 1, 1]);
  });

  it('close() terminates the workers and rejects further use', async () => {
    const loader = make({ ...base, batchSize: 2, workers: 2 });
    expect(loader.stats().workers).toBe(2);
    const it = loader.epoch(0);
    await it.next();
    await loader.close();
    expect(loader.stats().workers).toBe(0);
    expect((await it.next()).done).toBe(true);
    expect(() => loader.epoch(0)).toThrow(/closed/);
    await loader.close();
  });

  it('skips an unreadable image with one warning and exposes the list', async () => {
    const bad = path.join(root, 'broken.png');
    await writeTruncatedPng(bad);
    const w = warnings();
    const loader = make({ ...base, batchSize: 11, workers: 1, warn: w.warn }, [...files.slice(0, 5), bad, ...files.slice(5)]);
    for (let epoch = 0; epoch < 2; epoch++) {
      const [b] = await collect(loader, epoch);
      expect(b.batchSize).toBe(10);
      expect(b.indices).not.toContain(5);
      expect(b.view1.length).toBe(10 * S * S * 3);
    }
    expect(loader.skipped.map((s) => s.file)).toEqual([bad]);
    expect(w.lines.filter((l) => l.includes(bad))).toHaveLength(1);
    expect(w.lines.filter((l) => /epoch \d: 1 unreadable image was skipped/.test(l))).toHaveLength(2);
  });

  it('accepts an ImageFolder or a DetectionDataset and validates its options', async () => {
    const folder = await ImageFolder.open(path.join(root, 'scenes', 'images'));
    const l1 = make({ ...base, batchSize: 10, workers: 0, shuffle: false }, folder);
    const l2 = make({ ...base, batchSize: 10, workers: 0, shuffle: false }, await loadScenes(path.join(root, 'scenes')));
    expectSameBatches(await collect(l1, 0), await collect(l2, 0));
    expect(() => createViewPairLoader(files, { batchSize: 11 })).toThrow(/batchSize must be at most the number of images \(10\)/);
    expect(() => createViewPairLoader(files, { batchSize: 0 })).toThrow(/batchSize must be a positive integer, got 0/);
    expect(() => createViewPairLoader([], { batchSize: 1 })).toThrow(/non-empty list/);
    expect(() => createViewPairLoader(files, { batchSize: 1, workers: -1 })).toThrow(/workers/);
    expect(fs.existsSync(path.join(__dirname, '..', '..', 'dist', 'loader-worker.js'))).toBe(true);
  });
});
