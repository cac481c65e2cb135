#!/usr/bin/env node
/**
 * Does resuming a pretraining run reproduce what it logged? For each checkpoint step K given,
 * copies RUN/checkpoints/ckpt-K into a scratch folder with RUN's config.json and the first K
 * lines of its metrics.jsonl, reruns the run's recorded command (config.json `command`) there
 * with --resume --max-steps K+N on this commit, and compares the N new losses with the ones RUN
 * logged for those steps. Prints one line per checkpoint: the largest |difference|, and the
 * commit RUN was last (re)started on. 0 means bit-identical; a difference of about 1e-7 means
 * the logged steps ran on kernels that round differently.
 *
 *   node tools/experiments/resume-check.js --run /work/longruns/byol-s0-blr7.2 --at 250,1000,1750 [--steps 8]
 *        [--scratch runs/resume-check]
 *
 * The recorded command is split on spaces (run folders and data paths with spaces are not
 * supported). Exit code 1 when a rerun fails or logs fewer than N steps.
 */
'use strict';
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');
const { arg, numberArg, intList } = require('../args');

const root = path.join(__dirname, '..', '..');
const scrlBin = path.join(root, 'packages', 'cli', 'bin', 'scrl.js');

/** The rows of a metrics.jsonl: each line's text and its parsed row. */
function readMetrics(file) {
  return fs
    .readFileSync(file, 'utf8')
    .split('\n')
    .filter((line) => line.trim())
    .map((line) => ({ line, row: JSON.parse(line) }));
}

/** step -> loss of a run's metrics rows. */
function losses(rows) {
  const out = new Map();
  for (const { row } of rows) if (typeof row.step === 'number' && typeof row.loss === 'number') out.set(row.step, row.loss);
  return out;
}

/** The recorded command's arguments, with --out replaced and --resume / --max-steps set. */
function rerunArgs(command, out, maxSteps) {
  const words = command.trim().split(/\s+/);
  if (words[0] !== 'scrl' || words[1] !== 'pretrain') throw new Error(`config.json command is not 'scrl pretrain ...': ${command}`);
  const args = [];
  for (let i = 1; i < words.length; i++) {
    if (words[i] === '--out' || words[i] === '--max-steps') i++;
    else if (words[i] !== '--resume') args.push(words[i]);
  }
  return [...args, '--out', out, '--resume', '--max-steps', String(maxSteps)];
}

function main() {
  const run = arg('run');
  if (!run) throw new Error('--run RUN_DIR is required (a scrl pretrain folder with config.json, metrics.jsonl, checkpoints/)');
  const at = intList(arg('at', '1000'));
  const steps = numberArg('steps', 8, { integer: true, min: 1 });
  const scratch = path.resolve(arg('scratch', path.join(root, 'runs', 'resume-check')));
  const config = JSON.parse(fs.readFileSync(path.join(run, 'config.json'), 'utf8'));
  const metrics = readMetrics(path.join(run, 'metrics.jsonl'));
  const logged = losses(metrics);
  let failed = false;
  for (const k of at) {
    const ckpt = `ckpt-${String(k).padStart(8, '0')}`;
    const files = ['.json', '.safetensors'].map((e) => path.join(run, 'checkpoints', ckpt + e));
    const missing = files.filter((f) => !fs.existsSync(f));
    if (missing.length > 0) throw new Error(`no checkpoint at step ${k} in ${run}: ${missing.join(', ')} missing`);
    const dir = path.join(scratch, `${path.basename(run)}-from-${k}`);
    fs.rmSync(dir, { recursive: true, force: true });
    fs.mkdirSync(path.join(dir, 'checkpoints'), { recursive: true });
    fs.copyFileSync(path.join(run, 'config.json'), path.join(dir, 'config.json'));
    for (const f of files) fs.copyFileSync(f, path.join(dir, 'checkpoints', path.basename(f)));
    const head = metrics.filter(({ row }) => row.step <= k).map(({ line }) => line);
    fs.writeFileSync(path.join(dir, 'metrics.jsonl'), head.join('\n') + '\n');
    const args = rerunArgs(config.command, dir, k + steps);
    const res = spawnSync(process.execPath, [scrlBin, ...args], { cwd: root, encoding: 'utf8', env: process.env });
    fs.writeFileSync(dir + '.log', `$ scrl ${args.join(' ')}\n${res.stdout}${res.stderr}`);
    const rerun = losses(readMetrics(path.join(dir, 'metrics.jsonl')));
    const diffs = [];
    for (let s = k + 1; s <= k + steps; s++) if (rerun.has(s) && logged.has(s)) diffs.push(Math.abs(rerun.get(s) - logged.get(s)));
    const ok = res.status === 0 && diffs.length === steps;
    failed ||= !ok;
    const worst = diffs.length ? Math.max(...diffs) : NaN;
    console.log(
      `${path.basename(run)} from step ${k}: ${diffs.length} of ${steps} steps compared, max |loss difference| ${worst.toExponential(2)}` +
        `${worst === 0 ? ' (bit-identical)' : ''}; run last started on ${String(config.commit).slice(0, 7)}${ok ? '' : `; FAILED (exit ${res.status}, log ${dir}.log)`}`,
    );
  }
  process.exit(failed ? 1 : 0);
}

try {
  main();
} catch (err) {
  console.error(`resume-check: ${err.message}`);
  process.exit(1);
}
