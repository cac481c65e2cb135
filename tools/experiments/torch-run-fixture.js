#!/usr/bin/env node
/**
 * Builds the committed fixture of the PyTorch hand-off (packages/cli/src/__fixtures__/torch-run):
 * a tiny SCRL run (ResNet-18 of width 2 on 16 px views, 4 images per step, 60 steps) done three
 * ways, so that tests on both sides can check the hand-off without each other's runtime.
 *
 *   node tools/experiments/torch-run-fixture.js [--out DIR]
 *
 * Needs /usr/bin/python3 with torch and torchvision (Debian: apt-get install -y python3-torch
 * python3-torchvision). Writes into DIR (default the fixture folder):
 *   scenes/            16 generated 32 px scenes (COCO folder; scrl data generate --images 16 --size 32)
 *   config.json        the run's resolved config
 *   ts-metrics.jsonl   the uninterrupted 60-step TypeScript run, one line per step
 *   ts-40/             its checkpoint at step 40 (weights to compare a torch continuation with)
 *   export-20/         `scrl export --format torch-run` of its step-20 checkpoint (paths made relative)
 *   batches/           micro-batches 20..39 as @scrl/data built them (tools/experiments/dump-views.js format)
 *   torch-40/          export-20 continued by `torchrun --nproc_per_node 2 -m scrl_torch.train --batches`
 *                      (gloo, CPU) to step 40: the checkpoint `scrl pretrain --resume` continues in jest
 *   byol-ts-metrics.jsonl  steps 21..30 of the same run switched to BYOL at step 20 (export-20 with
 *                      config.method = byol), continued in TypeScript: the BYOL reference
 *   views.json         view geometry and box pairs of 100 images from @scrl/augment (seed 0), and the
 *                      distribution of 10,000 (boxes per image, images without pairs, box and crop sizes)
 */
'use strict';
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { spawnSync } = require('node:child_process');
const root = path.join(__dirname, '..', '..');
const { generateScenes, ImageFolder, createViewPairLoader } = require('@scrl/data');
const { boxPairBatchArrays, createRng, createViewPipeline, sampleBoxPairs } = require('@scrl/augment');
const { applyOverrides, presetConfig, train } = require('@scrl/trainer');
const { initBackend } = require('@scrl/roi-align');
const { arg } = require('../args');

const OVERRIDES = [
  'model.baseWidth=2',
  'model.projector.hiddenDim=16',
  'model.projector.outDim=8',
  'model.predictor.hiddenDim=16',
  'views.size=16',
  'batch.size=4',
  'schedule.steps=60',
  'schedule.warmupSteps=6',
  'checkpoint.every=20',
  'checkpoint.keep=0',
];

