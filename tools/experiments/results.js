#!/usr/bin/env node
/**
 * The comparison of issue 22 item 3: random init vs BYOL vs SCRL, per seed, on every validated
 * evaluator (docs/evaluators.md): detection fine-tuning with all labels, with few labels and with
 * a frozen backbone, box probe, dense probe and the global linear probe. Writes
 * docs/results.json (the numbers, in %, one entry per seed) and docs/results.md (rendered from
 * it). Every step is a `scrl` command or experiments/regime/run.sh (printed, and logged under
 * OUT/logs/), so each number can be reproduced by hand. The report covers every evaluation and
 * every seed asked for or with a finished evaluation in OUT, whatever --evals and --seeds a runner
 * was started with.
 *
 *   node tools/experiments/results.js [--out experiments/results] [--seeds 0,1,2] [--jobs 2]
 *        [--pretrain-root experiments/regime] [--evals box,dense,linear,few,frozen,detection]
 *        [--stage all|pretrain|downstream|report] [--wait] [--dry-run]
 *
 * Pretraining is the regime recipe (experiments/regime/run.sh METHOD SEED 7.2: ResNet-18
 * small-input width 16, 32 px views, batch 64, LARS base lr 7.2, EMA 0.99, 2000 steps on 4000
 * unlabelled scenes), run as that script into --pretrain-root/<method>-s<seed>-blr7.2 (env
 * REGIME_OUT / REGIME_DATA as the script reads them). The downstream evaluations take its step-2000
 * checkpoint; random init is the same architecture drawn with the same seed, which is the
 * pretraining runs' starting point, so that within a seed only pretraining differs. The detector's
 * head, flips and batch order use the seed too, so differences are paired by seed.
 *
 * Layout of OUT (committed, except checkpoints and images; see OUT/.gitignore):
 *   <eval>/<init>-s<seed>/   one evaluation's metrics.json and report.md
 *   logs/                    one log per command (its command line first)
 *
 * Resumable: a finished evaluation (its metrics.json exists) is skipped, an unfinished pretraining
 * run continues from its newest checkpoint, and an interrupted detection fine-tuning continues
 * from its own (--resume). `--jobs 2` runs two commands at once (one wasm thread each). A failed
 * command is reported, the commands that do not need it still run, and the exit code is 1.
 * Two results.js at once (say, with different --evals) never run the same command: a running
 * command leaves OUT/logs/<name>.running with its pid, and a job whose marker names a live
 * process is left to it (with --wait, waited for; a marker whose process is gone is ignored).
 * `--stage downstream` never starts pretraining (use it while the runs go on elsewhere): the
 * evaluations of unfinished runs are left for later, or, with --wait, started as their checkpoints
 * appear (polled every minute).
 */
'use strict';
const { spawn } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');
const { arg, flag, intList } = require('../args');

const root = path.join(__dirname, '..', '..');
const scrlBin = path.join(root, 'packages', 'cli', 'bin', 'scrl.js');

/** The evaluations, in the order they run within a seed (cheap first). */
const EVALS = {
  box: { key: 'boxProbe', metric: 'top1', title: 'Box probe (RoIAlign 2x2 on C4+C5, logistic), top-1' },
  dense: { key: 'denseProbe', metric: 'miou', title: 'Dense probe (stride-4 cells, linear), mIoU' },
  linear: { key: 'linearProbe', metric: 'top1', title: 'Global linear probe (object crops, 32 px), top-1' },
  few: { key: 'detectionFewLabels', metric: 'ap', title: 'Detection, few labels (160 scenes, 500 steps, lr swept), COCO AP' },
  frozen: { key: 'detectionFrozen', metric: 'ap', title: 'Detection, frozen backbone (1600 scenes, 1500 steps), COCO AP' },
  detection: { key: 'detection', metric: 'ap', title: 'Detection, full fine-tuning (1600 scenes, 1500 steps), COCO AP' },
};
const INITS = ['random', 'byol', 'scrl'];
const METHODS = ['byol', 'scrl'];
const LABEL = { random: 'random', byol: 'BYOL', scrl: 'SCRL' };
const BASE_LR = '7.2';
const PRETRAIN_STEPS = 2000;
const WIDTH = 16;
const FEW = { labels: 160, steps: 500, lrs: '0.01,0.02,0.04', sweepSteps: 250 };

