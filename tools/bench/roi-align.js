#!/usr/bin/env node
/**
 * Benchmark of @scrl/roi-align's roiAlign (forward, and forward + input gradient) against
 * torchvision.ops.roi_align's C++ CPU kernel, measured in the same run on the same shapes and
 * boxes. Requires the built package (`npm run build`) and /usr/bin/python3 with torchvision.
 *
 *   node tools/bench/roi-align.js [--backends cpu,wasm] [--repeats 5] [--torch-threads 1] [--json FILE]
 *
 * Three passes: forward; forward + input gradient for a fixed upstream gradient (the kernels,
 * `tf.grad(f)(x, dy)` against `out.backward(dy)`); and the user's path, a scalar loss and its
 * gradient with respect to a variable (`tf.variableGrads(() => roiAlign(v, ...).sum())` against
 * `roi_align(x, ...).sum().backward()`), which adds the sum and its broadcasting gradient.
 * PyTorch runs with --torch-threads threads (default 1, as our wasm and cpu backends).
 *
 * Shapes: SCRL (C5 map 7x7x2048, 2 views x 64 images = N 128, 10 boxes per image = 1280 boxes
 * in 224 px view coordinates, 1x1 output, adaptive sampling, spatialScale 1/32) and a detector
 * head (50x50x256 map, 512 boxes in 800 px coordinates, 7x7 output, samplingRatio 2,
 * spatialScale 1/16). Prints median ms per call for each side and the ratio ours / torch.
 * torchvision runs before and after our backends and the faster of its two medians is used,
 * so that load from other processes does not flatter our side.
 */
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const root = path.join(__dirname, '..', '..');
const { initBackend, roiAlign, describeBackend, currentBackend } = require('@scrl/roi-align');
const tf = require('@tensorflow/tfjs-core');
const { arg } = require('../args');

/** Deterministic uniform [0, 1) (mulberry32). */
function rng(seed) {
  let a = seed | 0;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** `perImage` boxes per image, sides in [minSide, size], inside a size x size image. */
function boxes(n, perImage, size, minSide, seed) {
  const r = rng(seed);
  const b = [];
  const idx = [];
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < perImage; j++) {
      const w = minSide + r() * (size - minSide);
      const h = minSide + r() * (size - minSide);
      const x1 = r() * (size - w);
      const y1 = r() * (size - h);
      b.push([x1, y1, x1 + w, y1 + h].map((v) => Math.fround(v)));
      idx.push(i);
    }
  }
  return { boxes: b, boxIndices: idx };
}

const repeats = Number(arg('repeats', '5'));
const torchThreads = Number(arg('torch-threads', '1'));
const cases = [
  {
    name: 'SCRL: N128 7x7x2048, 1280 boxes, 1x1, adaptive, 1/32',
    inputShape: [128, 7, 7, 2048],
    ...boxes(128, 10, 224, 32, 1),
    outputSize: [1, 1],
    spatialScale: 1 / 32,
    samplingRatio: -1,
    aligned: false,
    repeats,
  },
  {
    name: 'detector: N1 50x50x256, 512 boxes, 7x7, ratio 2, 1/16',
    inputShape: [1, 50, 50, 256],
    ...boxes(1, 512, 800, 16, 2),
    outputSize: [7, 7],
    spatialScale: 1 / 16,
    samplingRatio: 2,
    aligned: false,
    repeats,
  },
];

const PASSES = [['forward', 'forwardMs'], ['forward+backward', 'forwardBackwardMs'], ['user path (variableGrads of sum)', 'userPathMs']];

function medianMs(fn, reps) {
  fn();
  const times = [];
  for (let i = 0; i < reps; i++) {
    const t0 = process.hrtime.bigint();
    fn();
    times.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  times.sort((a, b) => a - b);
  const m = times.length >> 1;
  return times.length % 2 ? times[m] : (times[m - 1] + times[m]) / 2;
}

function runTorch() {
  const spec = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'roi-align-bench-')), 'spec.json');
  fs.writeFileSync(spec, JSON.stringify({ cases, threads: torchThreads }));
  const res = spawnSync('/usr/bin/python3', [path.join(__dirname, 'roi_align_torch.py'), spec], {
    encoding: 'utf8',
    maxBuffer: 1 << 24,
  });
  fs.rmSync(path.dirname(spec), { recursive: true, force: true });
  if (res.status !== 0) throw new Error(`roi_align_torch.py failed: ${res.stderr}`);
  return JSON.parse(res.stdout);
}

