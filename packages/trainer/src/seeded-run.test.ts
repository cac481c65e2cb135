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
import { setFusedBatchNorm } from '@scrl/models';
import { setHostLoops } from '@scrl/optim';
import { initBackend, withStockKernels } from '@scrl/roi-align';
import { imageFolderSource, readMetrics, train } from './index';
import { syntheticImages, tinyConfig } from './__tests__/tiny-run';

jest.setTimeout(600_000);

/** Recorded on the wasm backend (1 thread) before the refactor of issue 17. */
// Recorded before the house refactor of issue 17, which left them bit-identical. Re-recorded
// twice since, for issue 15's speed-ups: the wasm BatchMatMul (XNNPACK sums the heads' transposed
// products in another order) and @scrl/optim's host-loop LARS (its two norms summed in float64);
// then @scrl/models' fused training-mode BatchNorm (float64 sums, ATen's affine rounding): the
// first SCRL loss moved by 2e-6 relative, the tiny network's target output by 6.6e-6 against
// 3e-6 for a 1-ulp change of its input, and 20 chaotic steps grow that to a few tenths; then
// the wasm 1x1 weight gradient by im2col + BatchMatMul (moved them by at most 3e-5); then the
// wasm SIMD weight gradient (conv2d-backprop-filter-simd.ts: float32 sums in another order; the
// first three losses unchanged, the fourth by 3e-7 relative, then the usual chaotic growth).
// With `withStockKernels`, `setHostLoops(false)` and `setFusedBatchNorm(false)` the original
// values come back exactly. The BYOL run drifts most: its projector's BatchNorm1d normalises over
// 2-image micro-batches, which amplifies last-bit differences.
const RECORDED: Record<string, number[]> = {
  scrl: [
    4.125875473022461, 3.2078588008880615, 3.907978057861328, 3.500075578689575, 4.144296169281006, 4.271263122558594,
    4.195153713226318, 2.9981586933135986, 3.3827030658721924, 3.7085447311401367, 3.6907455921173096, 3.088545560836792,
    3.2391886711120605, 2.264422655105591, 3.123319387435913, 3.611142873764038, 2.9232001304626465, 3.2282395362854004,
    3.3096470832824707, 3.7101311683654785,
  ],
  'byol, accumulate 2': [
    4.459265947341919, 3.3328211307525635, 4.01433539390564, 3.243016004562378, 3.865613579750061,
    3.8312740325927734, 3.3615071773529053, 4.073246359825134, 3.6020087003707886, 3.215320587158203,
    3.462460517883301, 3.423422694206238, 3.416241407394409, 2.65126633644104, 3.290467858314514,
    2.844365954399109, 2.7622787952423096, 2.6201549768447876, 3.2534855604171753, 2.7469276189804077,
  ],
  // The SCRL run with the stock BatchMatMul, tensor-operation LARS/EMA and BatchNorm as
  // tf.moments + tf.batchNorm. It matched the first recording until the wasm SIMD weight gradient:
  // wasm has no stock Conv2DBackpropFilter to swap back, so that kernel is ours here too (the
  // first six losses within 2e-7 relative of the first recording).
  'scrl, stock kernels': [
    4.125866889953613, 3.2078661918640137, 3.907973527908325, 3.500016689300537, 4.144421100616455, 4.269383430480957,
    4.180346965789795, 3.0129849910736084, 3.460357666015625, 3.721069097518921, 3.879350185394287, 3.383282423019409,
    3.3303771018981934, 2.526613473892212, 2.948176860809326, 3.475403070449829, 3.3155903816223145, 3.562875270843506,
    3.0747087001800537, 3.14357328414917,
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
    ['scrl, stock kernels', [] as string[], 'folder'],
  ])('%s (overrides %j) from a %s gives the recorded loss sequence exactly', async (name, extra, from) => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'scrl-seeded-data-'));
    const out = fs.mkdtempSync(path.join(os.tmpdir(), 'scrl-seeded-run-'));
    await writeImages(dir, 12);
    const config = tinyConfig(['seed=7', 'schedule.steps=20', 'schedule.warmupSteps=3', 'checkpoint.every=100', ...extra]);
    const data = from === 'folder' ? dir : imageFolderSource(dir);
    const run = () => train({ config, out, data, workers: 0, log: null, progress: false });
    if (name.endsWith('stock kernels')) {
      setHostLoops(false);
      setFusedBatchNorm(false);
      try {
        await withStockKernels(run, ['BatchMatMul']);
      } finally {
        setHostLoops(true);
        setFusedBatchNorm(true);
      }
    } else {
      await run();
    }
    const losses = readMetrics(path.join(out, 'metrics.jsonl')).map((r) => r.loss);
    if (process.env.SCRL_RECORD_SEEDED_RUN === '1') console.log(name, JSON.stringify(losses));
    expect(losses).toHaveLength(20);
    expect(losses).toEqual(RECORDED[name]);
    for (const d of [dir, out]) fs.rmSync(d, { recursive: true });
  });
});
