#!/usr/bin/env node
/**
 * Per-kernel timings behind tools/bench/train-step.js: each training kernel we register, at the
 * shapes of a ResNet-18 step (batch 32, 64x64 input), ours against TF.js's stock kernel where
 * the backend has one. Decides which stock kernels we replace (docs/backends.md).
 *
 *   npm run build && node tools/bench/train-step-kernels.js [--backends wasm,cpu] [--reps 3] [--batch 32]
 */
'use strict';
const path = require('node:path');

const root = path.resolve(__dirname, '../..');
const tf = require(require.resolve('@tensorflow/tfjs-core', { paths: [root] }));
const roi = require('@scrl/roi-align');
const { withStockKernels, TRAINING_KERNELS } = roi;

const args = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = args.indexOf(name);
  return i >= 0 && i + 1 < args.length ? args[i + 1] : dflt;
};
const backends = opt('--backends', 'wasm,cpu').split(',');
const reps = Number(opt('--reps', '3'));
const batch = Number(opt('--batch', '32'));

/** The distinct convolutions of a ResNet-18 on 64x64 input: [name, H, k, stride, pad, cin, cout]. */
const CONVS = [
  ['conv1 7x7 s2', 64, 7, 2, 3, 3, 64],
  ['layer1 3x3', 16, 3, 1, 1, 64, 64],
  ['layer2.0 3x3 s2', 16, 3, 2, 1, 64, 128],
  ['layer2 3x3', 8, 3, 1, 1, 128, 128],
  ['layer2 down 1x1 s2', 16, 1, 2, 0, 64, 128],
  ['layer3.0 3x3 s2', 8, 3, 2, 1, 128, 256],
  ['layer3 3x3', 4, 3, 1, 1, 256, 256],
  ['layer4.0 3x3 s2', 4, 3, 2, 1, 256, 512],
  ['layer4 3x3', 2, 3, 1, 1, 512, 512],
];

function median(fn) {
  fn();
  const t = [];
  for (let i = 0; i < reps; i++) {
    const t0 = process.hrtime.bigint();
    fn();
    t.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  t.sort((a, b) => a - b);
  return t[Math.floor(t.length / 2)];
}

function runKernel(name, inputs, attrs) {
  return () => {
    const out = tf.engine().runKernel(name, inputs, attrs);
    out.dataSync();
    out.dispose();
  };
}

async function main() {
  for (const backend of backends) {
    const info = await roi.initBackend({ backend, log: null });
    console.log(`\n${roi.describeBackend(info)}; batch ${batch}; median of ${reps} (ms)`);
    console.log(`${'kernel / layer'.padEnd(44)} ${'ours'.padStart(9)} ${'stock'.padStart(9)}  speedup`);
    const row = (label, fn, kernelName) => {
      const mine = TRAINING_KERNELS.find((k) => k.kernelName === kernelName && k.backendName === backend);
      const a = median(fn);
      // Not ours: the one timing is the stock kernel's. Added by us: there is no stock one.
      const b = mine?.action === 'replaces' ? withStockKernels(() => median(fn)) : NaN;
      const oursTxt = mine ? a.toFixed(1) : '-';
      const stockTxt = !mine ? a.toFixed(1) : Number.isNaN(b) ? 'none' : b.toFixed(1);
      const sp = Number.isNaN(b) ? '' : `${(b / a).toFixed(2)}x`;
      console.log(`${label.padEnd(44)} ${oursTxt.padStart(9)} ${stockTxt.padStart(9)}  ${sp}`);
      return { label, ours: a, stock: b };
    };
    const totals = { filter: [0, 0], input: [0, 0] };
    for (const [name, H, k, s, p, cin, cout] of CONVS) {
      const x = tf.randomNormal([batch, H, H, cin], 0, 1, 'float32', 1);
      const w = tf.randomNormal([k, k, cin, cout], 0, 0.1, 'float32', 2);
      const pad = [[0, 0], [p, p], [p, p], [0, 0]];
      const y = tf.conv2d(x, w, s, pad);
      const dy = tf.randomNormal(y.shape, 0, 1, 'float32', 3);
      const common = { strides: s, pad, dataFormat: 'NHWC' };
      const f = row(`Conv2DBackpropFilter ${name}`, runKernel('Conv2DBackpropFilter', { x, dy }, { ...common, filterShape: w.shape }), 'Conv2DBackpropFilter');
      totals.filter[0] += f.ours;
      totals.filter[1] += f.stock;
      if (name !== 'conv1 7x7 s2') {
        const g = row(`Conv2DBackpropInput  ${name}`, runKernel('Conv2DBackpropInput', { dy, filter: w }, { ...common, inputShape: x.shape }), 'Conv2DBackpropInput');
        totals.input[0] += g.ours;
        totals.input[1] += g.stock;
      }
      row(`Conv2D (forward, reference) ${name}`, runKernel('Conv2D', { x, filter: w }, { ...common, dilations: 1 }), 'Conv2D');
      tf.dispose([x, w, y, dy]);
    }
    for (const [H, C] of [[32, 64], [16, 64], [8, 128], [4, 256], [2, 512]]) {
      const v = tf.randomNormal([1, 1, 1, C]);
      row(`Tile [1,1,1,${C}] -> [${batch},${H},${H},${C}]`, runKernel('Tile', { x: v }, { reps: [batch, H, H, 1] }), 'Tile');
      v.dispose();
    }
    const segX = tf.randomNormal([batch * 4, 512]);
    const ids = tf.randomUniform([batch * 4], 0, batch, 'int32', 4);
    row('UnsortedSegmentSum [128,512] -> [32,512]', runKernel('UnsortedSegmentSum', { x: segX, segmentIds: ids }, { numSegments: batch }), 'UnsortedSegmentSum');
    tf.dispose([segX, ids]);
    console.log(`sum of Conv2DBackpropFilter rows: ours ${totals.filter[0].toFixed(0)} ms, stock ${Number.isNaN(totals.filter[1]) ? 'none' : totals.filter[1].toFixed(0) + ' ms'}`);
    console.log(`sum of Conv2DBackpropInput rows:  ours ${totals.input[0].toFixed(0)} ms, stock ${totals.input[1].toFixed(0)} ms`);
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
