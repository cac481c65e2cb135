#!/usr/bin/env node
/**
 * Benchmark of @scrl/models' ResNets against torchvision in the same run: images/s for the
 * forward pass (inference mode) and forward+backward (training mode, loss = mean(C5), gradients
 * for every parameter), per local TF.js backend. Requires the built packages (`npm run build`)
 * and /usr/bin/python3 with torchvision (tools/bench/backbone_torch.py, spawned once).
 *
 *   node tools/bench/backbone.js [--backends cpu,wasm] [--depths 18,50] [--configs 8x224,32x64]
 *                                [--modes forward,forward+backward] [--reps 2] [--warmup 1] [--json FILE]
 *
 * Each measurement: --warmup untimed calls, then the mean over --reps calls. On a busy 2-core
 * machine ResNet-50 forward+backward at 224 on `cpu` takes many minutes per call: trim with the flags. Prints a table with
 * images/s for ours and torch and the ratio ours / torch (higher is better for us).
 */
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const root = path.join(__dirname, '..', '..');
const tf = require('@tensorflow/tfjs-core');
const { initBackend, describeBackend } = require('@scrl/roi-align');
const { createResNet } = require('@scrl/models');
const { arg } = require('../args');

const backends = arg('backends', 'cpu,wasm').split(',');
const depths = arg('depths', '18,50').split(',').map(Number);
const configs = arg('configs', '8x224,32x64')
  .split(',')
  .map((s) => s.split('x').map(Number));
const reps = Number(arg('reps', '2'));
const warmup = Number(arg('warmup', '1'));
const modes = arg('modes', 'forward,forward+backward').split(',');

function meanSeconds(fn) {
  for (let i = 0; i < warmup; i++) fn();
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < reps; i++) fn();
  return Number(process.hrtime.bigint() - t0) / 1e9 / reps;
}

function runTorch() {
  const cfg = JSON.stringify({ depths, configs, reps, warmup, modes });
  const res = spawnSync('/usr/bin/python3', [path.join(__dirname, 'backbone_torch.py'), cfg], {
    encoding: 'utf8',
    maxBuffer: 1 << 24,
  });
  if (res.status !== 0) throw new Error(`backbone_torch.py failed: ${res.stderr}`);
  return JSON.parse(res.stdout);
}

async function runOurs(backend) {
  const info = await initBackend({ backend, log: null });
  const out = [];
  for (const depth of depths) {
    const model = createResNet({ depth, seed: 0 });
    const vars = model.parameters().map((p) => p.variable);
    for (const [batch, size] of configs) {
      const x = tf.randomNormal([batch, size, size, 3], 0, 1, 'float32', 1);
      const forward = () => {
        const f = model.features(x, { training: false });
        f.c5.dataSync();
        tf.dispose(Object.values(f));
      };
      const trainStep = () => {
        const { value, grads } = tf.variableGrads(() => tf.mean(model.features(x, { training: true }).c5), vars);
        value.dataSync();
        for (const g of Object.values(grads)) g.dataSync();
        tf.dispose([value, ...Object.values(grads)]);
      };
      for (const [mode, fn] of [['forward', forward], ['forward+backward', trainStep]].filter(([m]) => modes.includes(m))) {
        const sec = meanSeconds(fn);
        out.push({ backend: describeBackend(info), depth, batch, size, mode, imagesPerSec: batch / sec });
        process.stderr.write(`  ${backend} ResNet-${depth} ${batch}x${size} ${mode}: ${(batch / sec).toFixed(2)} img/s\n`);
      }
      x.dispose();
    }
    model.dispose();
  }
  return out;
}

async function main() {
  console.log(
    `backbone benchmark: depths ${depths.join(',')}, configs ${configs.map((c) => c.join('x')).join(',')}, ` +
      `modes ${modes.join(',')}, warm-up ${warmup}, reps ${reps}`,
  );
  const torch = runTorch();
  console.log(`PyTorch ${torch.torch} / torchvision ${torch.torchvision}, ${torch.threads} thread(s)`);
  const all = [];
  const ref = new Map(torch.results.map((r) => [`${r.depth}/${r.batch}/${r.size}/${r.mode}`, r.imagesPerSec]));
  for (const backend of backends) {
    const rows = await runOurs(backend);
    all.push(...rows.map((r) => ({ ...r, backendName: backend, torchImagesPerSec: ref.get(`${r.depth}/${r.batch}/${r.size}/${r.mode}`) })));
    console.log(`\n${rows[0].backend}`);
    console.log('model      batch x size  mode               ours img/s  torch img/s  ours/torch');
    for (const r of rows) {
      const t = ref.get(`${r.depth}/${r.batch}/${r.size}/${r.mode}`);
      console.log(
        `ResNet-${String(r.depth).padEnd(4)} ${`${r.batch} x ${r.size}`.padEnd(13)} ${r.mode.padEnd(18)} ` +
          `${r.imagesPerSec.toFixed(2).padStart(11)}  ${t.toFixed(2).padStart(11)}  ${(r.imagesPerSec / t).toFixed(3).padStart(10)}`,
      );
    }
  }
  const jsonFile = arg('json', null);
  if (jsonFile) {
    const tfVersion = require('@tensorflow/tfjs-core/package.json').version;
    const { results, ...torchInfo } = torch;
    fs.writeFileSync(
      jsonFile,
      JSON.stringify({ bench: 'backbone', reps, warmup, torch: torchInfo, rows: all, node: process.version, tfjsCore: tfVersion, maxRssKb: process.resourceUsage().maxRSS, loadavgEnd: os.loadavg() }, null, 1),
    );
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
