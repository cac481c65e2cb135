#!/usr/bin/env node
/**
 * Detection fine-tuning step benchmark: images/s of one step of `scrl eval detection`
 * (@scrl/eval's detectionTrainStep: FCOS on the small-input ResNet-18 with an FPN on C3-C5 and
 * a GroupNorm head, forward in training mode, targets, focal/GIoU/centre-ness losses, backward,
 * global-norm clip, SGD with momentum) against torchvision 0.14's FCOS of the same size
 * (tools/bench/detection_step_torch.py, built by tools/experiments/fcos_torch.py), measured in
 * the same run on the same images and boxes, PyTorch at --torch-threads threads (ours: 1).
 * With --profile it also prints a per-kernel table (tf.profile) of one of our steps.
 *
 *   npm run build && node tools/bench/detection-step.js [--backends wasm] [--widths 8,16]
 *       [--batch 16] [--steps 4] [--warmup 1] [--torch-threads 1] [--no-torch] [--profile]
 *       [--json FILE]
 *
 * The images are the first --batch of 64 built-in scenes (64 px, seed 0; the generator of the
 * evaluation scenes), generated into a temporary folder and removed afterwards.
 */
'use strict';
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { spawnSync } = require('node:child_process');

const root = path.resolve(__dirname, '..', '..');
const tf = require(require.resolve('@tensorflow/tfjs-core', { paths: [root] }));
const roi = require('@scrl/roi-align');
const { ensureScenes, loadScenes } = require('@scrl/data');
const models = require('@scrl/models');
const ev = require('@scrl/eval');

function parseArgs(argv) {
  const o = { backends: 'wasm', widths: '8,16', batch: 16, steps: 4, warmup: 1, torchThreads: 1, torch: true, profile: false, json: null };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const next = () => {
      if (i + 1 >= argv.length) throw new Error(`detection-step bench: ${a} needs a value`);
      return argv[++i];
    };
    if (a === '--backends') o.backends = next();
    else if (a === '--widths') o.widths = next();
    else if (a === '--batch') o.batch = Number(next());
    else if (a === '--steps') o.steps = Number(next());
    else if (a === '--warmup') o.warmup = Number(next());
    else if (a === '--torch-threads') o.torchThreads = Number(next());
    else if (a === '--no-torch') o.torch = false;
    else if (a === '--profile') o.profile = true;
    else if (a === '--json') o.json = next();
    else throw new Error(`detection-step bench: unknown argument '${a}' (see the header of tools/bench/detection-step.js)`);
  }
  for (const k of ['steps', 'batch', 'torchThreads']) {
    if (!Number.isInteger(o[k]) || o[k] < 1) throw new Error(`detection-step bench: --${k} must be a positive integer, got ${o[k]}`);
  }
  if (o.batch > 64) throw new Error(`detection-step bench: --batch is at most 64 (the scenes generated), got ${o.batch}`);
  o.widthList = o.widths.split(',').map(Number);
  if (o.widthList.some((w) => !Number.isInteger(w) || w < 1)) throw new Error(`detection-step bench: --widths must list positive integers, got ${o.widths}`);
  return o;
}

function buildDetectionStep(width, categories, batch) {
  const backbone = models.createResNet({ depth: 18, smallInput: true, baseWidth: width, seed: 0 });
  const config = { ...ev.DEFAULT_DETECTION_CONFIG };
  const ctx = ev.createDetectionTraining(backbone, categories.length, config);
  const catIndex = new Map(categories.map((c, i) => [c.id, i]));
  const images = batch.map((s) => s.image);
  const targets = batch.map((s) => ({
    boxes: s.bboxes.map((b) => [b[0], b[1], b[0] + b[2], b[1] + b[3]]),
    labels: s.categoryIds.map((c) => catIndex.get(c)),
  }));
  const parameters = ctx.detector.parameters().reduce((n, p) => n + p.variable.size, 0);
  return {
    parameters,
    step: () => ev.detectionTrainStep(ctx, images, targets, 0.001),
    dispose: () => {
      ctx.sgd.dispose();
      ctx.detector.dispose();
      backbone.dispose();
    },
  };
}

async function profileStep(step) {
  const info = await tf.profile(() => {
    step();
  });
  const kernels = new Map();
  for (const k of info.kernels) {
    const e = kernels.get(k.name) ?? { calls: 0, ms: 0 };
    e.calls += 1;
    e.ms += typeof k.kernelTimeMs === 'number' ? k.kernelTimeMs : 0;
    kernels.set(k.name, e);
  }
  const rows = [...kernels.entries()].sort((a, b) => b[1].ms - a[1].ms).map(([name, e]) => ({ name, ...e }));
  return { calls: info.kernels.length, ms: rows.reduce((s, r) => s + r.ms, 0), rows };
}

