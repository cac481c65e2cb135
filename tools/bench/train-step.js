#!/usr/bin/env node
/**
 * ResNet-18 training-step benchmark: forward, backward and SGD update at batch 32, 64x64
 * input, on each TF.js backend available here, against PyTorch (torchvision resnet18) measured
 * in the same run.
 *
 *   npm run build && node tools/bench/train-step.js [--batch 32] [--size 64] [--steps 3]
 *       [--warmup 1] [--backends wasm,cpu] [--stock] [--profile] [--no-torch]
 *       [--model inline|models] [--json FILE]
 *
 * --stock    also times each backend with TF.js's stock kernels where ours replace one and
 *            BatchNorm as tf.moments + tf.batchNorm instead of @scrl/models' fused kernels (wasm
 *            keeps our added kernels, which it cannot train without); ours and stock steps
 *            alternate, so a change in machine load affects both alike.
 * --profile  prints the per-kernel time split of one step (tf.profile), ours and stock.
 * --model    `models` uses createResNet({ depth: 18 }) from @scrl/models (when built);
 *            `inline` (default when @scrl/models has no createResNet) a ResNet-18 built here
 *            from tfjs-core ops with torchvision's layout.
 * Plain Node over the built dist/ files; it reads no data and writes nothing.
 */
'use strict';
const path = require('node:path');
const { spawnSync } = require('node:child_process');

const root = path.resolve(__dirname, '../..');
const tf = require(require.resolve('@tensorflow/tfjs-core', { paths: [root] }));
const roi = require('@scrl/roi-align');
const { withStockKernels } = roi;

/**
 * withStockKernels, and @scrl/models' training-mode BatchNorm as tf.moments + tf.batchNorm
 * instead of its fused kernels (when @scrl/models is built and has them).
 */
function withStockEverything(fn) {
  let setFused = null;
  try {
    setFused = require('@scrl/models').setFusedBatchNorm ?? null;
  } catch {
    setFused = null;
  }
  if (!setFused) return withStockKernels(fn);
  setFused(false);
  let result;
  try {
    result = withStockKernels(fn);
  } catch (err) {
    setFused(true);
    throw err;
  }
  if (result instanceof Promise) return result.finally(() => setFused(true));
  setFused(true);
  return result;
}

function parseArgs(argv) {
  const o = { batch: 32, size: 64, steps: 3, warmup: 1, backends: 'wasm,cpu', stock: false, profile: false, torch: true, model: 'auto', classes: 10, json: null };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const next = () => {
      if (i + 1 >= argv.length) throw new Error(`train-step: ${a} needs a value`);
      return argv[++i];
    };
    if (a === '--batch') o.batch = Number(next());
    else if (a === '--size') o.size = Number(next());
    else if (a === '--steps') o.steps = Number(next());
    else if (a === '--warmup') o.warmup = Number(next());
    else if (a === '--backends') o.backends = next();
    else if (a === '--model') o.model = next();
    else if (a === '--stock') o.stock = true;
    else if (a === '--profile') o.profile = true;
    else if (a === '--no-torch') o.torch = false;
    else if (a === '--json') o.json = next();
    else throw new Error(`train-step: unknown argument '${a}' (see the header of tools/bench/train-step.js)`);
  }
  for (const k of ['batch', 'size', 'steps', 'warmup']) {
    if (!Number.isInteger(o[k]) || o[k] < (k === 'warmup' ? 0 : 1)) throw new Error(`train-step: --${k} must be a positive integer, got ${o[k]}`);
  }
  return o;
}

