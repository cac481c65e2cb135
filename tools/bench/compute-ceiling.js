#!/usr/bin/env node
/**
 * How fast this machine lets the wasm backend compute, against PyTorch on the same core: the
 * ceiling behind the step ratios of docs/benchmarks.md (issue 15).
 *
 *   npm run build && node tools/bench/compute-ceiling.js [--reps 7] [--torch-threads 1] [--json FILE]
 *
 * Three measurements, each ours and PyTorch's in the same run, PyTorch at --torch-threads
 * threads (default 1, as our wasm backend):
 * - ours only: the wasm SIMD peak, a WebAssembly loop built in memory (12 independent f32x4
 *   multiply-add chains, registers only: the most 128-bit wasm SIMD without fused multiply-add
 *   can do on this core);
 * - matrix products (tf.matMul on XNNPACK against torch.matmul, which Debian's PyTorch runs on
 *   its generic BLAS) at 1024^3, 512^3 and the SCRL heads' shapes (640 box rows, 64 -> 512 ->
 *   128, the `cpu` preset);
 * - the forward convolutions of the `cpu` preset's ResNet-18 (small input, width 8) at batch 64
 *   (two views of 32), 32 px: tf.conv2d (XNNPACK, NHWC) against torch.conv2d (NCHW, oneDNN),
 *   and one large convolution (128 channels, 16 px) that shows each side near its best.
 * Prints the median ms of --reps calls after warm-up, GFLOP/s (2 flops per multiply-add) and
 * the speed ratio ours / PyTorch's.
 */
'use strict';
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { spawnSync } = require('node:child_process');

const root = path.join(__dirname, '..', '..');
const tf = require(require.resolve('@tensorflow/tfjs-core', { paths: [root] }));
const roi = require('@scrl/roi-align');
const { W, wasmModuleBytes } = require('@scrl/roi-align/wasm');
const { arg, numberArg } = require('../args');

const reps = numberArg('reps', 7, { integer: true, min: 1 });
const torchThreads = numberArg('torch-threads', 1, { integer: true, min: 1 });
const jsonOut = arg('json', null);

const CHAINS = 12;
/** A wasm function peak(iters, addr): CHAINS f32x4 chains acc = acc * m + c, `iters` times. */
function peakModule() {
  const { get, set, i32c, add32, geU, block, loop, end, br, brIf, load, loadSplat, store, f32x4Add, f32x4Mul, I32, V128 } = W;
  const [ITERS, ADDR, I, M, C, ACC] = [0, 1, 2, 3, 4, 5];
  const code = [
    ...get(ADDR), ...loadSplat(0), ...set(M),
    ...get(ADDR), ...loadSplat(4), ...set(C),
  ];
  for (let k = 0; k < CHAINS; k++) code.push(...get(ADDR), ...load(16 + 16 * k), ...set(ACC + k));
  code.push(...i32c(0), ...set(I), ...block, ...loop, ...get(I), ...get(ITERS), ...geU, ...brIf(1));
  for (let k = 0; k < CHAINS; k++) code.push(...get(ACC + k), ...get(M), ...f32x4Mul, ...get(C), ...f32x4Add, ...set(ACC + k));
  code.push(...get(I), ...i32c(1), ...add32, ...set(I), ...br(0), ...end, ...end);
  for (let k = 0; k < CHAINS; k++) code.push(...get(ADDR), ...get(ACC + k), ...store(16 + 16 * k));
  const bytes = wasmModuleBytes([{ name: 'peak', params: 2, locals: [[1, I32], [2 + CHAINS, V128]], code }]);
  const memory = new WebAssembly.Memory({ initial: 1 });
  const instance = new WebAssembly.Instance(new WebAssembly.Module(bytes), { env: { memory } });
  const f32 = new Float32Array(memory.buffer);
  f32[0] = 0.5; // acc -> acc / 2 + 1 stays near 2: no overflow, no denormals
  f32[1] = 1;
  for (let i = 4; i < 4 + 4 * CHAINS; i++) f32[i] = i % 3;
  return { run: (iters) => instance.exports.peak(iters, 0), check: () => f32[4] };
}

function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