function profileMarkdown(p, top = 15) {
  const lines = ['| kernel | calls | ms |', '|---|---:|---:|'];
  for (const r of p.rows.slice(0, top)) lines.push(`| ${r.name} | ${r.calls} | ${r.ms.toFixed(1)} |`);
  const rest = p.rows.slice(top);
  if (rest.length) {
    lines.push(`| ${rest.length} other kernels | ${rest.reduce((s, r) => s + r.calls, 0)} | ${rest.reduce((s, r) => s + r.ms, 0).toFixed(1)} |`);
  }
  lines.push(`| **all kernels** | **${p.calls}** | **${p.ms.toFixed(1)}** |`);
  return lines.join('\n');
}

async function main() {
  const o = parseArgs(process.argv.slice(2));
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'scrl-det-bench-'));
  try {
    await ensureScenes(dir, { images: 64, size: 64, seed: 0 }, () => {});
    const ds = await loadScenes(dir);
    const samples = await ev.loadDetectionSamples(ds);
    const batch = samples.slice(0, o.batch);
    const boxes = batch.reduce((n, s) => n + s.bboxes.length, 0);
    console.log(
      `Detection step: FCOS, small-input ResNet-18 + FPN C3-C5 (${ev.DEFAULT_DETECTION_CONFIG.fpnChannels} channels) + GroupNorm head ` +
        `(${ev.DEFAULT_DETECTION_CONFIG.headConvs} convs), batch ${o.batch} of 64 px scenes (${boxes} boxes); widths ${o.widths}; ` +
        `${o.steps} timed steps after ${o.warmup} warm-up`,
    );
    const rows = [];
    const profiles = [];
    for (const backend of o.backends.split(',')) {
      const info = await roi.initBackend({ backend, log: null });
      for (const width of o.widthList) {
        const { step, dispose, parameters } = buildDetectionStep(width, ds.categories, batch);
        try {
          for (let i = 0; i < o.warmup; i++) step();
          const t0 = process.hrtime.bigint();
          for (let i = 0; i < o.steps; i++) step();
          const sec = Number(process.hrtime.bigint() - t0) / 1e9 / o.steps;
          rows.push({ backend, backendInfo: roi.describeBackend(info), width, parameters, secondsPerStep: sec, imagesPerSecond: o.batch / sec });
          if (o.profile) profiles.push({ backend, width, ...(await profileStep(step)) });
        } finally {
          dispose();
        }
      }
    }
    let torch = null;
    if (o.torch) {
      const spec = path.join(dir, 'spec.json');
      fs.writeFileSync(
        spec,
        JSON.stringify({
          data: dir, indices: batch.map((_, i) => i), widths: o.widthList, fpn: ev.DEFAULT_DETECTION_CONFIG.fpnChannels,
          headConvs: ev.DEFAULT_DETECTION_CONFIG.headConvs, steps: o.steps, warmup: o.warmup, threads: o.torchThreads,
        }),
      );
      const r = spawnSync('/usr/bin/python3', [path.join(__dirname, 'detection_step_torch.py'), spec], { encoding: 'utf8' });
      if (r.status !== 0) throw new Error(`detection_step_torch.py failed: ${r.stderr}`);
      torch = JSON.parse(r.stdout.trim().split('\n').pop());
    }
    console.log('backend  width  parameters  ours img/s  torch img/s  speed ratio  ours ms/step  torch ms/step');
    for (const r of rows) {
      const t = torch?.results[String(r.width)];
      r.torch = t ?? null;
      r.ratio = t ? r.imagesPerSecond / t.imagesPerSecond : null;
      console.log(
        `${r.backend.padEnd(9)}${String(r.width).padStart(5)}${String(r.parameters).padStart(12)}${r.imagesPerSecond.toFixed(1).padStart(12)}` +
          `${(t ? t.imagesPerSecond.toFixed(1) : '-').padStart(13)}${(r.ratio ? `${r.ratio.toFixed(2)}x` : '-').padStart(13)}` +
          `${(1000 * r.secondsPerStep).toFixed(0).padStart(14)}${(t ? (1000 * t.secondsPerStep).toFixed(0) : '-').padStart(15)}`,
      );
      if (t && t.parameters !== r.parameters) console.log(`  note: parameter counts differ (ours ${r.parameters}, torch ${t.parameters})`);
    }
    for (const p of profiles) {
      console.log(`\nper-kernel profile, ${p.backend}, width ${p.width}: ${p.calls} kernel calls, ${p.ms.toFixed(0)} ms\n${profileMarkdown(p)}`);
    }
    if (o.json) {
      fs.writeFileSync(
        o.json,
        JSON.stringify({
          bench: 'detection-step', batch: o.batch, boxes, steps: o.steps, warmup: o.warmup, widths: o.widthList,
          torch: torch && { torch: torch.torch, threads: torch.threads, python: torch.python, maxRssKb: torch.maxRssKb },
          rows, profiles: profiles.map((p) => ({ ...p, md: profileMarkdown(p) })), node: process.version,
          maxRssKb: process.resourceUsage().maxRSS, loadavgEnd: os.loadavg(),
        }, null, 1),
      );
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
