#!/usr/bin/env node
/**
 * Runs every benchmark under tools/bench/ in one command, each against its PyTorch /
 * torchvision counterpart in the same run, and writes docs/benchmarks.md from the results.
 *
 *   npm run build && npm run bench
 *   node tools/bench/run-all.js [--quick] [--only roi-align,augment,...] [--skip step-cpu,...]
 *       [--out docs/benchmarks.md] [--results FILE.json] [--from-results FILE.json] [--list]
 *
 * --quick         small sizes, a smoke run of a few minutes; writes /tmp/scrl-benchmarks-quick.md
 *                 unless --out is given (docs/benchmarks.md is only written by a full run).
 * --only / --skip comma-separated job names or benchmark names (see --list).
 * --results       where the raw results (JSON) go; default /tmp/scrl-bench-<time>.json.
 * --from-results  regenerate the markdown from a saved results file, running nothing.
 *
 * Each job is a separate child process (`node tools/bench/<script>.js ... --json FILE`), one at
 * a time, so the peak RSS that the child reports (process.resourceUsage().maxRSS) belongs to that
 * benchmark alone; each Python counterpart reports its own resource.getrusage ru_maxrss.
 */
'use strict';
const { spawn, spawnSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const root = path.resolve(__dirname, '../..');

// ---------------------------------------------------------------------------------------------
// Jobs. `full` sizes keep the whole run near 20-30 minutes on the shared 2-core machine.

const JOBS = [
  { name: 'roi-align-cpu', bench: 'roi-align', script: 'roi-align.js', full: ['--backends', 'cpu', '--repeats', '11'], quick: ['--backends', 'cpu', '--repeats', '1'] },
  { name: 'roi-align-wasm', bench: 'roi-align', script: 'roi-align.js', full: ['--backends', 'wasm', '--repeats', '11'], quick: ['--backends', 'wasm', '--repeats', '1'] },
  { name: 'augment', bench: 'augment', script: 'augment.js', full: ['--images', '600'], quick: ['--images', '20'] },
  {
    name: 'data', bench: 'data', script: 'data.js',
    full: ['--images', '256', '--size', '320', '--batch', '16', '--epochs', '2'],
    quick: ['--images', '32', '--size', '256', '--batch', '8', '--epochs', '1'],
  },
  // Warm-up 6: each replica of --threads 2 JIT-compiles its host loops on half the work per step
  // and takes about 6 steps to reach its steady speed (tools/bench/step-threads.js); both rows
  // get the same warm-up.
  { name: 'step-wasm', bench: 'step', script: 'step.js', full: ['--backends', 'wasm', '--steps', '6', '--warmup', '6'], quick: ['--backends', 'wasm', '--batch', '8', '--steps', '1', '--warmup', '1'] },
  // Both cores (issue 15 item 2): ours as `scrl pretrain --threads 2` runs it, PyTorch with 2 threads.
  {
    name: 'step-wasm-2threads', bench: 'step', script: 'step.js',
    full: ['--backends', 'wasm', '--steps', '6', '--warmup', '6', '--threads', '2', '--torch-threads', '2'],
    quick: ['--backends', 'wasm', '--batch', '8', '--steps', '1', '--warmup', '1', '--threads', '2', '--torch-threads', '2'],
  },
  {
    name: 'profile-step-wasm', bench: 'profile-step', script: 'profile-step.js',
    full: ['--backend', 'wasm', '--warmup', '2'],
    quick: ['--backend', 'wasm', '--batch', '8', '--warmup', '1', '--methods', 'scrl'],
  },
  {
    name: 'detection-step-wasm', bench: 'detection-step', script: 'detection-step.js',
    full: ['--backends', 'wasm', '--widths', '8,16', '--steps', '4', '--warmup', '1', '--profile'],
    quick: ['--backends', 'wasm', '--widths', '8', '--batch', '4', '--steps', '1', '--warmup', '1'],
  },
  // Why the conv-bound steps trail PyTorch (issue 15): the wasm SIMD peak, XNNPACK and oneDNN per shape.
  { name: 'compute-ceiling', bench: 'compute-ceiling', script: 'compute-ceiling.js', full: ['--reps', '7'], quick: ['--reps', '1'] },
  { name: 'step-cpu', bench: 'step', script: 'step.js', full: ['--backends', 'cpu', '--steps', '2', '--warmup', '1'], quick: ['--backends', 'cpu', '--batch', '8', '--steps', '1', '--warmup', '1'] },
  {
    name: 'backbone-wasm-r18', bench: 'backbone', script: 'backbone.js',
    full: ['--backends', 'wasm', '--depths', '18', '--configs', '8x224,32x64', '--reps', '3', '--warmup', '1'],
    quick: ['--backends', 'wasm', '--depths', '18', '--configs', '8x64', '--reps', '1', '--warmup', '1'],
  },
  // ResNet-50 forward+backward at 8x224 is left out: on wasm it aborted inside wasm malloc (see the note in markdown()).
  {
    name: 'backbone-wasm-r50', bench: 'backbone', script: 'backbone.js',
    full: ['--backends', 'wasm', '--depths', '50', '--configs', '32x64', '--reps', '3', '--warmup', '1'],
    quick: ['--backends', 'wasm', '--depths', '50', '--configs', '4x64', '--reps', '1', '--warmup', '1'],
  },
  {
    name: 'backbone-wasm-r50-224', bench: 'backbone', script: 'backbone.js',
    full: ['--backends', 'wasm', '--depths', '50', '--configs', '8x224', '--modes', 'forward', '--reps', '3', '--warmup', '1'],
    quick: ['--backends', 'wasm', '--depths', '50', '--configs', '2x224', '--modes', 'forward', '--reps', '1', '--warmup', '0'],
  },
  {
    name: 'backbone-cpu', bench: 'backbone', script: 'backbone.js',
    full: ['--backends', 'cpu', '--depths', '18', '--configs', '32x64', '--modes', 'forward', '--reps', '2', '--warmup', '1'],
    quick: ['--backends', 'cpu', '--depths', '18', '--configs', '8x64', '--modes', 'forward', '--reps', '1', '--warmup', '1'],
  },
  { name: 'browser-page', bench: 'browser-page', script: 'browser-page.js', full: [], quick: ['--backends', 'wasm'] },
  {
    name: 'train-step-wasm', bench: 'train-step', script: 'train-step.js',
    full: ['--backends', 'wasm', '--batch', '32', '--size', '64', '--steps', '7', '--warmup', '1'],
    quick: ['--backends', 'wasm', '--batch', '4', '--size', '32', '--steps', '1', '--warmup', '1'],
  },
];

const OWNED_RULE =
  'The parts we own (RoIAlign, box sampling, augmentation, data loading, training loop overhead) must be at least as fast as their PyTorch counterparts.';

function parseArgs(argv) {
  const o = { quick: false, only: null, skip: [], out: null, results: null, fromResults: null, list: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const next = () => {
      if (i + 1 >= argv.length) throw new Error(`run-all: ${a} needs a value`);
      return argv[++i];
    };
    if (a === '--quick') o.quick = true;
    else if (a === '--only') o.only = next().split(',');
    else if (a === '--skip') o.skip = next().split(',');
    else if (a === '--out') o.out = next();
    else if (a === '--results') o.results = next();
    else if (a === '--from-results') o.fromResults = next();
    else if (a === '--list') o.list = true;
    else throw new Error(`run-all: unknown argument '${a}' (see the header of tools/bench/run-all.js)`);
  }
  return o;
}

// ---------------------------------------------------------------------------------------------
// Machine and versions.

function cpuModel() {
  try {
    const m = fs.readFileSync('/proc/cpuinfo', 'utf8').match(/^model name\s*:\s*(.*)$/m);
    if (m) return m[1].trim();
  } catch {
    /* not Linux */
  }
  return os.cpus()[0]?.model ?? 'unknown';
}

function pkgVersion(name) {
  try {
    return require(require.resolve(`${name}/package.json`, { paths: [root] })).version;
  } catch {
    // Packages whose `exports` hide package.json (sharp): read it from node_modules.
    try {
      return JSON.parse(fs.readFileSync(path.join(root, 'node_modules', name, 'package.json'), 'utf8')).version;
    } catch {
      return 'not installed';
    }
  }
}

function pythonVersions() {
  const code =
    'import json, platform, torch, torchvision, PIL\n' +
    'print(json.dumps({"python": platform.python_version(), "torch": torch.__version__, "torchvision": torchvision.__version__,' +
    ' "pil": PIL.__version__, "threads": torch.get_num_threads(), "mkldnn": torch.backends.mkldnn.is_available()}))';
  const r = spawnSync('/usr/bin/python3', ['-c', code], { encoding: 'utf8' });
  if (r.status !== 0) return { error: (r.stderr || '').trim().split('\n').pop() };
  return JSON.parse(r.stdout.trim());
}

function gitCommit() {
  const r = spawnSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: root, encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim() : 'unknown';
}

function machine() {
  return {
    cpu: cpuModel(),
    cores: os.cpus().length,
    ramGiB: os.totalmem() / 2 ** 30,
    kernel: `${os.type()} ${os.release()}`,
    arch: os.arch(),
  };
}

function versions() {
  return {
    node: process.version,
    tfjsCore: pkgVersion('@tensorflow/tfjs-core'),
    tfjsBackendCpu: pkgVersion('@tensorflow/tfjs-backend-cpu'),
    tfjsBackendWasm: pkgVersion('@tensorflow/tfjs-backend-wasm'),
    sharp: pkgVersion('sharp'),
    ...Object.fromEntries(Object.entries(pythonVersions()).map(([k, v]) => [`py_${k}`, v])),
  };
}

// ---------------------------------------------------------------------------------------------
// Running.

const loadavg = () => os.loadavg().map((x) => Number(x.toFixed(2)));

function runJob(job, quick, tmpDir) {
  const jsonFile = path.join(tmpDir, `${job.name}.json`);
  const args = [path.join(__dirname, job.script), ...(quick ? job.quick : job.full), '--json', jsonFile];
  const started = new Date();
  const loadStart = loadavg();
  console.log(`\n=== ${job.name}: node ${path.relative(root, args[0])} ${args.slice(1, -2).join(' ')}  (load ${loadStart.join(' ')}, ${started.toISOString()})`);
  return new Promise((resolve) => {
    const child = spawn(process.execPath, args, { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
    let log = '';
    child.stdout.on('data', (d) => {
      log += d;
      process.stdout.write(d);
    });
    child.stderr.on('data', (d) => {
      log += d;
      process.stderr.write(d);
    });
    child.on('close', (code, signal) => {
      const seconds = (Date.now() - started.getTime()) / 1000;
      let result = null;
      let error = null;
      if (code === 0) {
        try {
          result = JSON.parse(fs.readFileSync(jsonFile, 'utf8'));
        } catch (err) {
          error = `no JSON results: ${err.message}`;
        }
      } else {
        const lines = log.trim().split('\n');
        const first = lines.find((l) => /Error|Aborted/.test(l)) ?? lines[lines.length - 1];
        error = `exit ${code ?? signal}: ${first.trim()}`;
      }
      console.log(`=== ${job.name}: ${error ? `FAILED (${error})` : 'done'} in ${seconds.toFixed(0)} s (load ${loadavg().join(' ')})`);
      resolve({
        name: job.name, bench: job.bench, command: `node tools/bench/${job.script} ${(quick ? job.quick : job.full).join(' ')}`,
        started: started.toISOString(), seconds, loadStart, loadEnd: loadavg(), error, result,
      });
    });
  });
}

// ---------------------------------------------------------------------------------------------
// Markdown.

const mb = (kb) => (kb ? `${(kb / 1024).toFixed(0)} MB` : 'n/a');
const f1 = (x) => (x >= 100 ? x.toFixed(0) : x >= 10 ? x.toFixed(1) : x >= 1 ? x.toFixed(2) : x.toFixed(3));
const ratioCell = (r) => `**${r.toFixed(2)}x**`;
const verdict = (r) => (r >= 1 ? 'meets' : '**slower**');

function table(head, rows) {
  return [`| ${head.join(' | ')} |`, `| ${head.map(() => '---').join(' | ')} |`, ...rows.map((r) => `| ${r.join(' | ')} |`)].join('\n');
}

/** Each section returns { md, owned: [{ label, ratio }], other: [{ label, ratio }] }. */
function roiAlignSection(jobs) {
  const rows = [];
  const owned = [];
  for (const j of jobs) {
    const r = j.result;
    for (const row of r.rows) {
      const ratio = row.torchMs / row.oursMs;
      owned.push({ label: `RoIAlign ${row.backend} ${row.case.split(':')[0]} ${row.mode}`, ratio });
      rows.push([row.backend, row.case, row.mode, f1(row.oursMs), f1(row.torchMs), ratioCell(ratio), verdict(ratio), mb(r.maxRssKb), mb(r.torch.maxRssKb)]);
    }
  }
  const r0 = jobs[0].result;
  const md = [
    `Median ms per call over ${r0.repeats} calls after one warm-up; \`roiAlign\` from \`@scrl/roi-align\` against`,
    '`torchvision.ops.roi_align` (C++ CPU kernel) on the same shapes and boxes. "forward+backward" is the forward pass',
    'and the input gradient for a fixed upstream gradient; "user path" is `tf.variableGrads(() => roiAlign(v, ...).sum())`',
    'against `roi_align(x, ...).sum().backward()`, what a user writes. PyTorch runs with 1 thread, as ours.',
    'torchvision runs before and after our backend in each job',
    'and the faster of its two medians is used. Ratio = PyTorch ms / our ms (> 1: ours faster).',
    '',
    table(['Backend', 'Case', 'Pass', 'ours ms', 'PyTorch ms', 'speed ratio', 'rule', 'peak RSS ours', 'peak RSS PyTorch'], rows),
  ].join('\n');
  return { md, owned, other: [] };
}

function augmentSection(jobs) {
  const r = jobs[0].result;
  const rows = [];
  const owned = [];
  for (const row of r.rows) {
    const ratio = row.oursImagesPerSec / row.torchImagesPerSec;
    owned.push({ label: `augment ${row.mode} ${row.variant}`, ratio });
    rows.push([
      row.mode, row.variant, f1(row.oursImagesPerSec), f1(row.torchImagesPerSec), ratioCell(ratio), verdict(ratio),
      f1(row.oursCpuMsPerImage), f1(row.torchCpuMsPerImage), `${(row.torchCpuMsPerImage / row.oursCpuMsPerImage).toFixed(2)}x`, mb(r.maxRssKb), mb(r.torch.maxRssKb),
    ]);
  }
  const md = [
    `One image = decode (in \`decode\` mode) + two SCRL views of 224 px + 10 box pairs; ${r.images} images per side per mode,`,
    `run alternately in rounds of ${r.chunk} (Python stays up as a server) from ${r.files} generated 640x480 JPEGs.`,
    `Ours: \`@scrl/augment\` on sharp ${r.sharp} (libvips ${r.libvips}, 1 thread); PyTorch: torchvision transforms on PIL ${r.torch.pil}, 1 thread.`,
    '`sequential` renders view 1 then view 2; `viewPair` renders both concurrently, as the data loader does.',
    'Speed ratio = our images/s / PyTorch images/s; CPU ratio = PyTorch CPU ms / our CPU ms (both > 1: ours better).',
    '',
    table(['Mode', 'Variant', 'ours img/s', 'PyTorch img/s', 'speed ratio', 'rule', 'ours CPU ms/img', 'PyTorch CPU ms/img', 'CPU ratio', 'peak RSS ours', 'peak RSS PyTorch'], rows),
  ].join('\n');
  return { md, owned, other: [] };
}

function dataSection(jobs) {
  const r = jobs[0].result;
  const rows = [];
  const owned = [];
  for (const row of r.rows) {
    const ratio = row.js.pairs_per_s / row.torch.pairs_per_s;
    owned.push({ label: `data loader, ${row.workers} worker(s)`, ratio });
    rows.push([
      String(row.workers), f1(row.js.pairs_per_s), f1(row.torch.pairs_per_s), ratioCell(ratio), verdict(ratio),
      f1(row.js.cpu_s_per_pair * 1000), f1(row.torch.cpu_s_per_pair * 1000), mb(r.maxRssKb),
      `${mb(row.torch.maxRssKb)} + ${mb(row.torch.workerMaxRssKb)} per worker`,
    ]);
  }
  const md = [
    `View pairs per second through \`@scrl/data\`'s loader (worker threads: decode, two 224 px views, box pairs, batching)`,
    `and through a \`torch.utils.data.DataLoader\` (worker processes, PIL + torchvision), ${r.images} JPEG scenes of ${r.size}x${r.size},`,
    `batch ${r.batch}, ${r.epochs} epoch(s), timed from the first batch. CPU ms per pair counts all threads / processes, start-up included.`,
    'Our peak RSS covers the whole process including its worker threads and both worker counts; PyTorch\'s is the main',
    'process plus the largest worker process (each worker is a separate process, so its total is main + workers x that).',
    'Speed ratio = our pairs/s / PyTorch pairs/s (> 1: ours faster).',
    '',
    table(['Workers', 'ours pairs/s', 'PyTorch pairs/s', 'speed ratio', 'rule', 'ours CPU ms/pair', 'PyTorch CPU ms/pair', 'peak RSS ours', 'peak RSS PyTorch'], rows),
  ].join('\n');
  return { md, owned, other: [] };
}

function stepSection(jobs) {
  const rows = [];
  const other = [];
  const r0 = jobs[0].result;
  for (const j of jobs) {
    const r = j.result;
    const t = r.torchResults;
    for (const row of r.rows) {
      for (const m of ['scrl', 'byol']) {
        const ratio = row[m].imagesPerSecond / t[m].imagesPerSecond;
        const threads = `${row.threads ?? 1} / ${r.torch.threads ?? 1}`;
        other.push({ label: `${m.toUpperCase()} step ${row.backend}${(row.threads ?? 1) > 1 ? ` ${row.threads} threads` : ''}`, ratio });
        rows.push([row.backend, threads, m.toUpperCase(), f1(row[m].imagesPerSecond), f1(t[m].imagesPerSecond), ratioCell(ratio), f1(row[m].secondsPerStep * 1000), f1(t[m].secondsPerStep * 1000), mb(r.maxRssKb), mb(r.torch.maxRssKb)]);
      }
      rows.push([
        row.backend, `${row.threads ?? 1} / ${r.torch.threads ?? 1}`, 'SCRL time / BYOL time', `${(row.scrl.secondsPerStep / row.byol.secondsPerStep).toFixed(2)}`,
        `${(t.scrl.secondsPerStep / t.byol.secondsPerStep).toFixed(2)}`, '', '', '', '', '',
      ]);
    }
  }
  const md = [
    `One optimiser step (target forward without gradient, online forward, loss, backward, LARS, EMA) with the \`cpu\``,
    `preset's network (ResNet-18, CIFAR stem, base width ${r0.baseWidth}, heads ${r0.hidden}/${r0.out}), batch ${r0.batch}, ${r0.size} px views,`,
    `${r0.boxPairs} box pairs from the real samplers; mean over the timed steps after the warm-up (counts in the commands below). PyTorch: the same network`,
    'written in torch (tools/bench/step_torch.py) with torchvision\'s roi_align, measured in each job at the same number of threads as ours',
    '("threads" = ours / PyTorch\'s; ours on 2 threads is `scrl pretrain --threads 2`: two wasm replicas in worker threads, gradients',
    'reduce-scattered over a SharedArrayBuffer, each replica updating its share of the parameters, synchronised BatchNorm).',
    'Speed ratio = our images/s / PyTorch images/s (> 1: ours faster). The step is dominated by the backbone\'s',
    'convolutions, so as a whole it is not an "owned" part; the last row per backend shows what SCRL adds over BYOL',
    '(RoIAlign, box batching, heads over box rows instead of image rows) on each side.',
    '',
    table(['Backend', 'threads', 'Step', 'ours img/s', 'PyTorch img/s', 'speed ratio', 'ours ms/step', 'PyTorch ms/step', 'peak RSS ours', 'peak RSS PyTorch'], rows),
  ].join('\n');
  return { md, owned: [], other };
}

function detectionStepSection(jobs) {
  const rows = [];
  const other = [];
  const r0 = jobs[0].result;
  for (const j of jobs) {
    const r = j.result;
    for (const row of r.rows) {
      const t = row.torch;
      if (t) other.push({ label: `detection step ${row.backend} width ${row.width}`, ratio: row.ratio });
      rows.push([
        row.backend, String(row.width), String(row.parameters), f1(row.imagesPerSecond), t ? f1(t.imagesPerSecond) : '-',
        t ? ratioCell(row.ratio) : '-', f1(row.secondsPerStep * 1000), t ? f1(t.secondsPerStep * 1000) : '-', mb(r.maxRssKb), r.torch ? mb(r.torch.maxRssKb) : '-',
      ]);
    }
  }
  const profiles = jobs.flatMap((j) => j.result.profiles ?? []);
  const md = [
    "One fine-tuning step of `scrl eval detection` (@scrl/eval's `detectionTrainStep`: FCOS on the small-input ResNet-18, FPN on",
    `C3-C5, GroupNorm head; forward in training mode, targets, focal + GIoU + centre-ness losses, backward, gradient clip, SGD with`,
    `momentum), batch ${r0.batch} of the built-in 64 px scenes (${r0.boxes} boxes), against torchvision 0.14's \`FCOS\` of the same size`,
    '(tools/bench/detection_step_torch.py; tools/experiments/fcos_torch.py builds it: the two have the same parameter count) on the same',
    `images and boxes, PyTorch with ${r0.torch ? r0.torch.threads : 1} thread${r0.torch && r0.torch.threads > 1 ? 's' : ''}, as ours. Width 8 is the evaluator's default, width 16 the width of the`,
    'supervised ceiling and of the long pretraining runs. Speed ratio = our images/s / PyTorch images/s (> 1: ours faster).',
    '',
    table(['Backend', 'width', 'parameters', 'ours img/s', 'PyTorch img/s', 'speed ratio', 'ours ms/step', 'PyTorch ms/step', 'peak RSS ours', 'peak RSS PyTorch'], rows),
    ...profiles.flatMap((p) => ['', `Per-kernel profile of one of our steps (\`tf.profile\`), ${p.backend}, width ${p.width}: ${p.calls} kernel calls.`, '', p.md]),
  ].join('\n');
  return { md, owned: [], other };
}

function browserPageSection(jobs) {
  const r = jobs[0].result;
  const rows = r.speeds.map((x) => [x.backend, f1(x.imagesPerSecond), f1(x.secondsPerStep)]);
  const md = [
    `The page of \`npm run web\` (packages/web) pretraining SCRL with the \`cpu\` preset's network (ResNet-18 small-input, width 8, 32 px`,
    `views), ${r.run.steps} steps of ${r.run.batch} images per backend, in headless ${r.chromium}, driven by \`npm run test:browser\``,
    '(packages/web/browser-test.js); median images/s over steps 2 and later, building the views and box pairs in the page included.',
    'No PyTorch side and no goal: this machine has no GPU, so WebGL2 and WebGPU run on SwiftShader (Chromium\'s CPU implementation);',
    'the figures show that each backend works. docs/browser.md says how to measure on a real GPU.',
    '',
    table(['Backend', 'images/s', 's per step'], rows),
  ].join('\n');
  return { md, owned: [], other: [] };
}

function profileStepSection(jobs) {
  const md = jobs.map((j) => j.result.md).join('\n\n');
  return {
    md: ['Made by `node tools/bench/profile-step.js` (one `tf.profile` per variant, no PyTorch side: this table says where our step\'s time goes).', '', md].join('\n'),
    owned: [],
    other: [],
  };
}

function computeCeilingSection(jobs) {
  const r = jobs[0].result;
  const best = (side) => Math.max(...side.conv.map((c) => c.gflops));
  // The step's convolutions: all but the last (large) one.
  const stepConvs = (side) => side.conv.slice(0, -1);
  const torchStepMs = stepConvs(r.torch).reduce((a, c) => a + c.ms, 0);
  const oursStepMs = stepConvs(r.ours).reduce((a, c) => a + c.ms, 0);
  const peakStepMs = stepConvs(r.ours).reduce((a, c) => a + (c.gflops * c.ms) / r.ours.peak.gflops, 0);
  const md = [
    'What one core lets each side compute (`node tools/bench/compute-ceiling.js`): ours on the wasm backend (XNNPACK), PyTorch on',
    'oneDNN for convolutions and on Debian\'s generic BLAS for `torch.matmul`, at the same number of threads, same shapes, same run.',
    'The first row is a WebAssembly SIMD loop that does nothing but independent 128-bit multiply-adds in registers: the most any',
    'wasm kernel can reach on this core (wasm SIMD has 4 float lanes and no fused multiply-add; oneDNN uses AVX2/AVX-512 FMA).',
    'The convolutions are the forward ones of the `cpu` preset\'s ResNet-18 at batch 64 (the SCRL/BYOL step runs each 2 to 3',
    'times, forward and backward); the matrix products include the SCRL heads\' shapes.',
    '',
    r.table,
    '',
    `- XNNPACK's convolutions reach ${f1(best(r.ours))} GFLOP/s at best, ${Math.round((100 * best(r.ours)) / r.ours.peak.gflops)} % of the wasm peak; ` +
      `oneDNN's reach ${f1(best(r.torch))} GFLOP/s, ${(best(r.torch) / r.ours.peak.gflops).toFixed(1)}x the wasm peak itself.`,
    `- The step's ${r.ours.conv.length - 1} convolutions take oneDNN ${f1(torchStepMs)} ms; at 100 % of the wasm peak they would take ` +
      `${f1(peakStepMs)} ms, so no wasm kernel can run them faster than **${(torchStepMs / peakStepMs).toFixed(2)}x** PyTorch's speed ` +
      `(XNNPACK: ${(torchStepMs / oursStepMs).toFixed(2)}x). A step whose time is mostly these convolutions (BYOL, the detector) is bounded the same way; ` +
      'where ours reaches 0.8x of PyTorch it is because PyTorch\'s step spends time elsewhere (its BatchNorm, its matrix products).',
    `- Matrix products go the other way: XNNPACK is ${f1(r.torch.matmul[0].ms / r.ours.matmul[0].ms)}x Debian PyTorch's generic BLAS at 1024^3, ` +
      'which is why our SCRL step (heads over 640 box rows) is faster than PyTorch\'s while our BYOL step is slower.',
  ].join('\n');
  return { md, owned: [], other: [] };
}

function backboneSection(jobs) {
  const rows = [];
  const other = [];
  for (const j of jobs) {
    const r = j.result;
    for (const row of r.rows) {
      const ratio = row.imagesPerSec / row.torchImagesPerSec;
      other.push({ label: `ResNet-${row.depth} ${row.backendName} ${row.batch}x${row.size} ${row.mode}`, ratio });
      rows.push([row.backendName, `ResNet-${row.depth}`, `${row.batch} x ${row.size}`, row.mode, f1(row.imagesPerSec), f1(row.torchImagesPerSec), ratioCell(ratio), mb(r.maxRssKb), mb(r.torch.maxRssKb)]);
    }
  }
  const r0 = jobs[0].result;
  const md = [
    '`createResNet` from `@scrl/models` against torchvision\'s ResNet, images/s up to C5: `forward` in inference mode,',
    '`forward+backward` in training mode (loss = mean(C5), gradients for every parameter). Mean over the timed calls after',
    `the warm-up (counts in the commands below). Speed ratio = our images/s / PyTorch images/s (> 1: ours faster).`,
    'Expected slower: TF.js wasm (XNNPACK, 1 thread in Node) and cpu (plain JavaScript) against PyTorch\'s oneDNN kernels.',
    'The cpu backend is timed for the ResNet-18 forward pass only: its training step takes minutes at these sizes',
    '(docs/backends.md).',
    '',
    table(['Backend', 'Model', 'batch x size', 'Mode', 'ours img/s', 'PyTorch img/s', 'speed ratio', 'peak RSS ours', 'peak RSS PyTorch'], rows),
  ].join('\n');
  const r50 = jobs.flatMap((j) => j.result.rows).find((r) => r.depth === 50 && r.size === 224 && r.mode === 'forward');
  const note =
    r50 && r50.imagesPerSec > r50.torchImagesPerSec
      ? '\n\nThe ResNet-50 8 x 224 forward row is above 1 because PyTorch is unexpectedly slow there, not because TF.js is fast: ' +
        'PyTorch does ResNet-18 at 8 x 224 and ResNet-50 at 32 x 64 (12x fewer pixels per image) at the rates above, which would put ' +
        'ResNet-50 at 8 x 224 near 4 img/s, not below 1. A separate check on this machine (2026-11-30 18:10 UTC, load ~6.8: torchvision ' +
        'resnet50, eval, `torch.no_grad`, the same C5 path, one warm-up call) took 24.8 s per call of 8 images (0.32 img/s) both with ' +
        'and without `torch.set_flush_denormal(True)`, so denormals are not the cause; the cause is not established. Read that ratio ' +
        'as a PyTorch anomaly on this machine.'
      : '';
  return { md: md + note, owned: [], other };
}

function trainStepSection(jobs) {
  const rows = [];
  const other = [];
  const r0 = jobs[0].result;
  for (const j of jobs) {
    const r = j.result;
    const t = r.torch;
    for (const row of r.rows) {
      const ratio = row.imagesPerSecond / t.imagesPerSecond;
      other.push({ label: `ResNet-18 train step ${row.backend}`, ratio });
      rows.push([row.backend, row.kernels, f1(row.imagesPerSecond), f1(t.imagesPerSecond), ratioCell(ratio), f1(row.secondsPerStep), f1(t.secondsPerStep), mb(r.maxRssKb), mb(t.maxRssKb)]);
    }
  }
  const md = [
    `Forward + backward + SGD update of ResNet-18 (\`@scrl/models\`, BatchNorm in training mode, 10 classes) at batch ${r0.batch},`,
    `${r0.size}x${r0.size}, against torchvision's \`resnet18\` with the same step; median of ${r0.steps} steps after ${r0.warmup} warm-up.`,
    'Speed ratio = our images/s / PyTorch images/s (> 1: ours faster). Backbone-bound: expected slower.',
    '',
    table(['Backend', 'Kernels', 'ours img/s', 'PyTorch img/s', 'speed ratio', 'ours s/step', 'PyTorch s/step', 'peak RSS ours', 'peak RSS PyTorch'], rows),
  ].join('\n');
  return { md, owned: [], other };
}

const SECTIONS = [
  { bench: 'roi-align', title: 'RoIAlign (owned)', fn: roiAlignSection },
  { bench: 'augment', title: 'View pipeline: augmentation and box sampling (owned)', fn: augmentSection },
  { bench: 'data', title: 'Data loading (owned)', fn: dataSection },
  { bench: 'step', title: 'SCRL and BYOL training steps', fn: stepSection },
  { bench: 'profile-step', title: 'Per-kernel profile of one step, stock kernels vs ours', fn: profileStepSection },
  { bench: 'detection-step', title: 'Detection fine-tuning step (FCOS)', fn: detectionStepSection },
  { bench: 'compute-ceiling', title: 'The compute ceiling: wasm SIMD against oneDNN', fn: computeCeilingSection },
  { bench: 'browser-page', title: 'The browser page (no PyTorch counterpart)', fn: browserPageSection },
  { bench: 'backbone', title: 'Backbone (ResNet; not owned, expected slower)', fn: backboneSection },
  { bench: 'train-step', title: 'ResNet-18 training step (not owned, expected slower)', fn: trainStepSection },
];

function markdown(run) {
  const m = run.machine;
  const v = run.versions;
  const out = [];
  out.push('# Benchmarks');
  out.push('');
  out.push(
    `Generated by \`${run.command}\` (tools/bench/run-all.js) on ${run.started.slice(0, 16).replace('T', ' ')} UTC, code at commit ` +
      `\`${run.commit}\`; every figure below comes from that one run. Do not edit by hand: rerun the command.`,
  );
  out.push('');
  out.push('## How to read it');
  out.push('');
  out.push(
    'Each benchmark is a separate child process, run one at a time, which times our TF.js implementation and spawns its ' +
      'PyTorch / torchvision counterpart (Debian\'s `/usr/bin/python3` with torch and torchvision) on the same sizes in the same job. ' +
      'The **speed ratio** is always *ours relative to PyTorch as speed*: our throughput / PyTorch\'s throughput, or PyTorch\'s ' +
      'time / our time. **Above 1 means ours is faster, below 1 means ours is slower**; 0.25x means PyTorch does four times as much ' +
      'work in the same time.',
  );
  out.push('');
  out.push(`The rule from our guide: *"${OWNED_RULE}"* Rows of owned parts are marked **meets** (ratio ≥ 1) or **slower** (ratio < 1).`);
  out.push(
    'Backbone convolutions are not ours: TF.js runs them on XNNPACK (wasm, one thread in Node) or in plain JavaScript (cpu), PyTorch on oneDNN, ' +
      'so the backbone and the whole training steps are expected to be slower; they are reported as measured.',
  );
  out.push('');
  out.push(
    'Peak RSS is the maximum resident set size of the process: for ours `process.resourceUsage().maxRSS` of the benchmark\'s node child ' +
      '(everything that child ran, including its worker threads), for PyTorch `resource.getrusage(RUSAGE_SELF).ru_maxrss` of the ' +
      'Python process (the data loader also reports its largest worker process). It includes each runtime\'s own footprint ' +
      '(Node + TF.js + wasm, Python + torch), not only the benchmark\'s tensors.',
  );
  out.push('');
  out.push(
    'The machine is shared: other work ran during the benchmark (load averages below). Both sides of a job run under the same load ' +
      'within minutes of each other, and several benchmarks interleave or repeat the PyTorch side to even it out; absolute figures ' +
      'move from run to run, the ratios less.',
  );
  out.push('');
  out.push('## Machine and versions');
  out.push('');
  out.push(
    table(['', ''], [
      ['CPU', `${m.cpu}, ${m.cores} logical cores (${m.arch})`],
      ['RAM', `${m.ramGiB.toFixed(1)} GiB`],
      ['OS', m.kernel],
      ['Load average (1/5/15 min) at start', run.loadStart.join(' / ')],
      ['Load average at end', run.loadEnd.join(' / ')],
      ['Run time', `${(run.seconds / 60).toFixed(1)} min (${run.started.slice(11, 16)} to ${run.ended.slice(11, 16)} UTC)`],
      ['Node', v.node],
      ['TF.js', `@tensorflow/tfjs-core ${v.tfjsCore}, tfjs-backend-cpu ${v.tfjsBackendCpu}, tfjs-backend-wasm ${v.tfjsBackendWasm}`],
      ['sharp', v.sharp],
      ['Python', `${v.py_python} (/usr/bin/python3)`],
      ['PyTorch', `torch ${v.py_torch}, torchvision ${v.py_torchvision}, PIL ${v.py_pil}; torch.get_num_threads() = ${v.py_threads}, oneDNN (mkldnn) available: ${v.py_mkldnn}`],
    ]),
  );
  out.push('');
  const backends = new Set();
  for (const j of run.jobs) for (const row of j.result?.rows ?? []) if (row.backendInfo) backends.add(row.backendInfo);
  if (backends.size) {
    out.push('TF.js backends as reported by `describeBackend`: ' + [...backends].map((b) => `\`${b}\``).join('; ') + '.');
    out.push('');
  }
  const summary = [];
  const body = [];
  for (const s of SECTIONS) {
    const jobs = run.jobs.filter((j) => j.bench === s.bench);
    if (!jobs.length) continue;
    body.push(`## ${s.title}`);
    body.push('');
    const ok = jobs.filter((j) => j.result);
    for (const j of jobs.filter((x) => !x.result)) body.push(`Job \`${j.name}\` failed: ${j.error}`, '');
    if (ok.length) {
      const sec = s.fn(ok);
      body.push(sec.md);
      body.push('');
      for (const j of ok) {
        body.push(`- \`${j.command}\`: ${j.seconds.toFixed(0)} s, load ${j.loadStart[0]} → ${j.loadEnd[0]}`);
      }
      body.push('');
      const all = [...sec.owned, ...sec.other];
      if (all.length) {
        const lo = all.reduce((a, b) => (b.ratio < a.ratio ? b : a));
        const hi = all.reduce((a, b) => (b.ratio > a.ratio ? b : a));
        const owned = sec.owned.length ? `${sec.owned.filter((x) => x.ratio >= 1).length} of ${sec.owned.length} rows meet the rule` : 'not owned';
        summary.push([s.title, owned, `${lo.ratio.toFixed(2)}x (${lo.label})`, `${hi.ratio.toFixed(2)}x (${hi.label})`]);
      }
    }
  }
  out.push('## Summary');
  out.push('');
  out.push(table(['Benchmark', 'Rule for owned parts', 'lowest speed ratio', 'highest speed ratio'], summary));
  out.push('');
  out.push(...body);
  out.push('## Not covered');
  out.push('');
  out.push(
    '- Training loop overhead (LARS, EMA, bookkeeping) is not timed on its own: it is inside the SCRL/BYOL step rows, where the ' +
      'backbone dominates.\n' +
      '- `tools/bench/train-step-kernels.js` (our training kernels against TF.js\'s stock kernels) has no PyTorch counterpart and is ' +
      'not part of this run; see docs/backends.md.\n' +
      '- The cpu backend\'s backbone training step and ResNet-18 train step are not timed here (minutes per step; docs/backends.md).\n' +
      '- ResNet-50 forward+backward at batch 8 x 224 on wasm is not in the job list: in the full run of 2026-11-30 17:28 UTC ' +
      '(`node tools/bench/backbone.js --backends wasm --depths 18,50 --configs 8x224,32x64 --reps 2 --warmup 1`) it died with ' +
      '`RuntimeError: Aborted()` inside `registerTensor` (wasm malloc) after the ResNet-50 forward rows. tfjs-backend-wasm 4.22 caps ' +
      'its heap at 4 GiB (`getHeapMax()` = 4294901760); running out of that heap is the likely cause, not verified. PyTorch ran that ' +
      'configuration in the same job. ResNet-50 training is timed at 32 x 64 instead.',
  );
  out.push('');
  return out.join('\n');
}

// ---------------------------------------------------------------------------------------------

async function main() {
  const o = parseArgs(process.argv.slice(2));
  if (o.list) {
    for (const j of JOBS) console.log(`${j.name.padEnd(16)} ${j.bench.padEnd(11)} full: ${j.full.join(' ')}\n${''.padEnd(28)} quick: ${j.quick.join(' ')}`);
    return;
  }
  let run;
  if (o.fromResults) {
    run = JSON.parse(fs.readFileSync(o.fromResults, 'utf8'));
  } else {
    const select = (j) => (!o.only || o.only.includes(j.name) || o.only.includes(j.bench)) && !o.skip.includes(j.name) && !o.skip.includes(j.bench);
    const jobs = JOBS.filter(select);
    if (!jobs.length) throw new Error(`run-all: no job selected (names: ${JOBS.map((j) => j.name).join(', ')})`);
    const tmpDir = fs.mkdtempSync(path.join(os.tmpdir(), 'scrl-bench-'));
    const started = new Date();
    const argv = process.argv.slice(2).filter((a, i, all) => !['--out', '--results'].includes(all[i - 1]) && !['--out', '--results'].includes(a));
    run = {
      command: argv.length ? `node tools/bench/run-all.js ${argv.join(' ')}` : 'npm run bench',
      quick: o.quick,
      started: started.toISOString(),
      commit: gitCommit(),
      machine: machine(),
      versions: versions(),
      loadStart: loadavg(),
      jobs: [],
    };
    console.log(`[bench] ${run.machine.cpu}, ${run.machine.cores} cores, ${run.machine.ramGiB.toFixed(1)} GiB; load ${run.loadStart.join(' ')}`);
    console.log(`[bench] node ${run.versions.node}, tfjs-core ${run.versions.tfjsCore}; torch ${run.versions.py_torch}, torchvision ${run.versions.py_torchvision}, python ${run.versions.py_python}`);
    console.log(`[bench] jobs: ${jobs.map((j) => j.name).join(', ')}${o.quick ? ' (quick)' : ''}`);
    for (const job of jobs) run.jobs.push(await runJob(job, o.quick, tmpDir));
    run.ended = new Date().toISOString();
    run.seconds = (Date.now() - started.getTime()) / 1000;
    run.loadEnd = loadavg();
    const resultsFile = o.results ?? path.join(os.tmpdir(), `scrl-bench-${started.toISOString().replace(/[:.]/g, '-')}.json`);
    fs.writeFileSync(resultsFile, JSON.stringify(run, null, 1));
    fs.rmSync(tmpDir, { recursive: true, force: true });
    console.log(`\n[bench] ${run.jobs.length} jobs in ${(run.seconds / 60).toFixed(1)} min; load at end ${run.loadEnd.join(' ')}; results ${resultsFile}`);
  }
  const out = o.out ?? (run.quick ? path.join(os.tmpdir(), 'scrl-benchmarks-quick.md') : path.join(root, 'docs', 'benchmarks.md'));
  fs.writeFileSync(out, markdown(run));
  console.log(`[bench] wrote ${path.relative(process.cwd(), out) || out}`);
  const failed = run.jobs.filter((j) => j.error);
  if (failed.length) {
    console.error(`[bench] failed: ${failed.map((j) => j.name).join(', ')}`);
    process.exitCode = 1;
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
