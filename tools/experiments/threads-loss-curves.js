#!/usr/bin/env node
/**
 * The loss curves of `scrl pretrain --threads 1` and `--threads 2` (same seed, same data, same
 * schedule), side by side: the 2-thread run is not the 1-thread run bit for bit (float rounding
 * with synchronised BatchNorm, more with per-replica statistics), so this shows how far apart
 * the curves are (docs/backends.md).
 *
 *   npm run build && node tools/experiments/threads-loss-curves.js [--steps 50] [--method scrl]
 *       [--every 5] [--out DIR] [--cache DIR] [--markdown] [--other-seed]
 *
 * Runs the `cpu` preset (ResNet-18 width 8, 32 px views, batch 32) on the built-in scenes with
 * the wasm backend and `--set schedule.steps=STEPS`, one run after the other. --other-seed adds a
 * third run, 1 thread with seed 1, as a yardstick: how far two equally valid runs are apart.
 */
'use strict';
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { readMetrics } = require('@scrl/trainer');

const BIN = path.join(__dirname, '..', '..', 'packages', 'cli', 'bin', 'scrl.js');

function parseArgs(argv) {
  const o = { steps: 50, method: 'scrl', every: 5, out: null, cache: null, markdown: false, otherSeed: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const next = () => {
      if (i + 1 >= argv.length) throw new Error(`threads-loss-curves: ${a} needs a value`);
      return argv[++i];
    };
    if (a === '--steps') o.steps = Number(next());
    else if (a === '--method') o.method = next();
    else if (a === '--every') o.every = Number(next());
    else if (a === '--out') o.out = next();
    else if (a === '--cache') o.cache = next();
    else if (a === '--markdown') o.markdown = true;
    else if (a === '--other-seed') o.otherSeed = true;
    else throw new Error(`threads-loss-curves: unknown argument '${a}' (see the header of tools/experiments/threads-loss-curves.js)`);
  }
  if (!Number.isInteger(o.steps) || o.steps < 1) throw new Error(`threads-loss-curves: --steps must be a positive integer, got ${o.steps}`);
  return o;
}

function run(o, threads, dir, seed = 0) {
  const out = path.join(dir, `threads-${threads}-seed-${seed}`);
  fs.rmSync(out, { recursive: true, force: true });
  const args = [BIN, 'pretrain', '--out', out, '--preset', 'cpu', '--method', o.method, '--backend', 'wasm', '--threads', String(threads),
    '--set', `schedule.steps=${o.steps}`, '--set', `seed=${seed}`, '--checkpoint-every', String(o.steps)];
  if (o.cache) args.push('--cache', o.cache);
  const t0 = Date.now();
  const r = spawnSync(process.execPath, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  if (r.status !== 0) throw new Error(`scrl pretrain --threads ${threads} failed (exit ${r.status}):\n${r.stderr}`);
  const bn = /BatchNorm statistics: (.*)/.exec(r.stderr);
  return { rows: readMetrics(path.join(out, 'metrics.jsonl')), seconds: (Date.now() - t0) / 1000, batchNorm: bn ? bn[1] : 'one thread' };
}

function main() {
  const o = parseArgs(process.argv.slice(2));
  const dir = o.out ?? fs.mkdtempSync(path.join(os.tmpdir(), 'scrl-threads-'));
  const load = os.loadavg().map((l) => l.toFixed(2)).join(' ');
  const one = run(o, 1, dir);
  const two = run(o, 2, dir);
  const other = o.otherSeed ? run(o, 1, dir, 1) : null;
  const diffs = one.rows.map((r, i) => Math.abs(r.loss - two.rows[i].loss));
  const mean = (xs) => xs.reduce((a, b) => a + b, 0) / xs.length;
  const lastK = Math.min(10, o.steps);
  const lines = [];
  const bar = o.markdown ? '|' : ' ';
  lines.push(`${bar} step ${bar} loss, 1 thread ${bar} loss, 2 threads ${bar} difference ${bar}`);
  if (o.markdown) lines.push('|---:|---:|---:|---:|');
  for (let i = 0; i < one.rows.length; i++) {
    const step = one.rows[i].step;
    if (step !== 1 && step % o.every !== 0) continue;
    lines.push(`${bar} ${step} ${bar} ${one.rows[i].loss.toFixed(4)} ${bar} ${two.rows[i].loss.toFixed(4)} ${bar} ${(two.rows[i].loss - one.rows[i].loss).toFixed(4)} ${bar}`);
  }
  console.log(`${o.method}, cpu preset, ${o.steps} steps, wasm; load average at start ${load}; runs in ${dir}`);
  console.log(`1 thread: ${one.seconds.toFixed(1)} s; 2 threads: ${two.seconds.toFixed(1)} s (BatchNorm statistics ${two.batchNorm})`);
  console.log(lines.join('\n'));
  console.log(
    `mean |difference| over all steps ${mean(diffs).toFixed(4)}, max ${Math.max(...diffs).toFixed(4)}; ` +
      `mean loss of the last ${lastK} steps: 1 thread ${mean(one.rows.slice(-lastK).map((r) => r.loss)).toFixed(4)}, ` +
      `2 threads ${mean(two.rows.slice(-lastK).map((r) => r.loss)).toFixed(4)}`,
  );
  if (other) {
    const d = one.rows.map((r, i) => Math.abs(r.loss - other.rows[i].loss));
    console.log(
      `yardstick, 1 thread with seed 1 against seed 0: mean |difference| ${mean(d).toFixed(4)}, max ${Math.max(...d).toFixed(4)}; ` +
        `mean loss of the last ${lastK} steps ${mean(other.rows.slice(-lastK).map((r) => r.loss)).toFixed(4)}`,
    );
  }
}

main();
