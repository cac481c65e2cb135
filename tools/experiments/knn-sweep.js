#!/usr/bin/env node
/**
 * Investigation for docs/results.md: how much object identity the pretrained features hold, at
 * every checkpoint of pretrain runs. For each checkpoint (or `random`): pooled C5 features
 * (inference mode) of the first --crops object crops (32 px) of a scenes folder, weighted kNN
 * (k = 20, cosine; every 5th crop held out) top-1, and the mean per-dimension std of the
 * L2-normalised features (BYOL's collapse measure: about 1/sqrt(d) when healthy, 0 when collapsed).
 *
 *   node tools/experiments/knn-sweep.js --scenes DIR [--crops 1000] [--json FILE] random RUN_DIR...
 *
 * Also takes torchvision-named backbone weights: a FILE.safetensors, or a folder of them (no
 * checkpoints/ subfolder; e.g. tools/experiments/torch_reference.py's output, ckpt-NNNNNNNN.safetensors).
 * The step is read from the file name (ckpt-N or step-N), else -1. `random:N` is a random init
 * with seed N (`random` = seed 0, the cpu preset's).
 */
'use strict';
const fs = require('node:fs');
const path = require('node:path');
const root = path.join(__dirname, '..', '..');
const tf = require('@tensorflow/tfjs-core');
const { initBackend } = require('@scrl/roi-align');
const { loadScenes, objectCrops } = require('@scrl/data');
const { extractFeatures, knnClassify } = require('@scrl/eval');
const { backboneFromInit, presetConfig } = require('@scrl/trainer');
const { arg } = require('../args');

async function main() {
  const scenes = arg('scenes');
  if (!scenes || !fs.existsSync(path.join(scenes, 'annotations.json'))) throw new Error('--scenes DIR must be a scenes folder with annotations.json');
  const nCrops = Number(arg('crops', '1000'));
  const json = arg('json');
  const runs = process.argv.slice(2).filter((a, i, all) => !a.startsWith('--') && !all[i - 1]?.startsWith('--'));
  if (runs.length === 0) throw new Error('name at least one pretrain run folder (or random)');
  await initBackend({ backend: process.env.SCRL_BACKEND ?? 'wasm', log: null });
  const dataset = await loadScenes(scenes);
  const images = [];
  const labels = [];
  for await (const c of objectCrops(dataset, { size: 32 })) {
    images.push(c.image);
    labels.push(c.label);
    if (images.length >= nCrops) break;
  }
  const test = labels.map((_, i) => i % 5 === 4);
  const rows = [];
  for (const run of runs) {
    let inits;
    if (/^random(:\d+)?$/.test(run)) inits = [run];
    else if (run.endsWith('.safetensors')) inits = [run];
    else if (!fs.existsSync(path.join(run, 'checkpoints')) && fs.readdirSync(run).some((f) => f.endsWith('.safetensors'))) {
      inits = fs
        .readdirSync(run)
        .filter((f) => f.endsWith('.safetensors'))
        .sort()
        .map((f) => path.join(run, f));
    } else {
      inits = fs
        .readdirSync(path.join(run, 'checkpoints'))
        .filter((f) => /^ckpt-\d+\.json$/.test(f))
        .sort()
        .map((f) => path.join(run, 'checkpoints', f));
    }
    for (const init of inits) {
      const fallback = presetConfig('cpu');
      if (init.startsWith('random:')) fallback.seed = Number(init.slice(7));
      const { model } = backboneFromInit(init.startsWith('random') ? 'random' : init, fallback);
      const f = extractFeatures(model, images, { size: 32, batchSize: 100 });
      const pick = (want) => tf.tensor1d(test.flatMap((t, i) => (t === want ? [i] : [])), 'int32');
      const [iTrain, iTest] = [pick(false), pick(true)];
      const trainF = tf.gather(f, iTrain);
      const testF = tf.gather(f, iTest);
      const result = knnClassify(trainF, labels.filter((_, i) => !test[i]), testF, labels.filter((_, i) => test[i]), { k: 20, numClasses: dataset.categories.length });
      const normStd = tf.tidy(() => tf.moments(tf.div(f, tf.add(tf.norm(f, 2, 1, true), 1e-12)), 0).variance.sqrt().mean().dataSync()[0]);
      const m = /(?:ckpt|step)-(\d+)[^/]*$/.exec(init);
      const step = init.startsWith('random') ? 0 : m ? Number(m[1]) : -1;
      const name = run.startsWith('random') ? run : run.endsWith('.safetensors') ? path.basename(run, '.safetensors') : path.basename(run);
      const row = { run: name, step, knnTop1: Number(result.top1.toFixed(4)), normStd: Number(normStd.toFixed(4)) };
      console.log(JSON.stringify(row));
      rows.push(row);
      tf.dispose([f, trainF, testF, iTrain, iTest]);
      model.dispose();
    }
  }
  if (json) fs.writeFileSync(json, JSON.stringify({ scenes, crops: images.length, rows }, null, 1));
}

main().catch((e) => {
  console.error(`knn-sweep: ${e.message}`);
  process.exitCode = 1;
});
