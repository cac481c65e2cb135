#!/usr/bin/env node
/**
 * The validation of the evaluators (docs/evaluators.md): on the built-in evaluation scenes
 * (the scenes and split of `scrl eval detection`), each evaluator scored for random init and for
 * the supervised ceiling (tools/experiments/supervised-backbone.js), and the box probe also for
 * the raw pixels of the box (8x8 RGB). Numbers in % are merged into --json (default
 * docs/evaluators.json), keeping every other key already there:
 *
 *   boxProbe   {rawPixels, random, supervised}   logistic-regression top-1, 2x2 pooling
 *   denseProbe {random, supervised}              mIoU (background included)
 *   detection  {random, supervised}              COCO AP (only with --detection)
 *   probeDetails                                 kNN, other pool sizes, chosen L2, timings, load
 *
 *   node tools/experiments/evaluators.js [--supervised FILE.safetensors] [--parts box,dense]
 *     [--pools 1,2,4] [--random-seed 0] [--width 16] [--json docs/evaluators.json]
 *     [--detection] [--detection-args "--steps 1500 ..."]
 *
 * --supervised defaults to runs/supervised-1000/r18w16-supervised-seed0.safetensors; a missing
 * file is first trained with tools/experiments/supervised-backbone.js and the recipe of
 * docs/evaluators.md (seed 0, 1000 steps of 8 images, Adam 0.002), so one command makes it all.
 * --detection runs `scrl eval detection --init random|FILE --set model.baseWidth=W` with
 * --detection-args in child processes and stores their AP. Random init is the cpu preset's
 * architecture at --width (ResNet-18, small-input stem) with seed --random-seed.
 */
'use strict';
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { spawnSync } = require('node:child_process');
const root = path.join(__dirname, '..', '..');
const { initBackend } = require('@scrl/roi-align');
const { ensureScenes, loadScenes } = require('@scrl/data');
const { boxProbe, denseProbe, loadDetectionSamples } = require('@scrl/eval');
const { resolveConfig, backboneFromInit: loadBackbone } = require('@scrl/trainer');
const { EVAL_SCENES, splitSamples, boxProbeTable, denseProbeTable } = require('@scrl/cli');
const { arg } = require('../args');

/** The backbone `--init` names (trainer's backboneFromInit), logging to `io.err`. */
const backboneFromInit = (init, fallback, io) => loadBackbone(init, fallback, { log: (line) => io.err(line) });

/** The supervised ceiling's recipe (docs/evaluators.md), used when --supervised FILE does not exist yet. */
const SUPERVISED_RECIPE = ['--seed', '0', '--steps', '1000', '--batch-size', '8', '--lr', '0.002', '--warmup', '30', '--save-every', '100'];
const pct = (v) => Math.round(1000 * v) / 10;
const load = () => os.loadavg().map((v) => v.toFixed(2)).join(' ');
/** Runs fn, returning its value with the wall-clock and this process's CPU seconds it took. */
function timed(fn) {
  const cpu0 = process.cpuUsage();
  const t0 = Date.now();
  const loadBefore = load();
  const value = fn();
  const cpu = process.cpuUsage(cpu0);
  return { value, wall: (Date.now() - t0) / 1000, cpu: (cpu.user + cpu.system) / 1e6, loadBefore, loadAfter: load() };
}