/** torchvision's resnet18 in NHWC from tfjs-core ops: params as tf.Variables, BN in training mode. */
function inlineResNet18(classes, seed) {
  let s = seed;
  const vars = [];
  const conv = (k, cin, cout) => {
    const std = Math.sqrt(2 / (k * k * cout)); // kaiming_normal_, fan_out, as torchvision
    const v = tf.variable(tf.randomNormal([k, k, cin, cout], 0, std, 'float32', s++));
    vars.push(v);
    return v;
  };
  const bn = (c) => {
    const g = tf.variable(tf.ones([c]));
    const b = tf.variable(tf.zeros([c]));
    vars.push(g, b);
    return { g, b };
  };
  const pads = (p) => [[0, 0], [p, p], [p, p], [0, 0]];
  const batchNorm = (x, { g, b }) => {
    const m = tf.moments(x, [0, 1, 2]);
    return tf.batchNorm(x, m.mean, m.variance, b, g, 1e-5);
  };
  const stem = { w: conv(7, 3, 64), bn: bn(64) };
  const blocks = [];
  let cin = 64;
  for (const [planes, stride] of [[64, 1], [128, 2], [256, 2], [512, 2]]) {
    for (let i = 0; i < 2; i++) {
      const st = i === 0 ? stride : 1;
      const blk = { stride: st, w1: conv(3, cin, planes), bn1: bn(planes), w2: conv(3, planes, planes), bn2: bn(planes) };
      if (st !== 1 || cin !== planes) blk.down = { w: conv(1, cin, planes), bn: bn(planes) };
      blocks.push(blk);
      cin = planes;
    }
  }
  const fcW = tf.variable(tf.randomUniform([512, classes], -1 / Math.sqrt(512), 1 / Math.sqrt(512), 'float32', s++));
  const fcB = tf.variable(tf.zeros([classes]));
  vars.push(fcW, fcB);
  const logits = (x) => {
    let y = tf.relu(batchNorm(tf.conv2d(x, stem.w, 2, pads(3)), stem.bn));
    y = tf.maxPool(tf.pad(y, pads(1), -Infinity), 3, 2, 'valid');
    for (const blk of blocks) {
      let r = tf.relu(batchNorm(tf.conv2d(y, blk.w1, blk.stride, pads(1)), blk.bn1));
      r = batchNorm(tf.conv2d(r, blk.w2, 1, pads(1)), blk.bn2);
      const id = blk.down ? batchNorm(tf.conv2d(y, blk.down.w, blk.stride, 'valid'), blk.down.bn) : y;
      y = tf.relu(tf.add(r, id));
    }
    return tf.add(tf.matMul(tf.mean(y, [1, 2]), fcW), fcB);
  };
  return { name: 'inline ResNet-18 (tfjs-core ops)', logits, vars, dispose: () => vars.forEach((v) => v.dispose()) };
}

function modelsResNet18(classes, seed) {
  let models;
  try {
    models = require('@scrl/models');
  } catch {
    return null;
  }
  if (typeof models.createResNet !== 'function') return null;
  const net = models.createResNet({ depth: 18, numClasses: classes, seed });
  return {
    name: '@scrl/models createResNet({ depth: 18 })',
    logits: (x) => net.classify(x, { training: true }),
    vars: net.parameters().map((p) => p.variable),
    dispose: () => net.dispose(),
  };
}

function makeStep(model, x, labels, optimizer) {
  return () => {
    tf.tidy(() => {
      const { value, grads } = tf.variableGrads(() => tf.losses.softmaxCrossEntropy(labels, model.logits(x)), model.vars);
      optimizer.applyGradients(grads);
      value.dataSync();
    });
  };
}

function timeOne(step) {
  const t0 = process.hrtime.bigint();
  step();
  return Number(process.hrtime.bigint() - t0) / 1e9;
}

function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}

function timeSteps(step, warmup, steps) {
  for (let i = 0; i < warmup; i++) step();
  const times = [];
  for (let i = 0; i < steps; i++) times.push(timeOne(step));
  return times.length ? median(times) : NaN;
}

async function kernelSplit(step) {
  const prof = await tf.profile(() => step());
  const byName = new Map();
  for (const k of prof.kernels) {
    const ms = typeof k.kernelTimeMs === 'number' ? k.kernelTimeMs : 0;
    byName.set(k.name, (byName.get(k.name) ?? 0) + ms);
  }
  const total = [...byName.values()].reduce((a, b) => a + b, 0);
  return { total, rows: [...byName.entries()].sort((a, b) => b[1] - a[1]) };
}

function printSplit(label, split) {
  console.log(`  kernel time split, ${label} (one step, ${(split.total / 1000).toFixed(2)} s in kernels):`);
  for (const [name, ms] of split.rows.slice(0, 12)) {
    console.log(`    ${name.padEnd(24)} ${(ms / 1000).toFixed(3).padStart(8)} s  ${((100 * ms) / split.total).toFixed(1).padStart(5)} %`);
  }
}

