#!/usr/bin/env node
/**
 * Memory over time: pretrains 500 steps and fine-tunes a detector 150 steps at a tiny size
 * (ResNet-18 of width 4, 16 px views / 32 px images, wasm) and samples, after a forced GC every
 * 25 steps, `tf.memory().numTensors`, RSS, the JS heap and external memory. Fails on growth:
 *
 *   - numTensors must be exactly the same at every sample (one leaked tensor per step would
 *     add hundreds);
 *   - from the 3rd sample (warm-up over) to the end, heapUsed and external may grow by at most
 *     4 MB each and RSS by at most 40 MB (RSS moves by about +-10 MB between samples as
 *     allocators return pages; leaking one 16 px view batch per step would add 12 MB of heap).
 *     Growth is the largest sample of the last third of the run minus the largest of the first
 *     third: external memory oscillates by about 4 MB between samples (batches in flight in the
 *     loader when the sample is taken: 21-25 MB with no trend over 500 steps), and a steady leak
 *     raises every later sample, so comparing window maxima ignores the one and keeps the other.
 *
 *   node --expose-gc tools/reliability/memory-test.js [pretrain|detection|all] [--steps N] [--detection-steps N]
 *
 * Prints the samples and one PASS/FAIL line per part; exits 0 when both pass. Run in CI by
 * packages/cli/src/memory.e2e.test.ts. Needs the build (dist/) and the scenes generator.
 */
'use strict';
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const ROOT = path.join(__dirname, '..', '..');
const tf = require(require.resolve('@tensorflow/tfjs-core', { paths: [ROOT] }));
const { initBackend } = require('@scrl/roi-align');
const { generateScenes, loadScenes } = require('@scrl/data');
const { train, presetConfig, applyOverrides } = require('@scrl/trainer');
const { fineTuneDetection, loadDetectionSamples } = require('@scrl/eval');
const { createResNet } = require('@scrl/models');

const LIMITS = { heapMB: 4, externalMB: 4, rssMB: 40 };
const EVERY = 25;

function sample(step) {
  global.gc();
  const m = process.memoryUsage();
  return { step, numTensors: tf.memory().numTensors, rssMB: m.rss / 1e6, heapMB: m.heapUsed / 1e6, externalMB: m.external / 1e6 };
}

/** Largest value of `key` in the last third of `steady` minus the largest in its first third. */
function windowGrowth(steady, key) {
  const third = Math.max(1, Math.floor(steady.length / 3));
  const max = (xs) => Math.max(...xs.map((s) => s[key]));
  return max(steady.slice(-third)) - max(steady.slice(0, third));
}

/** The checks above; returns failure messages. */
function judge(name, samples) {
  const failures = [];
  const counts = [...new Set(samples.map((s) => s.numTensors))];
  if (counts.length !== 1) failures.push(`${name}: tf.memory().numTensors changed over the run: ${samples.map((s) => `${s.step}:${s.numTensors}`).join(' ')}`);
  const steady = samples.slice(2);
  for (const [key, limit] of [['heapMB', LIMITS.heapMB], ['externalMB', LIMITS.externalMB], ['rssMB', LIMITS.rssMB]]) {
    const growth = windowGrowth(steady, key);
    if (growth > limit) failures.push(`${name}: ${key} grew by ${growth.toFixed(1)} MB after warm-up (limit ${limit} MB): ${steady.map((s) => s[key].toFixed(0)).join(' ')}`);
  }
  return failures;
}

function report(name, samples, failures, seconds) {
  const last = samples[samples.length - 1];
  const growth = (key) => windowGrowth(samples.slice(2), key).toFixed(1);
  console.log(`[memory-test ${name}] samples ${JSON.stringify(samples.map((s) => [s.step, s.numTensors, +s.rssMB.toFixed(1), +s.heapMB.toFixed(1), +s.externalMB.toFixed(1)]))}`);
  console.log(
    `[memory-test ${name}] ${failures.length ? 'FAIL' : 'PASS'}: ${last.step} steps in ${seconds.toFixed(0)} s; numTensors ${[...new Set(samples.map((s) => s.numTensors))].join('/')}; ` +
      `growth after warm-up: rss ${growth('rssMB')} MB, heap ${growth('heapMB')} MB, external ${growth('externalMB')} MB`,
  );
  for (const f of failures) console.log(`  - ${f}`);
}

async function pretrainPart(work, steps) {
  const config = applyOverrides(presetConfig('cpu'), [
    'model.baseWidth=4', 'views.size=16', 'batch.size=4', 'model.projector.hiddenDim=32', 'model.projector.outDim=16',
    'model.predictor.hiddenDim=32', `schedule.steps=${steps}`, 'schedule.warmupSteps=5',
  ]);
  const samples = [];
  const t0 = Date.now();
  await train({
    config, out: path.join(work, 'pretrain'), data: path.join(work, 'scenes', 'images'), workers: 0, checkpointEvery: 100, log: null, progress: false,
    onStep: (m) => {
      if (m.step % EVERY === 0) samples.push(sample(m.step));
    },
  });
  const failures = judge('pretrain', samples);
  report('pretrain', samples, failures, (Date.now() - t0) / 1000);
  return failures;
}

async function detectionPart(work, steps) {
  const dataset = await loadScenes(path.join(work, 'scenes'));
  const all = await loadDetectionSamples(dataset);
  const backbone = createResNet({ depth: 18, baseWidth: 4, smallInput: true, seed: 0 });
  const samples = [];
  const t0 = Date.now();
  try {
    const result = fineTuneDetection({
      backbone,
      categories: dataset.categories,
      train: all.slice(0, 12),
      val: all.slice(12),
      config: { steps, batchSize: 2, imageSize: 32, fpnChannels: 8, headConvs: 1, warmupSteps: 5 },
      onStep: (info) => {
        if (info.step % EVERY === 0) samples.push(sample(info.step));
      },
    });
    result.detector.dispose();
  } finally {
    backbone.dispose();
  }
  const failures = judge('detection', samples);
  report('detection', samples, failures, (Date.now() - t0) / 1000);
  return failures;
}

async function main() {
  if (typeof global.gc !== 'function') throw new Error('memory-test: run with node --expose-gc');
  const argv = process.argv.slice(2);
  const target = ['pretrain', 'detection', 'all'].includes(argv[0]) ? argv[0] : 'all';
  const opt = (name, dflt) => (argv.includes(name) ? Number(argv[argv.indexOf(name) + 1]) : dflt);
  const steps = opt('--steps', 500);
  const detectionSteps = opt('--detection-steps', 150);
  await initBackend({ backend: 'wasm', log: null });
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'scrl-memory-'));
  try {
    await generateScenes({ out: path.join(work, 'scenes'), images: 16, size: 32, seed: 0 });
    const failures = [];
    if (target !== 'detection') failures.push(...(await pretrainPart(work, steps)));
    if (target !== 'pretrain') failures.push(...(await detectionPart(work, detectionSteps)));
    console.log(`[memory-test] ${failures.length ? 'FAIL' : 'PASS'}`);
    return failures.length ? 1 : 0;
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
}

main().then(
  (code) => process.exit(code),
  (err) => {
    console.error(err.stack ?? String(err));
    process.exit(1);
  },
);
