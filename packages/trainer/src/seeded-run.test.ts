/**
 * The behaviour guard of issue 17: a seeded 20-step SCRL run from a folder of images (through
 * @scrl/data's view-pair loader, built in this thread) gives exactly these losses. Refactors
 * of the trainer, the optimisers, the RNG or the data path must keep them bit for bit; a change
 * that is meant to alter the numbers must say so and re-record them (set
 * SCRL_RECORD_SEEDED_RUN=1 and paste the printed array).
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import sharp from 'sharp';
import { initBackend } from '@scrl/roi-align';
import { imageFolderSource, readMetrics, train } from './index';
import { syntheticImages, tinyConfig } from './__tests__/tiny-run';

jest.setTimeout(600_000);

/** Recorded on the wasm backend (1 thread) before the refactor of issue 17. */
// Recorded before the house refactor of issue 17 (which left them bit-identical). The SCRL run's
// last six values were re-recorded once afterwards, for issue 15's wasm BatchMatMul (XNNPACK sums
// the projector's and predictor's transposed products in another order; with the stock kernel
// swapped back the old values are reproduced exactly).
const RECORDED: Record<string, number[]> = {
  scrl: [
    4.125866889953613, 3.2078661918640137, 3.907973527908325, 3.500016689300537, 4.144421577453613, 4.269383430480957,
    4.180346488952637, 3.0129799842834473, 3.460366725921631, 3.7210755348205566, 3.8793368339538574, 3.3830478191375732,
    3.3288943767547607, 2.529414653778076, 2.9502198696136475, 3.4187865257263184, 3.2817280292510986, 3.5022895336151123,
    3.140260696411133, 3.14196515083313,
  ],
  'byol, accumulate 2': [
    4.4592742919921875, 3.3328202962875366, 4.014326572418213, 3.2430180311203003, 3.8656104803085327, 3.8319458961486816,
    3.363082766532898, 4.124771595001221, 3.5807294845581055, 3.32961642742157, 3.188690662384033, 3.4135022163391113,
    3.3510499000549316, 2.6183269023895264, 3.1325440406799316, 3.2759222984313965, 2.634295105934143, 2.4914097785949707,
    2.8812872171401978, 2.807248592376709,
  ],
};

async function writeImages(dir: string, n: number): Promise<void> {
  await Promise.all(
    syntheticImages(n).map((im, i) =>
      sharp(Buffer.from(im.data), { raw: { width: im.width, height: im.height, channels: 3 } })
        .png()
        .toFile(path.join(dir, `img${String(i).padStart(2, '0')}.png`)),
    ),
  );
}

describe('seeded 20-step pretraining run [wasm]', () => {
  beforeAll(async () => {
    await initBackend({ backend: 'wasm', log: null });
  });

  it.each([
    ['scrl', [] as string[], 'folder'],
    ['byol, accumulate 2', ['method=byol', 'batch.accumulate=2'], 'folder'],
    // One data path (issue 17, item 3): an ImageSource of the same folder gives the same run.
    ['scrl', [] as string[], 'imageFolderSource'],
  ])('%s (overrides %j) from a %s gives the recorded loss sequence exactly', async (name, extra, from) => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'scrl-seeded-data-'));
    const out = fs.mkdtempSync(path.join(os.tmpdir(), 'scrl-seeded-run-'));
    await writeImages(dir, 12);
    const config = tinyConfig(['seed=7', 'schedule.steps=20', 'schedule.warmupSteps=3', 'checkpoint.every=100', ...extra]);
    const data = from === 'folder' ? dir : imageFolderSource(dir);
    await train({ config, out, data, workers: 0, log: null, progress: false });
    const losses = readMetrics(path.join(out, 'metrics.jsonl')).map((r) => r.loss);
    if (process.env.SCRL_RECORD_SEEDED_RUN === '1') console.log(name, JSON.stringify(losses));
    expect(losses).toHaveLength(20);
    expect(losses).toEqual(RECORDED[name]);
    for (const d of [dir, out]) fs.rmSync(d, { recursive: true });
  });
});