function run(cmd, args, options = {}) {
  const r = spawnSync(cmd, args, { stdio: ['ignore', 'inherit', 'inherit'], ...options });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed with status ${r.status}`);
}

function copyCheckpoint(fromDir, step, toDir) {
  fs.mkdirSync(toDir, { recursive: true });
  const base = `ckpt-${String(step).padStart(8, '0')}`;
  for (const ext of ['.json', '.safetensors']) fs.copyFileSync(path.join(fromDir, base + ext), path.join(toDir, base + ext));
}

/** Geometry and box pairs of `n` images of `width x height` from the item streams of `seed`. */
function viewSamples(seed, n, width, height, viewSize, minSize) {
  const pipeline = createViewPipeline({ viewSize });
  const out = [];
  for (let k = 0; k < n; k++) {
    const rng = createRng(seed).fork('item').fork(Math.floor(k / 100)).fork(k % 100);
    const d1 = pipeline.decide({ width, height }, rng, 1);
    const d2 = pipeline.decide({ width, height }, rng, 2);
    const pairs = sampleBoxPairs(d1.geometry, d2.geometry, { viewSize, minSize }, rng.fork('boxes'));
    out.push({ epoch: Math.floor(k / 100), index: k % 100, geometry: [d1.geometry, d2.geometry], pairs: pairs.map((p) => [p.view1, p.view2]) });
  }
  return out;
}

/** The statistics the Python pipeline is compared on (python/scrl_torch/tests/test_views.py). */
function viewStats(samples, width, height) {
  let boxes = 0;
  let none = 0;
  let area = 0;
  let scale = 0;
  for (const s of samples) {
    boxes += s.pairs.length;
    if (s.pairs.length === 0) none += 1;
    for (const [b1] of s.pairs) area += Math.sqrt((b1[2] - b1[0]) * (b1[3] - b1[1]));
    for (const g of s.geometry) scale += (g.width * g.height) / (width * height);
  }
  return { samples: samples.length, boxesPerImage: boxes / samples.length, shareWithoutPairs: none / samples.length, meanBoxSide: area / boxes, meanCropScale: scale / (2 * samples.length) };
}

async function main() {
  const out = path.resolve(arg('out', path.join(root, 'packages', 'cli', 'src', '__fixtures__', 'torch-run')));
  // cpu: the wasm backend's float32 kernels drift from PyTorch and from cpu on this run (docs/scale.md, parity).
  await initBackend({ backend: 'cpu' });
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'torch-run-fixture-'));
  fs.rmSync(out, { recursive: true, force: true });
  fs.mkdirSync(out, { recursive: true });
  const scenes = path.join(out, 'scenes');
  await generateScenes({ out: scenes, images: 16, seed: 0, size: 32, minObjects: 2, maxObjects: 6 });
  const images = path.join(scenes, 'images');
  const config = applyOverrides(presetConfig('cpu'), OVERRIDES);
  fs.writeFileSync(path.join(out, 'config.json'), JSON.stringify(config, null, 2) + '\n');

  // 1. The uninterrupted TypeScript run.
  const tsRun = path.join(tmp, 'ts');
  await train({ config, out: tsRun, data: images, workers: 0, log: null, progress: false });
  fs.copyFileSync(path.join(tsRun, 'metrics.jsonl'), path.join(out, 'ts-metrics.jsonl'));
  copyCheckpoint(path.join(tsRun, 'checkpoints'), 40, path.join(out, 'ts-40'));

  // 2. Its step-20 checkpoint exported for torch, with paths made relative to the fixture.
  const exported = path.join(out, 'export-20');
  run(process.execPath, [path.join(root, 'packages', 'cli', 'bin', 'scrl.js'), 'export', '--format', 'torch-run',
    '--checkpoint', path.join(tsRun, 'checkpoints', 'ckpt-00000020.json'), '--data', images, '--out', exported]);
  const info = JSON.parse(fs.readFileSync(path.join(exported, 'run.json'), 'utf8'));
  info.source = 'ts-run/checkpoints/ckpt-00000020.json';
  info.data.folder = '../scenes/images';
  info.continue = {
    torch: 'torchrun --nnodes 1 --nproc-per-node 2 -m scrl_torch.train --resume export-20',
    scrl: 'scrl pretrain --out export-20 --resume --data scenes/images --config export-20/pretrain-config.json',
  };
  fs.writeFileSync(path.join(exported, 'run.json'), JSON.stringify(info, null, 2) + '\n');

  // 3. Micro-batches 20..39 exactly as the trainer's loader built them.
  const batches = path.join(out, 'batches');
  fs.mkdirSync(batches, { recursive: true });
  const files = [...(await ImageFolder.open(images)).files].sort();
  const S = config.views.size;
  const loader = createViewPairLoader(files, {
    batchSize: config.batch.size, workers: 0, seed: config.seed, viewSize: S,
    pipeline: { scale: config.views.scale, blur: config.views.blur },
    boxPairs: { minSize: 8, boxesPerImage: config.boxes.perImage, iouThreshold: config.boxes.iouThreshold, maxTries: config.boxes.maxTries, jitter: config.boxes.jitter },
  });
  const meta = [];
  try {
    let g = 0;
    for (let epoch = 0; g < 40; epoch++) {
      for await (const b of loader.epoch(epoch)) {
        if (g >= 20) {
          const a = boxPairBatchArrays(b.boxPairs);
          const head = new Int32Array([b.batchSize, S, a.numPairs, 0]);
          const parts = [head, b.view1, b.view2, a.boxes, a.boxIndices].map((t) => Buffer.from(t.buffer, t.byteOffset, t.byteLength));
          fs.writeFileSync(path.join(batches, `batch-${String(g).padStart(4, '0')}.bin`), Buffer.concat(parts));
          meta.push({ batch: g, epoch, step: b.step, pairs: a.numPairs, indices: b.indices });
        }
        g += 1;
        if (g >= 40) break;
      }
    }
  } finally {
    await loader.close();
  }
  fs.writeFileSync(path.join(batches, 'meta.json'), JSON.stringify({ files: files.map((f) => path.relative(out, f)), batches: meta }) + '\n');

  // 4. Steps 21..40 under torchrun, 2 gloo processes.
  const torchRun = path.join(tmp, 'torch');
  fs.cpSync(exported, torchRun, { recursive: true });
  run('/usr/bin/torchrun', ['--redirects', '2', '--tee', '2', '--nnodes', '1', '--nproc_per_node', '2', '-m', 'scrl_torch.train',
    '--resume', torchRun, '--batches', batches, '--max-steps', '40'], { cwd: path.join(root, 'python', 'scrl_torch'), env: { ...process.env, OMP_NUM_THREADS: '1' } });
  copyCheckpoint(path.join(torchRun, 'checkpoints'), 40, path.join(out, 'torch-40', 'checkpoints'));
  fs.copyFileSync(path.join(torchRun, 'metrics.jsonl'), path.join(out, 'torch-40', 'metrics.jsonl'));

  // 5. BYOL from the same state: the method switched in the checkpoint's state (the sidecar's
  // sha256 covers the tensors only) and in the config, 10 steps in TypeScript.
  const byol = path.join(tmp, 'byol');
  fs.cpSync(exported, byol, { recursive: true });
  const sidecar = path.join(byol, 'checkpoints', 'ckpt-00000020.json');
  const sc = JSON.parse(fs.readFileSync(sidecar, 'utf8'));
  sc.state.config.method = 'byol';
  fs.writeFileSync(sidecar, JSON.stringify(sc, null, 1) + '\n');
  await train({ config: { ...config, method: 'byol' }, out: byol, data: images, workers: 0, resume: true, maxSteps: 30, log: null, progress: false });
  const byolLines = fs.readFileSync(path.join(byol, 'metrics.jsonl'), 'utf8').split('\n').filter((l) => l && JSON.parse(l).step > 20);
  fs.writeFileSync(path.join(out, 'byol-ts-metrics.jsonl'), byolLines.map((l) => l + '\n').join(''));

  // 6. View geometry and box pairs for the Python pipeline's checks.
  const exact = viewSamples(0, 100, 64, 48, 32, 8);
  const stats = viewStats(viewSamples(0, 10000, 64, 48, 32, 8), 64, 48);
  fs.writeFileSync(path.join(out, 'views.json'), JSON.stringify({ width: 64, height: 48, viewSize: 32, minSize: 8, seed: 0, exact, stats }) + '\n');

  fs.rmSync(tmp, { recursive: true, force: true });
  console.error(`torch-run-fixture: wrote ${out}`);
}

main().catch((e) => {
  console.error(`torch-run-fixture: ${e.stack ?? e.message}`);
  process.exitCode = 1;
});
