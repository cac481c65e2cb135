#!/usr/bin/env node
/**
 * SCRL vs BYOL optimiser-step benchmark: images/s of one full step (target forward without
 * gradient, online forward, loss, backward, LARS, EMA) with the `cpu` preset's network
 * (ResNet-18, CIFAR stem, baseWidth 8, heads 512/128), batch 32 and 32 px views, on each local
 * TF.js backend, and the same two steps in PyTorch (tools/bench/step_torch.py, torchvision's
 * roi_align) measured in the same run with the same box pairs.
 *
 *   npm run build && node tools/bench/step.js [--steps 3] [--warmup 1] [--backends wasm,cpu]
 *       [--batch 32] [--size 32] [--threads 1] [--torch-threads 1] [--no-torch] [--json FILE]
 *
 * --threads N times ours as `scrl pretrain --threads N` runs it: N worker threads, each with its
 * own backend and replica of the networks, each taking 1/N of the batch (@scrl/trainer's
 * ParallelStepper); 1 (the default) is the one-thread step. Compare with --torch-threads N.
 * --local-batch-norm keeps BatchNorm statistics per replica (no BatchNorm all-reduce).
 * Each replica is a fresh V8 isolate that compiles its own JavaScript on 1/N of the work per
 * step: it needs about 6 warm-up steps to reach its steady cost (tools/bench/step-threads.js
 * shows it per part); fewer inflate the threaded rows (docs/benchmarks.md uses --warmup 6).
 *
 * Plain Node over the built dist/ files; synthetic views (random), box pairs from the real
 * view geometry sampler; it writes only a temporary JSON file for the PyTorch side.
 */
'use strict';
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { spawnSync } = require('node:child_process');

const { buildStep, buildParallelStep, stepSetup, root } = require('./step-common');
const roi = require('@scrl/roi-align');
const aug = require('@scrl/augment');

function parseArgs(argv) {
  const o = { steps: 3, warmup: 1, backends: 'wasm,cpu', batch: 32, size: 32, threads: 1, localBatchNorm: false, torchThreads: 1, torch: true, json: null };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const next = () => {
      if (i + 1 >= argv.length) throw new Error(`step bench: ${a} needs a value`);
      return argv[++i];
    };
    if (a === '--steps') o.steps = Number(next());
    else if (a === '--warmup') o.warmup = Number(next());
    else if (a === '--backends') o.backends = next();
    else if (a === '--batch') o.batch = Number(next());
    else if (a === '--size') o.size = Number(next());
    else if (a === '--threads') o.threads = Number(next());
    else if (a === '--local-batch-norm') o.localBatchNorm = true;
    else if (a === '--torch-threads') o.torchThreads = Number(next());
    else if (a === '--no-torch') o.torch = false;
    else if (a === '--json') o.json = next();
    else throw new Error(`step bench: unknown argument '${a}' (see the header of tools/bench/step.js)`);
  }
  for (const k of ['steps', 'batch', 'size', 'threads', 'torchThreads']) {
    if (!Number.isInteger(o[k]) || o[k] < 1) throw new Error(`step bench: --${k} must be a positive integer, got ${o[k]}`);
  }
  return o;
}

async function timeBackend(backend, o, config, pairs) {
  const info = await roi.initBackend({ backend, log: null });
  const result = { backendInfo: roi.describeBackend(info) };
  for (const method of ['scrl', 'byol']) {
    const { step, dispose, parts, broadcastMs } = o.threads > 1 ? await buildParallelStep(config, pairs, method, o.threads, { syncBatchNorm: !o.localBatchNorm }) : buildStep(config, pairs, method);
    for (let i = 0; i < o.warmup; i++) await step();
    const sum = { compute: 0, allReduce: 0, update: 0 };
    const cpu0 = process.cpuUsage();
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < o.steps; i++) {
      await step();
      if (parts) for (const k of Object.keys(sum)) sum[k] += parts()[k] / o.steps;
    }
    const sec = Number(process.hrtime.bigint() - t0) / 1e9 / o.steps;
    const cpu = process.cpuUsage(cpu0);
    // CPU time of all this process's threads per step: on a loaded machine (Linux shares CPU
    // between sessions, whatever their thread count) it shows what the step costs, not what it got.
    const cpuSeconds = (cpu.user + cpu.system) / 1e6 / o.steps;
    result[method] = { secondsPerStep: sec, imagesPerSecond: o.batch / sec, cpuSecondsPerStep: cpuSeconds };
    console.log(`  ${backend} ${method}: ${(sec * 1000).toFixed(0)} ms wall, ${(cpuSeconds * 1000).toFixed(0)} ms CPU (all threads) per step`);
    if (parts) {
      result[method].replica0Ms = sum;
      sum.stateCopy = await broadcastMs();
      console.log(
        `  ${backend} ${method} on ${o.threads} threads, replica 0 per step: forward+backward ${sum.compute.toFixed(0)} ms, ` +
          `gradient reduce-scatter (wait + sum) ${sum.allReduce.toFixed(0)} ms, LARS + EMA of its share and the parameter exchange ${sum.update.toFixed(0)} ms, ` +
          `of ${(sec * 1000).toFixed(0)} ms; copying the replicas' weights and LARS state to the main thread ${sum.stateCopy.toFixed(0)} ms`,
      );
    }
    await dispose();
  }
  return result;
}

