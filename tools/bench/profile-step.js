#!/usr/bin/env node
/**
 * Per-kernel profile of one SCRL (and BYOL) optimiser step, before and after our training
 * kernels: `tf.profile` of the step of tools/bench/step.js (cpu preset: ResNet-18 smallInput
 * width 8, heads 512/128, batch 32, 32 px views) after warm-up steps, once with TF.js's stock
 * kernels in place of the ones @scrl/roi-align replaces and LARS/EMA as tensor operations
 * ("stock"), and once as the trainer runs it ("ours").
 * Kernels we add where TF.js has none are in both. Prints a Markdown table per method: calls
 * and milliseconds per kernel, the number of kernel calls per step, and the step's wall time.
 *
 *   npm run build && node tools/bench/profile-step.js [--backend wasm] [--methods scrl,byol]
 *       [--batch 32] [--size 32] [--warmup 2] [--top 15] [--stock K1,K2] [--out FILE.md] [--json FILE]
 *
 * --stock limits "stock" to those kernels (e.g. `--stock BatchMatMul` for one change's effect;
 * `--stock ScrlBatchNormTraining` for @scrl/models' fused BatchNorm alone).
 *
 * Kernel times come from tf.profile (wall time around each kernel call, synchronous on cpu and
 * wasm); the sum of kernel times is less than the step's time by the JS work between kernels.
 */
'use strict';
const fs = require('node:fs');
const os = require('node:os');
const { buildStep, stepSetup, root } = require('./step-common');

const tf = require(require.resolve('@tensorflow/tfjs-core', { paths: [root] }));
const roi = require('@scrl/roi-align');
const { withStockKernels } = roi;
const { setHostLoops } = require('@scrl/optim');
const { setFusedBatchNorm } = require('@scrl/models');

/** The name `--stock` takes for @scrl/models' fused training-mode BatchNorm (its forward kernel's name). */
const FUSED_BN = 'ScrlBatchNormTraining';

function parseArgs(argv) {
  const o = { backend: 'wasm', methods: 'scrl,byol', batch: 32, size: 32, warmup: 2, top: 15, out: null, json: null, stock: null };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const next = () => {
      if (i + 1 >= argv.length) throw new Error(`profile-step: ${a} needs a value`);
      return argv[++i];
    };
    if (a === '--backend') o.backend = next();
    else if (a === '--methods') o.methods = next();
    else if (a === '--batch') o.batch = Number(next());
    else if (a === '--size') o.size = Number(next());
    else if (a === '--warmup') o.warmup = Number(next());
    else if (a === '--top') o.top = Number(next());
    else if (a === '--out') o.out = next();
    else if (a === '--stock') o.stock = next().split(',');
    else if (a === '--json') o.json = next();
    else throw new Error(`profile-step: unknown argument '${a}' (see the header of tools/bench/profile-step.js)`);
  }
  for (const k of ['batch', 'size', 'top']) {
    if (!Number.isInteger(o[k]) || o[k] < 1) throw new Error(`profile-step: --${k} must be a positive integer, got ${o[k]}`);
  }
  if (!Number.isInteger(o.warmup) || o.warmup < 0) throw new Error(`profile-step: --warmup must be an integer >= 0, got ${o.warmup}`);
  return o;
}

/** Runs warm-up steps, then profiles one: per kernel name { calls, ms }, total calls, wall ms. */
async function profileOnce(config, pairs, method, warmup) {
  const { step, dispose } = buildStep(config, pairs, method);
  try {
    for (let i = 0; i < warmup; i++) await step();
    const t0 = process.hrtime.bigint();
    const info = await tf.profile(step);
    const wallMs = Number(process.hrtime.bigint() - t0) / 1e6;
    const kernels = new Map();
    for (const k of info.kernels) {
      const e = kernels.get(k.name) ?? { calls: 0, ms: 0 };
      e.calls += 1;
      e.ms += typeof k.kernelTimeMs === 'number' ? k.kernelTimeMs : 0;
      kernels.set(k.name, e);
    }
    return { kernels, calls: info.kernels.length, wallMs };
  } finally {
    dispose();
  }
}