const opts = {
  out: path.resolve(arg('out', path.join(root, 'experiments', 'results'))),
  seeds: intList(arg('seeds', '0,1,2'), 'seeds'),
  jobs: intList(arg('jobs', '2'), 'jobs')[0] || 1,
  pretrainRoot: path.resolve(arg('pretrain-root', process.env.REGIME_OUT ?? path.join(root, 'experiments', 'regime'))),
  evals: arg('evals', Object.keys(EVALS).join(',')).split(','),
  stage: arg('stage', 'all'),
  dryRun: flag('dry-run'),
  wait: flag('wait'),
  json: path.resolve(arg('json', path.join(root, 'docs', 'results.json'))),
  md: path.resolve(arg('md', path.join(root, 'docs', 'results.md'))),
};
if (!['all', 'pretrain', 'downstream', 'report'].includes(opts.stage)) {
  throw new Error(`--stage must be all, pretrain, downstream or report, got '${opts.stage}'`);
}
for (const e of opts.evals) if (!EVALS[e]) throw new Error(`--evals: unknown evaluation '${e}' (${Object.keys(EVALS).join(', ')})`);

const O = (...p) => path.join(opts.out, ...p);
const runDir = (method, seed) => path.join(opts.pretrainRoot, `${method}-s${seed}-blr${BASE_LR}`);
const ckpt = (method, seed) => path.join(runDir(method, seed), 'checkpoints', `ckpt-${String(PRETRAIN_STEPS).padStart(8, '0')}.json`);
const rel = (p) => path.relative(root, p) || '.';

function initArgs(init, seed) {
  return init === 'random' ? ['--init', 'random', '--set', `model.baseWidth=${WIDTH}`, '--set', `seed=${seed}`] : ['--init', rel(ckpt(init, seed))];
}

function evalArgs(kind, init, seed, dir, initArgv = initArgs(init, seed)) {
  const base = [...initArgv, '--out', rel(dir)];
  const resume = () => (fs.existsSync(path.join(dir, 'checkpoints')) ? ['--resume'] : []);
  switch (kind) {
    case 'box':
      return ['eval', 'box-probe', ...base];
    case 'dense':
      return ['eval', 'dense-probe', ...base];
    case 'linear':
      return ['eval', 'linear', ...base];
    case 'few':
      return ['eval', 'detection', ...base, '--seed', String(seed), '--labels', String(FEW.labels), '--steps', String(FEW.steps), '--lr-sweep', FEW.lrs, '--sweep-steps', String(FEW.sweepSteps), ...resume()];
    case 'frozen':
      return ['eval', 'detection', ...base, '--seed', String(seed), '--freeze-backbone', ...resume()];
    case 'detection':
      return ['eval', 'detection', ...base, '--seed', String(seed), ...resume()];
    default:
      throw new Error(`unknown evaluation ${kind}`);
  }
}

/** The commands, each { name, cmd, args(), env, done(), deps, after? }. */
function plan() {
  const jobs = [];
  for (const seed of opts.seeds) {
    for (const method of METHODS) {
      jobs.push({
        name: `pretrain-${method}-s${seed}`,
        cmd: 'bash',
        args: () => [path.join(root, 'experiments', 'regime', 'run.sh'), method, String(seed), BASE_LR],
        env: { REGIME_OUT: opts.pretrainRoot },
        done: () => fs.existsSync(ckpt(method, seed)),
        deps: [],
        pretrain: true,
      });
    }
    for (const kind of opts.evals) {
      for (const init of INITS) {
        const dir = O(kind, `${init}-s${seed}`);
        jobs.push({
          name: `${kind}-${init}-s${seed}`,
          cmd: 'scrl',
          args: () => evalArgs(kind, init, seed, dir),
          done: () => fs.existsSync(path.join(dir, 'metrics.json')),
          deps: init === 'random' ? [] : [`pretrain-${init}-s${seed}`],
          // A finished fine-tuning's checkpoints are only for resuming it: drop them.
          after: () => fs.rmSync(path.join(dir, 'checkpoints'), { recursive: true, force: true }),
        });
      }
    }
  }
  // Seed by seed (a whole seed's row gives an early read), pretraining first, cheap evaluations first.
  const order = ['pretrain', ...Object.keys(EVALS)];
  const rank = (j) => opts.seeds.indexOf(Number(/-s(\d+)$/.exec(j.name)[1])) * 100 + order.indexOf(j.name.split('-')[0]);
  return jobs.sort((a, b) => rank(a) - rank(b));
}