async function main() {
  const o = parseArgs(process.argv.slice(2));
  const { config, pairs, stride } = stepSetup(o.batch, o.size);
  const P = pairs.reduce((n, p) => n + p.length, 0);
  console.log(
    `SCRL/BYOL step: ResNet-18 (smallInput, baseWidth ${config.model.baseWidth}), heads ${config.model.projector.hiddenDim}/` +
      `${config.model.projector.outDim}, batch ${o.batch}, ${o.size} px views, ${P} box pairs; ${o.steps} timed steps after ${o.warmup} warmup; ` +
      `ours on ${o.threads} thread${o.threads > 1 ? 's' : ''}; load average ${os.loadavg().map((l) => l.toFixed(2)).join(' ')}`,
  );
  const rows = [];
  let torchInfo = null;
  for (const backend of o.backends.split(',')) {
    const r = await timeBackend(backend, o, config, pairs);
    rows.push({ name: `tfjs ${backend}${o.threads > 1 ? ` (${o.threads} threads)` : ''}`, backend, threads: o.threads, ...r });
  }
  if (o.torch) {
    const flat = aug.boxPairBatchArrays(pairs);
    const boxes = [];
    for (let k = 0; k < 2 * P; k++) boxes.push([flat.boxIndices[k], ...Array.from(flat.boxes.subarray(4 * k, 4 * k + 4))]);
    const file = path.join(os.tmpdir(), `scrl-step-bench-${process.pid}.json`);
    fs.writeFileSync(
      file,
      JSON.stringify({
        batch: o.batch, size: o.size, baseWidth: config.model.baseWidth, hidden: config.model.projector.hiddenDim,
        out: config.model.projector.outDim, stride, boxes, pairs: P, steps: o.steps, warmup: o.warmup, threads: o.torchThreads,
      }),
    );
    const r = spawnSync('/usr/bin/python3', [path.join(__dirname, 'step_torch.py'), file], { encoding: 'utf8' });
    fs.rmSync(file, { force: true });
    if (r.status !== 0) throw new Error(`step_torch.py failed: ${r.stderr}`);
    const t = JSON.parse(r.stdout.trim().split('\n').pop());
    torchInfo = { torch: t.torch, threads: t.threads, python: t.python, maxRssKb: t.maxRssKb };
    rows.push({ name: `torch ${t.torch} (${t.threads} thread${t.threads > 1 ? 's' : ''})`, ...t.results });
  }
  const torchRow = rows.find((r) => r.name.startsWith('torch'));
  console.log('backend                       SCRL img/s  BYOL img/s  SCRL/BYOL time  SCRL vs torch  BYOL vs torch');
  for (const r of rows) {
    const overhead = r.scrl.secondsPerStep / r.byol.secondsPerStep;
    const vs = (m) => (torchRow ? `${(r[m].imagesPerSecond / torchRow[m].imagesPerSecond).toFixed(2)}x` : '-');
    console.log(
      `${r.name.padEnd(30)}${r.scrl.imagesPerSecond.toFixed(2).padStart(10)}${r.byol.imagesPerSecond.toFixed(2).padStart(12)}` +
        `${overhead.toFixed(3).padStart(16)}${vs('scrl').padStart(15)}${vs('byol').padStart(15)}`,
    );
  }
  if (o.json) {
    const tfVersion = require(require.resolve('@tensorflow/tfjs-core/package.json', { paths: [root] })).version;
    fs.writeFileSync(
      o.json,
      JSON.stringify({
        bench: 'step', threads: o.threads, batch: o.batch, size: o.size, steps: o.steps, warmup: o.warmup, boxPairs: P,
        baseWidth: config.model.baseWidth, hidden: config.model.projector.hiddenDim, out: config.model.projector.outDim,
        torch: torchInfo, torchResults: torchRow ? { scrl: torchRow.scrl, byol: torchRow.byol } : null,
        rows: rows.filter((r) => r.backend), node: process.version, tfjsCore: tfVersion,
        maxRssKb: process.resourceUsage().maxRSS, loadavgEnd: os.loadavg(),
      }, null, 1),
    );
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