function timeMs(fn) {
  for (let i = 0; i < 2; i++) fn();
  const t = [];
  for (let i = 0; i < reps; i++) {
    const t0 = process.hrtime.bigint();
    fn();
    t.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  return median(t);
}

/** The `cpu` preset's ResNet-18 (smallInput, width 8) convolutions: [name, H, k, stride, cin, cout]. */
const CONVS = [
  ['stem 3x3', 32, 3, 1, 3, 8],
  ['layer1 3x3', 32, 3, 1, 8, 8],
  ['layer2.0 3x3 s2', 32, 3, 2, 8, 16],
  ['layer2 3x3', 16, 3, 1, 16, 16],
  ['layer3.0 3x3 s2', 16, 3, 2, 16, 32],
  ['layer3 3x3', 8, 3, 1, 32, 32],
  ['layer4.0 3x3 s2', 8, 3, 2, 32, 64],
  ['layer4 3x3', 4, 3, 1, 64, 64],
  ['large 3x3 (not in the step: near each side\'s best)', 16, 3, 1, 128, 128],
];
/** The first STEP_CONVS are the step's. */
const STEP_CONVS = 8;
const BATCH = 64;
const MATMULS = [
  ['1024^3', 1024, 1024, 1024],
  ['512^3', 512, 512, 512],
  ['projector 1 (640x64 @ 64x512)', 640, 64, 512],
  ['projector 2 (640x512 @ 512x128)', 640, 512, 128],
  ['predictor 1 (640x128 @ 128x512)', 640, 128, 512],
];

const convOut = (H, s) => Math.ceil(H / s);
const convFlops = ([, H, k, s, cin, cout]) => 2 * BATCH * convOut(H, s) ** 2 * k * k * cin * cout;

async function main() {
  const info = await roi.initBackend({ backend: 'wasm', log: null });
  const backendText = roi.describeBackend(info);
  // Ours: peak.
  const peak = peakModule();
  const iters = 2_000_000;
  const peakMs = timeMs(() => peak.run(iters));
  const peakFlops = iters * CHAINS * 4 * 2;
  if (!Number.isFinite(peak.check())) throw new Error('compute-ceiling: the peak loop produced a non-finite value');
  const ours = { peak: { ms: peakMs, gflops: peakFlops / peakMs / 1e6 }, matmul: [], conv: [] };
  for (const [name, m, k, n] of MATMULS) {
    const a = tf.randomNormal([m, k]);
    const b = tf.randomNormal([k, n]);
    // dataSync outside tidy: a typed array returned from tidy is walked entry by entry.
    const ms = timeMs(() => {
      const c = tf.matMul(a, b);
      c.dataSync();
      c.dispose();
    });
    ours.matmul.push({ name, ms, gflops: (2 * m * k * n) / ms / 1e6 });
    tf.dispose([a, b]);
  }
  for (const c of CONVS) {
    const [name, H, k, s, cin, cout] = c;
    const x = tf.randomNormal([BATCH, H, H, cin]);
    const w = tf.randomNormal([k, k, cin, cout]);
    // A new filter tensor per call, as in training (the weights change every step, so XNNPACK
    // creates its operator and packs the filter on every call).
    const ms = timeMs(() => {
      const y = tf.tidy(() => tf.conv2d(x, tf.add(w, 0), s, 'same'));
      y.dataSync();
      y.dispose();
    });
    ours.conv.push({ name, ms, gflops: convFlops(c) / ms / 1e6 });
    tf.dispose([x, w]);
  }
  // PyTorch, same shapes.
  const spec = path.join(os.tmpdir(), `compute-ceiling-${process.pid}.json`);
  fs.writeFileSync(spec, JSON.stringify({ reps, threads: torchThreads, batch: BATCH, convs: CONVS, matmuls: MATMULS }));
  const r = spawnSync('/usr/bin/python3', [path.join(__dirname, 'compute_ceiling_torch.py'), spec], { encoding: 'utf8' });
  fs.rmSync(spec, { force: true });
  if (r.status !== 0) throw new Error(`compute-ceiling: the PyTorch side failed:\n${r.stderr}`);
  const torch = JSON.parse(r.stdout);

  const f1 = (x) => x.toFixed(1);
  const f2 = (x) => x.toFixed(2);
  const lines = [];
  lines.push(`Ours: ${backendText}. PyTorch ${torch.version}, ${torchThreads} thread(s). ${os.cpus()[0].model}, Node ${process.version}, load ${os.loadavg()[0].toFixed(2)}.`);
  lines.push('');
  lines.push('| what | ours ms | ours GFLOP/s | PyTorch ms | PyTorch GFLOP/s | speed ratio |');
  lines.push('| --- | ---: | ---: | ---: | ---: | ---: |');
  lines.push(`| wasm SIMD peak: f32x4 mul+add loop, ${CHAINS} chains in registers | ${f1(ours.peak.ms)} | ${f1(ours.peak.gflops)} | | | |`);
  ours.matmul.forEach((o, i) => {
    const t = torch.matmul[i];
    lines.push(`| matmul ${o.name} | ${f2(o.ms)} | ${f1(o.gflops)} | ${f2(t.ms)} | ${f1(t.gflops)} | **${f2(t.ms / o.ms)}x** |`);
  });
  let oursConv = 0;
  let torchConv = 0;
  ours.conv.forEach((o, i) => {
    const t = torch.conv[i];
    if (i < STEP_CONVS) {
      oursConv += o.ms;
      torchConv += t.ms;
    }
    lines.push(`| conv ${o.name}, ${CONVS[i][4]}->${CONVS[i][5]} ch, ${CONVS[i][1]} px, batch ${BATCH} | ${f2(o.ms)} | ${f1(o.gflops)} | ${f2(t.ms)} | ${f1(t.gflops)} | **${f2(t.ms / o.ms)}x** |`);
  });
  lines.push(`| the step's ${STEP_CONVS} convolutions, one each | ${f1(oursConv)} | | ${f1(torchConv)} | | **${f2(torchConv / oursConv)}x** |`);
  console.log(lines.join('\n'));
  if (jsonOut) fs.writeFileSync(jsonOut, JSON.stringify({ backend: backendText, torchThreads, ours, torch, table: lines.join('\n') }, null, 2));
}

main().catch((err) => {
  console.error(err.stack || String(err));
  process.exit(1);
});