function fmt(ms) {
  const s = Math.round(ms / 1000);
  return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
}

function quote(a) {
  return /^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`;
}

function commandLine(job) {
  const env = Object.entries(job.env ?? {}).map(([k, v]) => `${k}=${quote(rel(v))} `).join('');
  const args = job.args().map((a) => (a.startsWith(root) ? rel(a) : a));
  return `${env}${job.cmd === 'bash' ? 'bash' : 'scrl'} ${args.map(quote).join(' ')}`;
}

/** logs/<name>.running: the pid of the command running a job, while it runs. */
const markerOf = (job) => O('logs', `${job.name}.running`);

/**
 * The pid of a live command that runs `job` for another results.js (or one whose results.js was
 * stopped while its command went on), or null. A marker whose process is gone is stale.
 */
function busyElsewhere(job) {
  let pid;
  try {
    pid = JSON.parse(fs.readFileSync(markerOf(job), 'utf8')).pid;
    process.kill(pid, 0);
  } catch {
    return null;
  }
  // A recycled pid: on Linux, the command line must be one of ours.
  const cmdline = `/proc/${pid}/cmdline`;
  if (fs.existsSync('/proc/self/cmdline') && !(fs.existsSync(cmdline) && /scrl|run\.sh/.test(fs.readFileSync(cmdline, 'utf8')))) return null;
  return pid;
}

function runJob(job) {
  fs.mkdirSync(O('logs'), { recursive: true });
  const log = fs.openSync(O('logs', `${job.name}.log`), 'a');
  fs.writeSync(log, `$ ${commandLine(job)}\n`);
  const [exe, argv] = job.cmd === 'bash' ? ['bash', job.args()] : [process.execPath, [scrlBin, ...job.args()]];
  return new Promise((resolve) => {
    const child = spawn(exe, argv, { cwd: root, stdio: ['ignore', log, log], env: { ...process.env, SCRL_BACKEND: process.env.SCRL_BACKEND ?? 'wasm', ...job.env } });
    if (child.pid) fs.writeFileSync(markerOf(job), `${JSON.stringify({ pid: child.pid, started: new Date().toISOString(), by: process.pid })}\n`);
    child.on('close', (code, signal) => {
      fs.closeSync(log);
      fs.rmSync(markerOf(job), { force: true });
      resolve(code === 0 ? null : `exit ${code ?? signal}`);
    });
  });
}

async function runAll(jobs) {
  const state = new Map(); // name -> 'done' | 'failed' | 'running' | 'waiting'
  for (const j of jobs) if (j.done()) state.set(j.name, 'done');
  const runnable = (j) => (opts.stage === 'pretrain' ? j.pretrain : opts.stage === 'downstream' ? !j.pretrain : true);
  // Jobs this stage will not run stay as they are: their dependants wait for a later call.
  for (const j of jobs) if (!state.has(j.name) && !runnable(j)) state.set(j.name, 'waiting');
  const todo = jobs.filter((j) => !state.has(j.name));
  const total = todo.length;
  console.log(`[results] ${jobs.length - total} of ${jobs.length} commands done or left to another stage; ${total} to run with ${opts.jobs} at a time (${rel(opts.out)})`);
  if (opts.dryRun) {
    for (const j of todo) console.log(commandLine(j));
    return [];
  }
  const started = Date.now();
  let finished = 0;
  const failures = [];
  await new Promise((resolveAll) => {
    let running = 0;
    const byName = new Map(jobs.map((j) => [j.name, j]));
    const noted = new Set(); // jobs reported as running elsewhere
    const pump = () => {
      // A dependency left to another stage may have finished meanwhile (a run going on elsewhere).
      for (const [name, st] of state) if (st === 'waiting' && byName.get(name).done()) state.set(name, 'done');
      for (const j of todo) {
        if (running >= opts.jobs) break;
        if (state.has(j.name)) continue;
        const failed = j.deps.find((d) => state.get(d) === 'failed');
        if (failed) {
          state.set(j.name, 'failed');
          failures.push(`${j.name}: skipped, it needs ${failed} which failed`);
          finished++;
          continue;
        }
        const waiting = j.deps.find((d) => state.get(d) === 'waiting');
        if (waiting && !opts.wait) {
          state.set(j.name, 'waiting');
          console.log(`[results] later: ${j.name} (needs ${waiting}, which is not finished and not run in this stage)`);
          finished++;
          continue;
        }
        if (!j.deps.every((d) => state.get(d) === 'done')) continue;
        if (j.done()) {
          // Finished meanwhile by a command of another results.js.
          state.set(j.name, 'done');
          finished++;
          continue;
        }
        const other = busyElsewhere(j);
        if (other) {
          if (!noted.has(j.name)) console.log(`[results] ${j.name} is running elsewhere (pid ${other}, ${rel(markerOf(j))}); ${opts.wait ? 'waiting for it' : 'left to it'}`);
          noted.add(j.name);
          if (!opts.wait) {
            state.set(j.name, 'waiting');
            finished++;
          }
          continue;
        }
        state.set(j.name, 'running');
        running++;
        const t0 = Date.now();
        console.log(`[results] start ${j.name}: ${commandLine(j)}`);
        runJob(j).then((err) => {
          running--;
          finished++;
          if (err || !j.done()) {
            state.set(j.name, 'failed');
            failures.push(`${j.name}: ${err ?? 'finished without its output'} (see ${rel(O('logs', `${j.name}.log`))})`);
            console.log(`[results] FAILED ${j.name} after ${fmt(Date.now() - t0)}: see ${rel(O('logs', `${j.name}.log`))}`);
          } else {
            state.set(j.name, 'done');
            j.after?.();
            console.log(`[results] done ${j.name} in ${fmt(Date.now() - t0)} (${finished}/${total}, ${fmt(Date.now() - started)} elapsed)`);
            if (!j.pretrain) report(false);
          }
          pump();
        });
      }
      if (running === 0 && todo.every((j) => ['done', 'failed', 'waiting'].includes(state.get(j.name)))) resolveAll();
      else if (running === 0 && opts.wait && todo.some((j) => !state.has(j.name) && (j.deps.some((d) => state.get(d) === 'waiting') || busyElsewhere(j)))) {
        // --wait: poll for the runs going on elsewhere.
        setTimeout(pump, 60_000);
      } else if (running === 0) {
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

const round1 = (x) => (Number.isFinite(x) ? Math.round(1000 * x) / 10 : null);

/** The value in % of one finished evaluation, or null. */
function valueOf(kind, m) {
  if (!m) return null;
  if (kind === 'box') return round1(m.result?.top1);
  if (kind === 'dense') return round1(m.result?.miou);
  if (kind === 'linear') return round1(m.stats?.top1 ?? m.result?.top1);
  return round1(m.stats?.AP);
}

function stats(values) {
  const v = values.filter((x) => Number.isFinite(x));
  if (v.length === 0) return { n: 0, mean: NaN, sd: NaN };
  const mean = v.reduce((a, b) => a + b, 0) / v.length;
  const sd = v.length > 1 ? Math.sqrt(v.reduce((a, b) => a + (b - mean) ** 2, 0) / (v.length - 1)) : NaN;
  return { n: v.length, mean, sd };
}

const f1 = (x) => (Number.isFinite(x) ? x.toFixed(1).replace(/^-0\.0$/, '0.0') : 'n/a');
const cell = (s) => (s.n === 0 ? 'n/a' : s.n === 1 ? `${f1(s.mean)} (1 seed)` : `${f1(s.mean)} ± ${f1(s.sd)}`);

/**
 * The seeds of the report: those asked for and every seed with a finished evaluation in the
 * output folder, so that a runner started for some seeds or evaluations still writes the whole
 * report.
 */
function reportSeeds() {
  const seeds = new Set(opts.seeds);
  for (const kind of Object.keys(EVALS)) {
    let names = [];
    try {
      names = fs.readdirSync(O(kind));
    } catch {
      continue; // no evaluation of this kind yet
    }
    for (const name of names) {
      const m = /^(random|byol|scrl)-s(\d+)$/.exec(name);
      if (m && fs.existsSync(O(kind, name, 'metrics.json'))) seeds.add(Number(m[2]));
    }
  }
  return [...seeds].sort((a, b) => a - b);
}

/** docs/results.json: { <key>: { random: { <metric>: [per seed] }, byol, scrl }, ... } plus what made it. */
function collect() {
  const seeds = reportSeeds();
  const results = {
    seeds,
    units: 'percent; arrays hold one entry per seed, in the order of "seeds"; null: not run yet',
    generatedBy: `node tools/experiments/results.js --stage report${seeds.join(',') === '0,1,2' ? '' : ` --seeds ${seeds.join(',')}`}`,
    protocol: {
      pretraining: `experiments/regime/run.sh METHOD SEED ${BASE_LR}: ResNet-18 small-input width ${WIDTH}, 32 px views, batch 64, LARS base lr ${BASE_LR}, EMA 0.99, ${PRETRAIN_STEPS} steps, 4000 unlabelled 64 px scenes; evaluated at step ${PRETRAIN_STEPS}`,
      random: `scrl --init random --set model.baseWidth=${WIDTH} --set seed=SEED: the pretraining runs' starting weights`,
      evaluations: Object.fromEntries(Object.keys(EVALS).map((k) => [EVALS[k].key, `scrl ${evalArgs(k, 'INIT', 'SEED', O(k, 'INIT-sSEED'), ['--init', 'INIT']).filter((a) => a !== '--resume').join(' ')}`])),
    },
  };
  for (const kind of Object.keys(EVALS)) {
    const { key, metric } = EVALS[kind];
    results[key] = {};
    for (const init of INITS) {
      const ms = seeds.map((s) => readJson(O(kind, `${init}-s${s}`, 'metrics.json')));
      results[key][init] = { [metric]: ms.map((m) => valueOf(kind, m)) };
      if (kind === 'few') results[key][init].lr = ms.map((m) => m?.config?.lr ?? null);
    }
  }
  return results;
}

