#!/usr/bin/env node
/**
 * The paper's claim in miniature (docs/results.md): pretrain SCRL and BYOL with the same
 * backbone, data, budget and schedule on generated scenes, fine-tune the FCOS detector from
 * random, BYOL and SCRL initialisations, run the linear probe, for several seeds, and tabulate
 * mean and spread. Every step is a `scrl` command (printed, and logged under OUT/logs/), so each
 * number can also be reproduced by hand.
 *
 *   node tools/experiments/results.js [--out runs/results] [--seeds 0,1,2] [--jobs 2]
 *        [--pretrain-steps 300] [--detection-steps 400] [--curve-at 150] [--curve-seeds 0]
 *        [--probe-steps 300] [--stage all|pretrain|downstream|report] [--dry-run]
 *
 * Layout of OUT:
 *   pretrain-scenes/          2000 generated scenes (seed 1) used, without labels, for pretraining
 *   .scrl-cache/              the built-in 1000 scenes (seed 0): detection train 800 / val 200, probe crops
 *   pretrain/{scrl,byol}-sS/  pretrain runs (checkpoints every 50 steps, all kept)
 *   detection/INIT-sS[-atK]/  `scrl eval detection` reports (INIT random, byol or scrl; K = pretraining step)
 *   probe/INIT-sS/            `scrl eval linear` reports
 *   logs/                     one log per command
 *   summary.json, tables.md, ap-vs-steps.svg   written by the report stage
 *
 * The runner is resumable: a finished command (its metrics file exists) is skipped, and an
 * unfinished pretrain run is continued with --resume. `--jobs 2` runs two commands at once (the
 * wasm backend uses one thread per process, so two fill a 2-core machine). A failed command is
 * reported, the commands that do not depend on it still run, and the exit code is 1.
 */
'use strict';
const { spawn } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const root = path.join(__dirname, '..', '..');
const scrlBin = path.join(root, 'packages', 'cli', 'bin', 'scrl.js');
const { readMetrics } = require('@scrl/trainer');

function arg(name, fallback) {
  const i = process.argv.indexOf(`--${name}`);
  if (i < 0) return fallback;
  const v = process.argv[i + 1];
  if (v === undefined || v.startsWith('--')) throw new Error(`--${name} needs a value`);
  return v;
}
const flag = (name) => process.argv.includes(`--${name}`);
const ints = (s, name) =>
  s
    .split(',')
    .filter((x) => x !== '')
    .map((x) => {
      const n = Number(x);
      if (!Number.isInteger(n) || n < 0) throw new Error(`--${name}: '${x}' is not a non-negative integer`);
      return n;
    });

const opts = {
  out: path.resolve(arg('out', path.join(root, 'runs', 'results'))),
  seeds: ints(arg('seeds', '0,1,2'), 'seeds'),
  jobs: ints(arg('jobs', '2'), 'jobs')[0] || 1,
  pretrainSteps: ints(arg('pretrain-steps', '300'), 'pretrain-steps')[0],
  detectionSteps: ints(arg('detection-steps', '400'), 'detection-steps')[0],
  curveAt: ints(arg('curve-at', '150'), 'curve-at'),
  curveSeeds: ints(arg('curve-seeds', '0'), 'curve-seeds'),
  probeSteps: ints(arg('probe-steps', '300'), 'probe-steps')[0],
  pretrainImages: ints(arg('pretrain-images', '2000'), 'pretrain-images')[0],
  stage: arg('stage', 'all'),
  dryRun: flag('dry-run'),
};
if (!['all', 'pretrain', 'downstream', 'report'].includes(opts.stage)) {
  throw new Error(`--stage must be all, pretrain, downstream or report, got '${opts.stage}'`);
}
for (const k of opts.curveAt) {
  if (k % 50 !== 0 || k <= 0 || k >= opts.pretrainSteps) {
    throw new Error(`--curve-at: ${k} must be a multiple of 50 (the checkpoint interval) between 0 and --pretrain-steps (${opts.pretrainSteps})`);
  }
}