function table(method, stock, ours, top) {
  const names = [...new Set([...stock.kernels.keys(), ...ours.kernels.keys()])];
  const get = (p, n) => p.kernels.get(n) ?? { calls: 0, ms: 0 };
  names.sort((a, b) => Math.max(get(stock, b).ms, get(ours, b).ms) - Math.max(get(stock, a).ms, get(ours, a).ms));
  const sum = (p) => [...p.kernels.values()].reduce((s, e) => s + e.ms, 0);
  const lines = [
    `**${method.toUpperCase()} step**: stock ${stock.wallMs.toFixed(0)} ms wall, ${stock.calls} kernel calls; ` +
      `ours ${ours.wallMs.toFixed(0)} ms wall, ${ours.calls} kernel calls.`,
    '',
    '| kernel | stock calls | stock ms | ours calls | ours ms |',
    '|---|---:|---:|---:|---:|',
  ];
  const shown = names.slice(0, top);
  for (const n of shown) {
    const s = get(stock, n);
    const o = get(ours, n);
    lines.push(`| ${n} | ${s.calls} | ${s.ms.toFixed(1)} | ${o.calls} | ${o.ms.toFixed(1)} |`);
  }
  const rest = (p) => names.slice(top).reduce((acc, n) => ({ calls: acc.calls + get(p, n).calls, ms: acc.ms + get(p, n).ms }), { calls: 0, ms: 0 });
  if (names.length > top) {
    const rs = rest(stock);
    const ro = rest(ours);
    lines.push(`| ${names.length - top} other kernels | ${rs.calls} | ${rs.ms.toFixed(1)} | ${ro.calls} | ${ro.ms.toFixed(1)} |`);
  }
  lines.push(`| **all kernels** | **${stock.calls}** | **${sum(stock).toFixed(1)}** | **${ours.calls}** | **${sum(ours).toFixed(1)}** |`);
  return lines.join('\n');
}

async function main() {
  const o = parseArgs(process.argv.slice(2));
  const info = await roi.initBackend({ backend: o.backend, log: null });
  const { config, pairs } = stepSetup(o.batch, o.size);
  const header =
    `One optimiser step on ${roi.describeBackend(info)}: ResNet-18 (smallInput, baseWidth ${config.model.baseWidth}), heads ` +
    `${config.model.projector.hiddenDim}/${config.model.projector.outDim}, batch ${o.batch}, ${o.size} px views, profiled after ` +
    `${o.warmup} warm-up steps; "stock" swaps TF.js's own kernels back in for ` +
    (o.stock ? `${o.stock.join(', ')}` : 'all the ones @scrl/roi-align replaces and runs training-mode BatchNorm as tf.moments + tf.batchNorm instead of @scrl/models\' fused kernels') +
    ', and runs LARS and the EMA update as tensor operations instead of @scrl/optim\'s host loops. ' +
    `Node ${process.version}, ${os.cpus().length} CPUs, load average at start ${os.loadavg()[0].toFixed(1)}.`;
  const parts = [header, ''];
  const json = { backend: o.backend, batch: o.batch, size: o.size, methods: {} };
  for (const method of o.methods.split(',')) {
    // "stock": TF.js's kernels, LARS/EMA as tensor operations (no host loops), and training-mode
    // BatchNorm as tf.moments + tf.batchNorm (no fused kernels) unless --stock leaves it out.
    setHostLoops(false);
    if (!o.stock || o.stock.includes(FUSED_BN)) setFusedBatchNorm(false);
    let stock;
    try {
      stock = await withStockKernels(() => profileOnce(config, pairs, method, o.warmup), o.stock ?? undefined);
    } finally {
      setHostLoops(true);
      setFusedBatchNorm(true);
    }
    const ours = await profileOnce(config, pairs, method, o.warmup);
    parts.push(table(method, stock, ours, o.top), '');
    const plain = (p) => ({ wallMs: p.wallMs, calls: p.calls, kernels: Object.fromEntries(p.kernels) });
    json.methods[method] = { stock: plain(stock), ours: plain(ours) };
  }
  const md = parts.join('\n');
  console.log(md);
  if (o.out) fs.writeFileSync(o.out, md + '\n');
  if (o.json) fs.writeFileSync(o.json, JSON.stringify({ bench: 'profile-step', ...json, md, loadavgEnd: os.loadavg(), maxRssKb: process.resourceUsage().maxRSS }, null, 1));
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