const PAIRS = [
  ['byol', 'random'],
  ['scrl', 'random'],
  ['scrl', 'byol'],
];

/** One evaluation's seeds with all three inits, their paired differences and the ordering. */
function summarise(results, kind) {
  const { key, metric } = EVALS[kind];
  const per = results[key];
  const seeds = results.seeds;
  const done = seeds.filter((_, i) => INITS.every((init) => per[init][metric][i] !== null));
  const idx = done.map((s) => seeds.indexOf(s));
  const diffs = PAIRS.map(([a, b]) => ({ a, b, d: idx.map((i) => per[a][metric][i] - per[b][metric][i]) }));
  const ordered = idx.filter((i) => per.random[metric][i] < per.byol[metric][i] && per.byol[metric][i] < per.scrl[metric][i]).length;
  const means = INITS.map((init) => ({ init, m: stats(idx.map((i) => per[init][metric][i])).mean }));
  return { per, metric, done, diffs, ordered, means };
}

function render(results) {
  const lines = [
    '# Results: random init vs BYOL vs SCRL',
    '',
    `Generated by \`${results.generatedBy}\` from the evaluations in [experiments/results](../experiments/results) (their commands are in its \`logs/\`); the numbers are in [results.json](results.json). Do not edit by hand: the narrative, with the experiments behind it, is in [experiments/results/README.md](../experiments/results/README.md).`,
    '',
    `Pretraining: ${results.protocol.pretraining}. Random init: ${results.protocol.random}. Every figure is in %; a seed is one pretraining run per method plus the evaluations seeded with it, so differences are paired by seed. Mean ± sample standard deviation over the seeds that finished.`,
    '',
    '## At a glance',
    '',
    'Means over the seeds with all three initialisations; a paired difference is followed by the number of those seeds where it is above 0.',
    '',
    '| evaluation | seeds | random | BYOL | SCRL | BYOL − random | SCRL − random | SCRL − BYOL | random < BYOL < SCRL |',
    '|---|---:|---:|---:|---:|---:|---:|---:|---:|',
  ];
  const summaries = Object.fromEntries(Object.keys(EVALS).map((kind) => [kind, summarise(results, kind)]));
  for (const kind of Object.keys(EVALS)) {
    const { done, diffs, ordered, means } = summaries[kind];
    const name = EVALS[kind].title;
    if (done.length === 0) {
      lines.push(`| ${name} | 0 | n/a | n/a | n/a | n/a | n/a | n/a | n/a |`);
      continue;
    }
    const m = (init) => f1(means.find((x) => x.init === init).m);
    const d = diffs.map(({ d: v }) => `${f1(stats(v).mean)} (${v.filter((x) => x > 0).length}/${v.length})`);
    lines.push(`| ${name} | ${done.length} | ${m('random')} | ${m('byol')} | ${m('scrl')} | ${d.join(' | ')} | ${ordered} of ${done.length} |`);
  }
  lines.push('');
  const seeds = results.seeds;
  for (const kind of Object.keys(EVALS)) {
    const { key, title } = EVALS[kind];
    const { per, metric, done, diffs, ordered, means } = summaries[kind];
    lines.push(`## ${title}`, '');
    lines.push(`Command: \`${results.protocol.evaluations[key]}\``, '');
    lines.push(`| init | mean ± sd | ${seeds.map((s) => `seed ${s}`).join(' | ')} |`);
    lines.push(`|---|---:|${seeds.map(() => '---:').join('|')}|`);
    for (const init of INITS) {
      const v = per[init][metric];
      const lr = kind === 'few' ? per[init].lr : null;
      lines.push(`| ${LABEL[init]} | ${cell(stats(v))} | ${v.map((x, i) => (x === null ? 'not run' : `${f1(x)}${lr && lr[i] !== null ? ` (lr ${lr[i]})` : ''}`)).join(' | ')} |`);
    }
    lines.push('');
    if (done.length === 0) {
      lines.push('No seed has all three initialisations yet.', '');
      continue;
    }
    lines.push(`Paired differences over the ${done.length} seed(s) with all three (${done.join(', ')}):`, '');
    lines.push('| difference | mean ± sd | seeds where > 0 |');
    lines.push('|---|---:|---:|');
    for (const { a, b, d } of diffs) lines.push(`| ${LABEL[a]} − ${LABEL[b]} | ${cell(stats(d))} | ${d.filter((x) => x > 0).length} of ${d.length} |`);
    const sorted = [...means].sort((x, y) => x.m - y.m);
    lines.push('');
    lines.push(`Ordering by mean: ${sorted.map((x) => `${LABEL[x.init]} ${f1(x.m)}`).join(' < ')}. random < BYOL < SCRL holds in ${ordered} of ${done.length} seed(s).`, '');
  }
  return lines.join('\n');
}

function report(print = true) {
  const results = collect();
  fs.writeFileSync(opts.json, JSON.stringify(results, null, 1) + '\n');
  const md = render(results);
  fs.writeFileSync(opts.md, md + '\n');
  if (print) {
    console.log(md);
    console.log(`[results] wrote ${rel(opts.json)} and ${rel(opts.md)}`);
  }
}

async function main() {
  let failures = [];
  if (opts.stage !== 'report') failures = await runAll(plan());
  if (!opts.dryRun) report();
  if (failures.length) {
    console.error(`[results] ${failures.length} command(s) failed:\n  ${failures.join('\n  ')}`);
    process.exitCode = 1;
  }
}

main().catch((e) => {
  console.error(e.stack ?? String(e));
  process.exit(1);
});