const O = (...p) => path.join(opts.out, ...p);
const METHODS = ['byol', 'scrl'];
const INITS = ['random', 'byol', 'scrl'];
const cache = ['--cache', O('.scrl-cache')];
const ckptName = (step) => `ckpt-${String(step).padStart(8, '0')}.json`;

function hasCheckpoint(dir) {
  return fs.existsSync(dir) && fs.readdirSync(dir).some((f) => /^ckpt-\d+\.json$/.test(f));
}

/** The commands, each { name, args, done(): boolean, deps: names }. */
function plan() {
  const jobs = [];
  jobs.push({
    name: 'data-pretrain-scenes',
    args: ['data', 'generate', '--out', O('pretrain-scenes'), '--images', String(opts.pretrainImages), '--seed', '1', '--size', '64'],
    done: () => fs.existsSync(O('pretrain-scenes', 'scenes.json')),
    deps: [],
  });
  for (const seed of opts.seeds) {
    for (const method of METHODS) {
      const dir = O('pretrain', `${method}-s${seed}`);
      jobs.push({
        name: `pretrain-${method}-s${seed}`,
        args: () => [
          'pretrain',
          '--method', method,
          '--set', `seed=${seed}`,
          '--set', `schedule.steps=${opts.pretrainSteps}`,
          '--set', 'checkpoint.keep=0',
          '--workers', '1',
          '--data', O('pretrain-scenes', 'images'),
          '--out', dir,
          ...cache,
          ...(hasCheckpoint(path.join(dir, 'checkpoints')) ? ['--resume'] : []),
        ],
        done: () => fs.existsSync(path.join(dir, 'checkpoints', ckptName(opts.pretrainSteps))),
        deps: ['data-pretrain-scenes'],
      });
    }
  }
  for (const seed of opts.seeds) {
    for (const init of INITS) {
      const initArg = init === 'random' ? ['--init', 'random', '--set', `seed=${seed}`] : ['--init', O('pretrain', `${init}-s${seed}`, 'checkpoints', ckptName(opts.pretrainSteps))];
      const deps = init === 'random' ? [] : [`pretrain-${init}-s${seed}`];
      const det = O('detection', `${init}-s${seed}`);
      jobs.push({
        name: `detection-${init}-s${seed}`,
        args: ['eval', 'detection', ...initArg, '--seed', String(seed), '--steps', String(opts.detectionSteps), '--out', det, ...cache],
        done: () => fs.existsSync(path.join(det, 'metrics.json')),
        deps,
      });
      const probe = O('probe', `${init}-s${seed}`);
      jobs.push({
        name: `probe-${init}-s${seed}`,
        args: ['eval', 'linear', ...initArg, '--steps', String(opts.probeSteps), '--out', probe, ...cache],
        done: () => fs.existsSync(path.join(probe, 'metrics.json')),
        deps,
      });
    }
  }
  for (const seed of opts.curveSeeds) {
    for (const method of METHODS) {
      for (const k of opts.curveAt) {
        const det = O('detection', `${method}-s${seed}-at${k}`);
        jobs.push({
          name: `detection-${method}-s${seed}-at${k}`,
          args: ['eval', 'detection', '--init', O('pretrain', `${method}-s${seed}`, 'checkpoints', ckptName(k)), '--seed', String(seed), '--steps', String(opts.detectionSteps), '--out', det, ...cache],
          done: () => fs.existsSync(path.join(det, 'metrics.json')),
          deps: [`pretrain-${method}-s${seed}`],
        });
      }
    }
  }
  // Seed by seed (the first seed's whole row gives an early read), pretraining before the
  // downstream jobs it gates, the AP-against-steps points last.
  const rank = (j) => {
    if (j.name.startsWith('data')) return -1;
    const seed = Number(/-s(\d+)/.exec(j.name)[1]);
    if (/-at\d+$/.test(j.name)) return 1e6 + seed;
    const kind = j.name.startsWith('pretrain') ? 0 : j.name.startsWith('detection') ? 1 : 2;
    return opts.seeds.indexOf(seed) * 10 + kind;
  };
  return jobs.sort((a, b) => rank(a) - rank(b));
}