function runTorch(o) {
  const script = path.join(__dirname, 'train_step_torch.py');
  const r = spawnSync('/usr/bin/python3', [script, '--batch', String(o.batch), '--size', String(o.size), '--steps', String(o.steps), '--warmup', String(o.warmup), '--classes', String(o.classes)], { encoding: 'utf8' });
  if (r.status !== 0) {
    console.log(`PyTorch: not measured (${(r.stderr || r.error?.message || '').trim().split('\n').pop()})`);
    return null;
  }
  return JSON.parse(r.stdout.trim().split('\n').pop());
}

async function main() {
  const o = parseArgs(process.argv.slice(2));
  console.log(`ResNet-18 train step (forward + backward + SGD), batch ${o.batch}, ${o.size}x${o.size}, median of ${o.steps} steps after ${o.warmup} warm-up`);
  const torch = o.torch ? runTorch(o) : null;
  if (torch) {
    console.log(`PyTorch ${torch.torch} / torchvision ${torch.torchvision}, ${torch.threads} thread(s): ${torch.imagesPerSecond.toFixed(1)} img/s (${torch.secondsPerStep.toFixed(3)} s/step)`);
  }
  const results = [];
  let backendInfo = null;
  for (const backend of o.backends.split(',').map((b) => b.trim()).filter(Boolean)) {
    try {
      const info = await roi.initBackend({ backend, log: null });
      backendInfo = roi.describeBackend(info);
      console.log(`\n${backendInfo}`);
    } catch (err) {
      console.log(`\n${backend}: not available (${err.message.split('\n')[0]})`);
      continue;
    }
    const model = (o.model !== 'inline' && modelsResNet18(o.classes, 1)) || inlineResNet18(o.classes, 1);
    if (o.model === 'models' && !model.name.startsWith('@scrl/models')) {
      throw new Error('train-step: --model models needs packages/models/dist with createResNet (run npm run build)');
    }
    console.log(`  model: ${model.name}`);
    const x = tf.randomNormal([o.batch, o.size, o.size, 3], 0, 1, 'float32', 7);
    const labels = tf.oneHot(tf.randomUniform([o.batch], 0, o.classes, 'int32', 8), o.classes);
    const optimizer = tf.train.sgd(0.01);
    const step = makeStep(model, x, labels, optimizer);
    const variants = [['ours', (f) => f()]];
    if (o.stock) variants.push(['stock', withStockEverything]);
    // Interleaved (ours, stock, ours, stock, ...) so a change in machine load hits both alike.
    const times = variants.map(() => []);
    for (const [, wrap] of variants) await wrap(() => timeSteps(step, o.warmup, 0));
    for (let i = 0; i < o.steps; i++) {
      for (let v = 0; v < variants.length; v++) times[v].push(await variants[v][1](() => timeOne(step)));
    }
    for (let v = 0; v < variants.length; v++) {
      const [label, wrap] = variants[v];
      const sec = median(times[v]);
      const ips = o.batch / sec;
      const ratio = torch ? `, ${(ips / torch.imagesPerSecond).toFixed(3)}x PyTorch` : '';
      const all = times[v].map((t) => t.toFixed(2)).join(', ');
      console.log(`  ${label.padEnd(5)} kernels: ${ips.toFixed(2)} img/s (${sec.toFixed(3)} s/step${ratio}; steps: ${all} s)`);
      results.push({ backend, backendInfo, model: model.name, kernels: label, imagesPerSecond: ips, secondsPerStep: sec, stepSeconds: times[v] });
      if (o.profile) printSplit(label, await wrap(() => kernelSplit(step)));
    }
    optimizer.dispose();
    model.dispose();
    tf.dispose([x, labels]);
  }
  console.log('\n' + JSON.stringify({ torch, results }));
  if (o.json) {
    const tfVersion = require(require.resolve('@tensorflow/tfjs-core/package.json', { paths: [root] })).version;
    require('node:fs').writeFileSync(
      o.json,
      JSON.stringify({
        bench: 'train-step', batch: o.batch, size: o.size, steps: o.steps, warmup: o.warmup, torch, rows: results,
        node: process.version, tfjsCore: tfVersion, maxRssKb: process.resourceUsage().maxRSS, loadavgEnd: require('node:os').loadavg(),
      }, null, 1),
    );
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