async function runOurs(backend) {
  await initBackend({ backend, log: null });
  const out = [];
  for (const c of cases) {
    const [n, h, w, ch] = c.inputShape;
    const x = tf.randomNormal([n, h, w, ch], 0, 1, 'float32', 0);
    const b = tf.tensor2d(c.boxes.flat(), [c.boxes.length, 4]);
    const bi = tf.tensor1d(c.boxIndices, 'int32');
    const dy = tf.randomNormal([c.boxes.length, ...c.outputSize, ch], 0, 1, 'float32', 1);
    const opts = { spatialScale: c.spatialScale, samplingRatio: c.samplingRatio, aligned: c.aligned };
    const forwardMs = medianMs(() => {
      const y = roiAlign(x, b, bi, c.outputSize, opts);
      y.dataSync();
      y.dispose();
    }, c.repeats);
    // Like torch's out.backward(dy): forward, then the input gradient for upstream gradient dy.
    const grad = tf.grad((v) => roiAlign(v, b, bi, c.outputSize, opts));
    const forwardBackwardMs = medianMs(() => {
      const g = grad(x, dy);
      g.dataSync();
      g.dispose();
    }, c.repeats);
    const v = tf.variable(x);
    const userPathMs = medianMs(() => {
      const { value, grads } = tf.variableGrads(() => roiAlign(v, b, bi, c.outputSize, opts).sum());
      grads[v.name].dataSync();
      tf.dispose([value, grads[v.name]]);
    }, c.repeats);
    tf.dispose([x, b, bi, dy, v]);
    out.push({ name: c.name, forwardMs, forwardBackwardMs, userPathMs });
  }
  return out;
}

/** --json FILE: machine-readable results for tools/bench/run-all.js (peak RSS of this process in KB). */
function writeJson(file, result) {
  if (!file) return;
  const tfVersion = require(require.resolve('@tensorflow/tfjs-core/package.json', { paths: [path.join(__dirname, '..', '..')] })).version;
  fs.writeFileSync(
    file,
    JSON.stringify({ ...result, node: process.version, tfjsCore: tfVersion, maxRssKb: process.resourceUsage().maxRSS, loadavgEnd: os.loadavg() }, null, 1),
  );
}

async function main() {
  const backends = arg('backends', 'cpu,wasm').split(',');
  const torchBefore = runTorch();
  const ours = {};
  const described = {};
  for (const backend of backends) {
    ours[backend] = await runOurs(backend);
    described[backend] = describeBackend(currentBackend());
  }
  const torchAfter = runTorch();
  const torch = {
    ...torchBefore,
    cases: torchBefore.cases.map((t, i) => {
      const u = torchAfter.cases[i];
      return { name: t.name, forwardMs: Math.min(t.forwardMs, u.forwardMs), forwardBackwardMs: Math.min(t.forwardBackwardMs, u.forwardBackwardMs), userPathMs: Math.min(t.userPathMs, u.userPathMs) };
    }),
  };
  console.log(
    `torch ${torch.torch}, torchvision ${torch.torchvision}, torch threads ${torch.threads}; ` +
      `node ${process.version}; ${os.cpus().length} CPUs (${os.cpus()[0].model}); median of ${repeats} runs`,
  );
  for (const c of torchBefore.cases.map((t, i) => [t, torchAfter.cases[i]])) {
    console.log(
      `torchvision ${c[0].name}: forward ${c[0].forwardMs.toFixed(1)} / ${c[1].forwardMs.toFixed(1)} ms, ` +
        `forward+backward ${c[0].forwardBackwardMs.toFixed(1)} / ${c[1].forwardBackwardMs.toFixed(1)} ms, ` +
        `user path ${c[0].userPathMs.toFixed(1)} / ${c[1].userPathMs.toFixed(1)} ms (before / after)`,
    );
  }
  for (const backend of backends) {
    for (let i = 0; i < cases.length; i++) {
      const t = torch.cases[i];
      const o = ours[backend][i];
      for (const [label, key] of PASSES) {
        console.log(
          `[${backend}] ${o.name} | ${label}: ours ${o[key].toFixed(1)} ms, torchvision ${t[key].toFixed(1)} ms, ` +
            `ratio ${(o[key] / t[key]).toFixed(2)}`,
        );
      }
    }
  }
  const rows = [];
  for (const backend of backends) {
    for (let i = 0; i < cases.length; i++) {
      for (const [label, key] of PASSES) {
        rows.push({ backend, backendInfo: described[backend], case: cases[i].name, mode: label, oursMs: ours[backend][i][key], torchMs: torch.cases[i][key] });
      }
    }
  }
  writeJson(arg('json'), {
    bench: 'roi-align',
    repeats,
    torch: { torch: torch.torch, torchvision: torch.torchvision, threads: torch.threads, python: torch.python, maxRssKb: Math.max(torchBefore.maxRssKb, torchAfter.maxRssKb) },
    rows,
  });
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
