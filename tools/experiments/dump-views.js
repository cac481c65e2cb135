#!/usr/bin/env node
/**
 * Dumps the exact training batches of a `cpu`-preset pretrain run (views and box pairs) for the
 * PyTorch reference (tools/experiments/torch_reference.py). Uses @scrl/data's view-pair loader
 * with the options train.ts's loaderStream passes (folder data: sorted files, seed, view size 32,
 * scale [0.2, 1], resize blur, box pairs with minSize 8 = the C5 stride, 10 per image, IoU 0.5,
 * 50 tries, no jitter), in this thread (workers: 0; batches are seeded per item, so identical to
 * the worker build), epoch after epoch, so batch g is the trainer's micro-batch g for the same seed.
 *
 *   node tools/experiments/dump-views.js [--images DIR] [--out DIR] [--steps 300] [--seed 0] [--batch 32]
 *
 * --batch overrides the preset's batch size (the regime runs of experiments/regime use 64).
 *
 * File batch-NNNN.bin (little-endian): int32 [B, S, P, 0]; float32 view1 [B,S,S,3] (NHWC,
 * normalised); float32 view2 [B,S,S,3]; float32 boxes [2P,4] (x1,y1,x2,y2 in view pixels: the P
 * view-1 boxes, then the P view-2 boxes); int32 boxIndices [2P] (rows of the stacked [view1; view2]).
 */
'use strict';
const fs = require('node:fs');
const path = require('node:path');
const root = path.join(__dirname, '..', '..');
const { ImageFolder, createViewPairLoader } = require('@scrl/data');
const { boxPairBatchArrays } = require('@scrl/augment');
const { presetConfig } = require('@scrl/trainer');
const { arg } = require('../args');

async function main() {
  const images = arg('images', path.join(root, 'runs', 'results', 'pretrain-scenes', 'images'));
  const out = arg('out', path.join(root, 'runs', 'results', 'torch-ref', 'batches'));
  const steps = Number(arg('steps', '300'));
  const cfg = presetConfig('cpu');
  const seed = Number(arg('seed', String(cfg.seed)));
  const files = [...(await ImageFolder.open(images)).files].sort();
  fs.mkdirSync(out, { recursive: true });
  const batchSize = Number(arg('batch', String(cfg.batch.size)));
  if (!Number.isInteger(batchSize) || batchSize < 1) throw new Error(`--batch must be a positive integer, got ${arg('batch')}`);
  const S = cfg.views.size;
  const loader = createViewPairLoader(files, {
    batchSize,
    workers: 0,
    seed,
    viewSize: S,
    pipeline: { scale: cfg.views.scale, blur: cfg.views.blur },
    boxPairs: { minSize: 8, boxesPerImage: cfg.boxes.perImage, iouThreshold: cfg.boxes.iouThreshold, maxTries: cfg.boxes.maxTries, jitter: cfg.boxes.jitter },
  });
  const t0 = Date.now();
  let g = 0;
  const meta = [];
  try {
    for (let epoch = 0; g < steps; epoch++) {
      for await (const b of loader.epoch(epoch)) {
        const a = boxPairBatchArrays(b.boxPairs);
        const P = a.numPairs;
        const head = new Int32Array([b.batchSize, S, P, 0]);
        const parts = [head, b.view1, b.view2, a.boxes, a.boxIndices].map((t) => Buffer.from(t.buffer, t.byteOffset, t.byteLength));
        fs.writeFileSync(path.join(out, `batch-${String(g).padStart(4, '0')}.bin`), Buffer.concat(parts));
        meta.push({ batch: g, epoch, step: b.step, images: b.batchSize, pairs: P, indices: b.indices });
        g += 1;
        if (g % 50 === 0) console.error(`dump-views: ${g} batches, ${((Date.now() - t0) / 1000).toFixed(1)} s`);
        if (g >= steps) break;
      }
    }
  } finally {
    await loader.close();
  }
  fs.writeFileSync(path.join(out, 'meta.json'), JSON.stringify({ images, files: files.length, seed, size: S, batches: meta }) + '\n');
  console.error(`dump-views: wrote ${g} batches to ${out} in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
}

main().catch((e) => {
  console.error(`dump-views: ${e.stack ?? e.message}`);
  process.exitCode = 1;
});
