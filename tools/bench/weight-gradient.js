#!/usr/bin/env node
/**
 * wasm `Conv2DBackpropFilter` per shape: the SIMD loop (@scrl/roi-align's
 * conv2d-backprop-filter-simd.ts, what the registered kernel runs where it applies) against the
 * path it replaced (1x1: im2col + XNNPACK BatchMatMul; otherwise the XNNPACK conv formulation),
 * on the same inputs in the same process, alternating; prints
 * the median of --reps calls of each and their largest difference relative to the largest value.
 * Default shapes: the 3x3 and 1x1 weight gradients of the SCRL/BYOL step (batch 64 = two views of
 * 32) and of the detection step (batch 16, FPN/head 32 channels, head outputs 4/5/1, stem 3).
 *
 *   npm run build && node tools/bench/weight-gradient.js [--reps 7] [--shapes JSON]
 *
 * --shapes: a list of [xShape, filterShape, stride] (padding 'same').
 */
'use strict';
const path = require('node:path');
const root = path.join(__dirname, '..', '..');
const tf = require(require.resolve('@tensorflow/tfjs-core', { paths: [root] }));
const roi = require('@scrl/roi-align');
const dist = path.join(root, 'packages', 'roi-align', 'dist', 'training-kernels');
const { conv2dBackpropFilterIm2col, conv2dBackpropFilterViaConv2D } = require(path.join(dist, 'conv2d-backprop-filter.js'));
const { conv2dBackpropFilterSimd } = require(path.join(dist, 'conv2d-backprop-filter-simd.js'));

const DEFAULT_SHAPES = [
  [[64, 32, 32, 8], [3, 3, 8, 8], 1],
  [[64, 16, 16, 16], [3, 3, 16, 16], 1],
  [[64, 8, 8, 32], [3, 3, 32, 32], 1],
  [[64, 4, 4, 64], [3, 3, 64, 64], 1],
  [[64, 32, 32, 8], [3, 3, 8, 16], 2],
  [[64, 32, 32, 8], [1, 1, 8, 16], 2],
  [[64, 32, 32, 3], [3, 3, 3, 8], 1],
  [[16, 64, 64, 8], [3, 3, 8, 8], 1],
  [[16, 32, 32, 32], [3, 3, 32, 32], 1],
  [[16, 16, 16, 32], [3, 3, 32, 32], 1],
  [[16, 32, 32, 32], [3, 3, 32, 4], 1],
  [[16, 32, 32, 32], [3, 3, 32, 1], 1],
];

function parseArgs(argv) {
  const o = { reps: 7, shapes: DEFAULT_SHAPES };
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--reps') o.reps = Number(argv[++i]);
    else if (argv[i] === '--shapes') o.shapes = JSON.parse(argv[++i]);
    else throw new Error(`weight-gradient bench: unknown argument '${argv[i]}' (see the header of tools/bench/weight-gradient.js)`);
  }
  if (!Number.isInteger(o.reps) || o.reps < 1) throw new Error(`weight-gradient bench: --reps must be a positive integer, got ${o.reps}`);
  return o;
}

async function main() {
  const o = parseArgs(process.argv.slice(2));
  await roi.initBackend({ backend: 'wasm', log: null });
  const backend = tf.backend();
  console.log(`wasm Conv2DBackpropFilter, median of ${o.reps} calls each (alternating), load average ${require('node:os').loadavg()[0].toFixed(1)}`);
  console.log('| x | filter | stride | previous path | previous ms | SIMD loop ms | speed-up | max difference / max value |');
  console.log('|---|---|---:|---|---:|---:|---:|---:|');
  for (const [xs, fs, s] of o.shapes) {
    const x = tf.randomNormal(xs, 0, 1, 'float32', 1);
    const dy = tf.tidy(() => tf.randomNormal(tf.conv2d(x, tf.zeros(fs), s, 'same').shape, 0, 1, 'float32', 2));
    const args = { inputs: { x, dy }, backend, attrs: { strides: [s, s], pad: 'same', dataFormat: 'NHWC', filterShape: fs } };
    const oneByOne = fs[0] === 1 && fs[1] === 1;
    const previous = oneByOne ? conv2dBackpropFilterIm2col : conv2dBackpropFilterViaConv2D;
    const ref = previous(args);
    const simd = conv2dBackpropFilterSimd(args);
    if (!simd) throw new Error(`weight-gradient bench: the SIMD loop does not apply to x [${xs}], filter [${fs}]`);
    const a = backend.readSync(ref.dataId);
    const b = backend.readSync(simd.dataId);
    let diff = 0;
    let max = 0;
    for (let i = 0; i < a.length; i++) {
      diff = Math.max(diff, Math.abs(a[i] - b[i]));
      max = Math.max(max, Math.abs(a[i]));
    }
    backend.disposeData(ref.dataId);
    backend.disposeData(simd.dataId);
    const times = { conv: [], simd: [] };
    for (let r = 0; r < o.reps; r++) {
      for (const [name, fn] of [['conv', previous], ['simd', conv2dBackpropFilterSimd]]) {
        const t0 = process.hrtime.bigint();
        backend.disposeData(fn(args).dataId);
        times[name].push(Number(process.hrtime.bigint() - t0) / 1e6);
      }
    }
    const median = (v) => v.sort((p, q) => p - q)[v.length >> 1];
    const [mc, ms] = [median(times.conv), median(times.simd)];
    console.log(`| [${xs}] | [${fs}] | ${s} | ${oneByOne ? 'im2col + BatchMatMul' : 'conv formulation'} | ${mc.toFixed(2)} | ${ms.toFixed(2)} | ${(mc / ms).toFixed(1)}x | ${(diff / max).toExponential(1)} |`);
    tf.dispose([x, dy]);
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