async function main() {
  const supervised = arg('supervised', path.join('runs', 'supervised-1000', 'r18w16-supervised-seed0.safetensors'));
  if (!supervised.endsWith('.safetensors')) throw new Error(`--supervised must name a .safetensors file, got '${supervised}'`);
  if (!fs.existsSync(supervised)) {
    // The ceiling of docs/evaluators.md, trained first when missing (about 32 minutes on 2 loaded cores).
    const argv = [path.join(__dirname, 'supervised-backbone.js'), '--out', supervised, ...SUPERVISED_RECIPE];
    console.error(`[evaluators] ${supervised} is missing; training it: node ${argv.join(' ')}`);
    const r = spawnSync(process.execPath, argv, { stdio: ['ignore', 'inherit', 'inherit'] });
    if (r.status !== 0) throw new Error(`supervised-backbone.js failed (exit ${r.status})`);
  }
  const parts = arg('parts', 'box,dense').split(',').filter(Boolean);
  for (const p of parts) if (!['box', 'dense'].includes(p)) throw new Error(`--parts: unknown part '${p}'; use box, dense`);
  const pools = arg('pools', '1,2,4').split(',').map(Number);
  if (!pools.includes(2) || !pools.every((k) => Number.isInteger(k) && k > 0)) throw new Error('--pools must be positive integers including 2');
  const width = Number(arg('width', '16'));
  const randomSeed = Number(arg('random-seed', '0'));
  const jsonFile = arg('json', path.join(root, 'docs', 'evaluators.json'));
  const detection = process.argv.includes('--detection');
  const backend = await initBackend({ backend: process.env.SCRL_BACKEND ?? 'wasm', log: null });
  const scenes = path.join(process.env.SCRL_CACHE_DIR ?? path.join(root, '.scrl-cache'), `scenes-${EVAL_SCENES.images}x${EVAL_SCENES.size}-seed0`);
  await ensureScenes(scenes, { images: EVAL_SCENES.images, size: EVAL_SCENES.size, seed: 0 }, (l) => console.error(l));
  const dataset = await loadScenes(scenes);
  const { train, val: test } = splitSamples(await loadDetectionSamples(dataset), 0.2);
  const fallback = resolveConfig({ preset: 'cpu', overrides: [`model.baseWidth=${width}`, `seed=${randomSeed}`] });
  const io = { out: (l) => console.log(l), err: (l) => console.error(l), isTTY: false };
  const inits = { random: 'random', supervised };
  const results = fs.existsSync(jsonFile) ? JSON.parse(fs.readFileSync(jsonFile, 'utf8')) : {};
  const details = {
    ...(results.probeDetails ?? {}),
    data: `${scenes}: ${train.length} train / ${test.length} held-out images (splitSamples(samples, 0.2), as scrl eval detection)`,
    backbone: `ResNet-18, small-input stem, width ${width}; random init seed ${randomSeed}; supervised: ${path.relative(root, path.resolve(supervised))}`,
    backend,
    command: `node tools/experiments/evaluators.js ${process.argv.slice(2).join(' ')}`,
    cpus: os.cpus().length,
  };
  const markdown = [];

  if (parts.includes('box')) {
    const rows = [];
    const byPool = {};
    const t = Date.now();
    const rawRun = timed(() => boxProbe('raw-pixels', train, test, dataset.categories));
    const raw = rawRun.value;
    rows.push({ init: 'raw pixels', result: raw });
    for (const [name, init] of Object.entries(inits)) {
      for (const k of pools) {
        const { model } = backboneFromInit(init, fallback, io);
        try {
          const run = timed(() => boxProbe(model, train, test, dataset.categories, { poolSize: k }));
          const r = run.value;
          rows.push({ init: name, result: r });
          byPool[k] = {
            ...(byPool[k] ?? {}),
            [name]: { top1: pct(r.top1), knnTop1: pct(r.knnTop1), lambda: r.lambda, validation: r.validation, seconds: r.seconds, wall: run.wall, cpu: run.cpu, load: [run.loadBefore, run.loadAfter] },
          };
          console.error(`[evaluators] box probe ${name} k=${k}: ${pct(r.top1)} (kNN ${pct(r.knnTop1)}) in ${run.wall.toFixed(1)} s (${run.cpu.toFixed(1)} CPU s), load ${run.loadBefore}`);
        } finally {
          model.dispose();
        }
      }
    }
    const at2 = (name) => rows.find((r) => r.init === name && r.result.poolSize === 2).result;
    results.boxProbe = { rawPixels: pct(raw.top1), random: pct(at2('random').top1), supervised: pct(at2('supervised').top1) };
    details.boxProbe = {
      knn: { rawPixels: pct(raw.knnTop1), random: pct(at2('random').knnTop1), supervised: pct(at2('supervised').knnTop1) },
      rawPixels: { top1: pct(raw.top1), knnTop1: pct(raw.knnTop1), lambda: raw.lambda, validation: raw.validation, seconds: raw.seconds, wall: rawRun.wall, cpu: rawRun.cpu },
      byPool,
      objects: { train: raw.trainObjects, test: raw.testObjects },
      seconds: (Date.now() - t) / 1000,
    };
    markdown.push('Box probe:', '', ...boxProbeTable(rows), '');
  }

  if (parts.includes('dense')) {
    const rows = [];
    details.denseProbe = {};
    for (const [name, init] of Object.entries(inits)) {
      const { model } = backboneFromInit(init, fallback, io);
      try {
        const run = timed(() => denseProbe(model, train, test, dataset.categories));
        const r = run.value;
        rows.push({ init: name, result: r });
        const objects = r.iou.slice(1).filter((v) => !Number.isNaN(v));
        details.denseProbe[name] = {
          miou: pct(r.miou),
          miouObjectsOnly: pct(objects.reduce((a, b) => a + b, 0) / objects.length),
          accuracy: pct(r.accuracy),
          iou: Object.fromEntries(r.classes.map((c, i) => [c, pct(r.iou[i])])),
          seconds: r.seconds,
          wall: run.wall,
          cpu: run.cpu,
          load: [run.loadBefore, run.loadAfter],
        };
        console.error(`[evaluators] dense probe ${name}: mIoU ${pct(r.miou)} in ${run.wall.toFixed(1)} s (${run.cpu.toFixed(1)} CPU s), load ${run.loadBefore}`);
      } finally {
        model.dispose();
      }
    }
    results.denseProbe = Object.fromEntries(rows.map((r) => [r.init, pct(r.result.miou)]));
    markdown.push('Dense probe:', '', ...denseProbeTable(rows), '');
  }

  if (detection) {
    const extra = (arg('detection-args', '', { dashes: true }) || '').split(/\s+/).filter(Boolean);
    results.detection = { ...(results.detection ?? {}) };
    for (const [name, init] of Object.entries(inits)) {
      const out = path.join(root, 'runs', `evaluators-detection-${name}`);
      const argv = [path.join(root, 'packages', 'cli', 'bin', 'scrl.js'), 'eval', 'detection', '--init', init, '--set', `model.baseWidth=${width}`, '--set', `seed=${randomSeed}`, '--out', out, ...extra];
      console.error(`[evaluators] node ${argv.join(' ')}`);
      const r = spawnSync(process.execPath, argv, { stdio: ['ignore', 'inherit', 'inherit'] });
      if (r.status !== 0) throw new Error(`scrl eval detection --init ${init} failed (exit ${r.status})`);
      const metrics = JSON.parse(fs.readFileSync(path.join(out, 'metrics.json'), 'utf8'));
      results.detection[name] = pct(metrics.stats.AP);
    }
  }

  results.probeDetails = details;
  fs.mkdirSync(path.dirname(jsonFile), { recursive: true });
  fs.writeFileSync(jsonFile, JSON.stringify(results, null, 2) + '\n');
  for (const l of markdown) console.log(l);
  console.error(`[evaluators] wrote ${jsonFile}`);
}

main().catch((e) => {
  console.error(e.stack || String(e));
  process.exit(1);
});