function fmt(ms) {
  const s = Math.round(ms / 1000);
  return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
}

function argsOf(job) {
  return typeof job.args === 'function' ? job.args() : job.args;
}

function quote(a) {
  return /^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`;
}

function runJob(job) {
  const args = argsOf(job);
  fs.mkdirSync(O('logs'), { recursive: true });
  const log = fs.openSync(O('logs', `${job.name}.log`), 'a');
  fs.writeSync(log, `$ scrl ${args.map(quote).join(' ')}\n`);
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [scrlBin, ...args], { stdio: ['ignore', log, log], env: { ...process.env, SCRL_BACKEND: process.env.SCRL_BACKEND ?? 'wasm' } });
    child.on('close', (code, signal) => {
      fs.closeSync(log);
      resolve(code === 0 ? null : `exit ${code ?? signal}`);
    });
  });
}

async function runAll(jobs) {
    const state = new Map(); // name -> 'done' | 'failed' | 'running'
  for (const j of jobs) if (j.done()) state.set(j.name, 'done');
  const todo = jobs.filter((j) => !state.has(j.name));
  const total = todo.length;
  console.log(`[results] ${jobs.length - total} of ${jobs.length} commands already done; ${total} to run with ${opts.jobs} at a time in ${opts.out}`);
  if (opts.dryRun) {
    for (const j of todo) console.log(`scrl ${argsOf(j).map(quote).join(' ')}`);
    return [];
  }
  const started = Date.now();
  let finished = 0;
  const failures = [];
  await new Promise((resolveAll) => {
    let running = 0;
    const pump = () => {
      for (const j of todo) {
        if (running >= opts.jobs) break;
        if (state.has(j.name)) continue;
        const blocked = j.deps.find((d) => state.get(d) === 'failed');
        if (blocked) {
          state.set(j.name, 'failed');
          failures.push(`${j.name}: skipped, it needs ${blocked} which failed`);
          finished++;
          continue;
        }
        if (!j.deps.every((d) => state.get(d) === 'done')) continue;
        state.set(j.name, 'running');
        running++;
        const t0 = Date.now();
        console.log(`[results] start ${j.name}: scrl ${argsOf(j).map(quote).join(' ')}`);
        runJob(j).then((err) => {
          running--;
          finished++;
          if (err || !j.done()) {
            state.set(j.name, 'failed');
            failures.push(`${j.name}: ${err ?? 'finished without its output'} (see ${O('logs', `${j.name}.log`)})`);
            console.log(`[results] FAILED ${j.name} after ${fmt(Date.now() - t0)}: see ${O('logs', `${j.name}.log`)}`);
          } else {
            state.set(j.name, 'done');
            console.log(`[results] done ${j.name} in ${fmt(Date.now() - t0)} (${finished}/${total}, ${fmt(Date.now() - started)} elapsed)`);
          }
          pump();
        });
      }
      if (running === 0 && todo.every((j) => state.get(j.name) === 'done' || state.get(j.name) === 'failed')) resolveAll();
      else if (running === 0) {
        // Nothing runnable and nothing running: dependencies outside this plan are missing.
        for (const j of todo) {
          if (!state.has(j.name)) {
            state.set(j.name, 'failed');
            failures.push(`${j.name}: its dependencies did not finish`);
          }
        }
        resolveAll();
      }
    };
    pump();
  });
  return failures;
}

// ---------------------------------------------------------------- report

function readJson(file) {
  return fs.existsSync(file) ? JSON.parse(fs.readFileSync(file, 'utf8')) : undefined;
}

function stats(values) {
  const v = values.filter((x) => Number.isFinite(x));
  if (v.length === 0) return { n: 0, mean: NaN, std: NaN, min: NaN, max: NaN, values: [] };
  const mean = v.reduce((a, b) => a + b, 0) / v.length;
  const std = v.length > 1 ? Math.sqrt(v.reduce((a, b) => a + (b - mean) ** 2, 0) / (v.length - 1)) : 0;
  return { n: v.length, mean, std, min: Math.min(...v), max: Math.max(...v), values: v };
}

const pct = (x) => (Number.isFinite(x) ? (100 * x).toFixed(1).replace(/^-0\.0$/, '0.0') : 'n/a');
const LABEL = { random: 'random', byol: 'BYOL', scrl: 'SCRL' };

function lastLoss(dir) {
  const file = path.join(dir, 'metrics.jsonl');
  if (!fs.existsSync(file)) return NaN;
  const lines = readMetrics(file).filter((m) => Number.isFinite(m.loss));
  const tail = lines.slice(-10);
  return tail.reduce((a, m) => a + m.loss, 0) / Math.max(1, tail.length);
}

function report() {
  const summary = { options: opts, detection: {}, probe: {}, curve: {}, pretrain: {} };
  const rows = [];
  for (const init of INITS) {
    const det = opts.seeds.map((s) => readJson(O('detection', `${init}-s${s}`, 'metrics.json'))?.stats);
    const probe = opts.seeds.map((s) => readJson(O('probe', `${init}-s${s}`, 'metrics.json'))?.stats);
    const ap = stats(det.map((d) => d?.AP));
    const ap50 = stats(det.map((d) => d?.AP50));
    const ap75 = stats(det.map((d) => d?.AP75));
    const top1 = stats(probe.map((p) => p?.top1));
    summary.detection[init] = { AP: ap, AP50: ap50, AP75: ap75, perSeed: det };
    summary.probe[init] = { top1, perSeed: probe.map((p) => p?.top1) };
    rows.push({ init, ap, ap50, ap75, top1 });
  }
  for (const method of METHODS) {
    summary.pretrain[method] = opts.seeds.map((s) => ({ seed: s, finalLoss: lastLoss(O('pretrain', `${method}-s${s}`)) }));
  }
  const cell = (s) => (s.n ? `${pct(s.mean)} ± ${pct(s.std)}` : 'n/a');
  const seedsCell = (s) => s.values.map((v) => pct(v)).join(' / ');
  const lines = [];
  lines.push(`Mean ± sample standard deviation over seeds ${opts.seeds.join(', ')} (n = seeds that finished), in %.`);
  lines.push('');
  lines.push('| init | AP | AP50 | AP75 | linear probe top-1 |');
  lines.push('|---|---:|---:|---:|---:|');
  for (const r of rows) lines.push(`| ${LABEL[r.init]} (n=${r.ap.n}) | ${cell(r.ap)} | ${cell(r.ap50)} | ${cell(r.ap75)} | ${cell(r.top1)} |`);
  lines.push('');
  lines.push('Per seed (AP; probe top-1):');
  lines.push('');
  lines.push(`| init | AP per seed (${opts.seeds.join(' / ')}) | probe per seed |`);
  lines.push('|---|---|---|');
  for (const r of rows) lines.push(`| ${LABEL[r.init]} | ${seedsCell(r.ap)} | ${seedsCell(r.top1)} |`);
  lines.push('');
  // Paired differences (same seed for fine-tuning and pretraining).
  const paired = (a, b, key) => {
    const d = opts.seeds.map((s, i) => {
      const x = summary.detection[a].perSeed[i]?.[key];
      const y = summary.detection[b].perSeed[i]?.[key];
      return Number.isFinite(x) && Number.isFinite(y) ? x - y : NaN;
    });
    return stats(d);
  };
  lines.push('Paired differences in AP (same seed), mean ± sd, and the number of seeds where it is > 0:');
  lines.push('');
  lines.push('| comparison | ΔAP | ΔAP50 | ΔAP75 | seeds > 0 |');
  lines.push('|---|---:|---:|---:|---:|');
  for (const [a, b] of [['byol', 'random'], ['scrl', 'random'], ['scrl', 'byol']]) {
    const d = paired(a, b, 'AP');
    summary[`delta_${a}_${b}`] = { AP: d, AP50: paired(a, b, 'AP50'), AP75: paired(a, b, 'AP75') };
    lines.push(`| ${LABEL[a]} − ${LABEL[b]} | ${cell(d)} | ${cell(paired(a, b, 'AP50'))} | ${cell(paired(a, b, 'AP75'))} | ${d.values.filter((x) => x > 0).length} of ${d.n} |`);
  }
  lines.push('');
  lines.push('Pretraining loss (mean of the last 10 logged steps) per seed:');
  lines.push('');
  lines.push('| method | ' + opts.seeds.map((s) => `seed ${s}`).join(' | ') + ' |');
  lines.push('|---|' + opts.seeds.map(() => '---:').join('|') + '|');
  for (const m of METHODS) lines.push(`| ${LABEL[m]} | ${summary.pretrain[m].map((p) => (Number.isFinite(p.finalLoss) ? p.finalLoss.toFixed(3) : 'n/a')).join(' | ')} |`);
  lines.push('');

  // AP against pretraining steps.
  const series = {};
  for (const method of METHODS) {
    const pts = [];
    for (const k of [0, ...opts.curveAt, opts.pretrainSteps]) {
      const vals = opts.curveSeeds.map((s) => {
        const dir = k === 0 ? O('detection', `random-s${s}`) : k === opts.pretrainSteps ? O('detection', `${method}-s${s}`) : O('detection', `${method}-s${s}-at${k}`);
        return readJson(path.join(dir, 'metrics.json'))?.stats?.AP;
      });
      const st = stats(vals);
      if (st.n) pts.push({ step: k, ap: st.mean, n: st.n });
    }
    series[method] = pts;
  }
  summary.curve = series;
  lines.push(`AP against pretraining steps (seed${opts.curveSeeds.length > 1 ? 's' : ''} ${opts.curveSeeds.join(', ')}; step 0 is the random initialisation):`);
  lines.push('');
  lines.push('| steps | ' + METHODS.map((m) => LABEL[m]).join(' | ') + ' |');
  lines.push('|---:|' + METHODS.map(() => '---:').join('|') + '|');
  const steps = [...new Set(Object.values(series).flatMap((p) => p.map((x) => x.step)))].sort((a, b) => a - b);
  for (const k of steps) lines.push(`| ${k} | ${METHODS.map((m) => pct(series[m].find((p) => p.step === k)?.ap)).join(' | ')} |`);
  lines.push('');
  fs.writeFileSync(O('tables.md'), lines.join('\n'));
  fs.writeFileSync(O('summary.json'), JSON.stringify(summary, null, 2));
  fs.writeFileSync(O('ap-vs-steps.svg'), curveSvg(series));
  console.log(lines.join('\n'));
  console.log(`[results] wrote ${O('tables.md')}, ${O('summary.json')} and ${O('ap-vs-steps.svg')}`);
}

/** A small line chart of AP (%) against pretraining steps, as SVG text. */
function curveSvg(series) {
  const W = 560;
  const H = 340;
  const m = { l: 56, r: 110, t: 30, b: 46 };
  const all = Object.values(series).flat();
  const xMax = Math.max(opts.pretrainSteps, ...all.map((p) => p.step));
  const yMaxRaw = Math.max(0.01, ...all.map((p) => 100 * p.ap));
  const yStep = yMaxRaw > 20 ? 5 : yMaxRaw > 8 ? 2 : yMaxRaw > 4 ? 1 : 0.5;
  const yMax = Math.ceil(yMaxRaw / yStep) * yStep;
  const x = (s) => m.l + ((W - m.l - m.r) * s) / xMax;
  const y = (v) => H - m.b - ((H - m.t - m.b) * v) / yMax;
  const colours = { byol: '#1f77b4', scrl: '#d62728' };
  const out = [`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-family="sans-serif" font-size="12">`, `<rect width="${W}" height="${H}" fill="white"/>`];
  out.push(`<text x="${m.l}" y="18" font-size="13">Detection AP after fine-tuning vs pretraining steps</text>`);
  for (let v = 0; v <= yMax + 1e-9; v += yStep) {
    out.push(`<line x1="${m.l}" x2="${W - m.r}" y1="${y(v)}" y2="${y(v)}" stroke="#ddd"/>`);
    out.push(`<text x="${m.l - 6}" y="${y(v) + 4}" text-anchor="end">${Number(v.toFixed(1))}</text>`);
  }
  const ticks = [...new Set([0, ...opts.curveAt, opts.pretrainSteps])];
  for (const s of ticks) out.push(`<text x="${x(s)}" y="${H - m.b + 16}" text-anchor="middle">${s}</text>`);
  out.push(`<line x1="${m.l}" x2="${W - m.r}" y1="${H - m.b}" y2="${H - m.b}" stroke="black"/>`);
  out.push(`<line x1="${m.l}" x2="${m.l}" y1="${m.t}" y2="${H - m.b}" stroke="black"/>`);
  out.push(`<text x="${(m.l + W - m.r) / 2}" y="${H - 10}" text-anchor="middle">pretraining steps</text>`);
  out.push(`<text transform="translate(16 ${(m.t + H - m.b) / 2}) rotate(-90)" text-anchor="middle">COCO AP (%)</text>`);
  let ly = m.t + 10;
  for (const [method, pts] of Object.entries(series)) {
    if (!pts.length) continue;
    const c = colours[method];
    out.push(`<polyline fill="none" stroke="${c}" stroke-width="2" points="${pts.map((p) => `${x(p.step).toFixed(1)},${y(100 * p.ap).toFixed(1)}`).join(' ')}"/>`);
    for (const p of pts) out.push(`<circle cx="${x(p.step).toFixed(1)}" cy="${y(100 * p.ap).toFixed(1)}" r="3.5" fill="${c}"/>`);
    out.push(`<line x1="${W - m.r + 12}" x2="${W - m.r + 32}" y1="${ly}" y2="${ly}" stroke="${c}" stroke-width="2"/><text x="${W - m.r + 38}" y="${ly + 4}">${LABEL[method]}</text>`);
    ly += 18;
  }
  out.push('</svg>');
  return out.join('\n') + '\n';
}

async function main() {
  if (!fs.existsSync(path.join(root, 'packages', 'cli', 'dist'))) throw new Error('packages are not built: run `npm ci` (or `npm run build`) first');
  fs.mkdirSync(opts.out, { recursive: true });
  let jobs = plan();
  if (opts.stage === 'pretrain') jobs = jobs.filter((j) => j.name.startsWith('data') || j.name.startsWith('pretrain'));
  let failures = [];
  if (opts.stage !== 'report') {
    if (opts.stage === 'downstream') {
      const missing = jobs.filter((j) => j.name.startsWith('pretrain') && !j.done()).map((j) => j.name);
      if (missing.length) throw new Error(`--stage downstream needs the pretrain runs first; not finished: ${missing.join(', ')}`);
    }
    failures = await runAll(jobs);
  }
  if (!opts.dryRun && (opts.stage === 'all' || opts.stage === 'report' || opts.stage === 'downstream')) report();
  if (failures.length) {
    console.error(`[results] ${failures.length} command(s) failed:\n  ${failures.join('\n  ')}`);
    process.exitCode = 1;
  }
}

main().catch((e) => {
  console.error(`[results] error: ${e.message}`);
  process.exitCode = 2;
});
