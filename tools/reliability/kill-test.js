#!/usr/bin/env node
/**
 * Killed anywhere, nothing lost: starts `scrl pretrain` (or `scrl eval detection`) at a tiny
 * size, SIGKILLs it at random moments, resumes it with `--resume` each time, and checks:
 *
 *   - every resume succeeds (the process either runs on or is killed again; no other exit);
 *   - at most one checkpoint interval is lost: the resumed step is >= the last step in
 *     metrics.jsonl before the kill minus `--checkpoint-every`;
 *   - every checkpoint present after a kill reads and verifies (sidecar, size, sha256): none is
 *     half-written or inconsistent with its sidecar;
 *   - metrics.jsonl has each step exactly once (1..N in order) with the same losses as an
 *     uninterrupted run, and
 *   - the final weights (the last checkpoint's safetensors) are bit-identical to those of an
 *     uninterrupted run with the same seed on the same backend.
 *
 * The moments: a timer at a random time (start-up, a step, a checkpoint write, whatever is
 * running), or one of the trainer's crash points (`SCRL_CRASH_AT`, packages/trainer/src/
 * crash-points.ts): inside a step, after a metrics line, half-way through a checkpoint's tensor
 * file or sidecar, between the tensor file and its sidecar, while pruning old checkpoints, or
 * while metrics.jsonl is rewritten on resume.
 *
 *   node tools/reliability/kill-test.js [pretrain|detection|all] [--kills 20] [--seed S] [--keep DIR] [--threads 1]
 *
 * --threads N runs `scrl pretrain --threads N` (default 1: the step in the main thread).
 *
 * Prints one line per kill and a summary; exits 0 when every check passes, 1 otherwise. Run in
 * CI by packages/cli/src/kill.e2e.test.ts. Needs the build (dist/).
 */
'use strict';
const { spawn } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const ROOT = path.join(__dirname, '..', '..');
const BIN = path.join(ROOT, 'packages', 'cli', 'bin', 'scrl.js');
const { readCheckpoint, listCheckpoints, readMetrics } = require('@scrl/trainer');
// Mulberry32: the kill schedule replays from the printed seed.
const { mulberry32 } = require('@scrl/util');

function parseArgs(argv) {
  const opts = { target: 'all', kills: 20, seed: Date.now() % 100000, keep: null, threads: 1 };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--kills') opts.kills = Number(argv[++i]);
    else if (a === '--seed') opts.seed = Number(argv[++i]);
    else if (a === '--keep') opts.keep = argv[++i];
    else if (a === '--threads') opts.threads = Number(argv[++i]);
    else if (['pretrain', 'detection', 'all'].includes(a)) opts.target = a;
    else throw new Error(`kill-test: unknown argument '${a}'. Usage: kill-test.js [pretrain|detection|all] [--kills N] [--seed S] [--keep DIR] [--threads N]`);
  }
  if (!Number.isInteger(opts.kills) || opts.kills < 1) throw new Error('kill-test: --kills must be an integer >= 1');
  if (!Number.isInteger(opts.threads) || opts.threads < 1) throw new Error('kill-test: --threads must be an integer >= 1');
  return opts;
}

/** Runs bin/scrl.js; `killAfterMs` SIGKILLs it from outside after that long. */
function scrl(args, { cwd, env = {}, killAfterMs = null }) {
  return new Promise((resolve) => {
    const started = Date.now();
    const child = spawn(process.execPath, [BIN, ...args], { cwd, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    let stdout = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    let firstCheckpointMs = null;
    child.stderr.on('data', () => {
      if (firstCheckpointMs === null && /\[scrl\] checkpoint: step/.test(stderr)) firstCheckpointMs = Date.now() - started;
    });
    const timer = killAfterMs === null ? null : setTimeout(() => child.kill('SIGKILL'), killAfterMs);
    child.on('exit', (code, signal) => {
      if (timer) clearTimeout(timer);
      resolve({ code, signal, stderr, stdout, ms: Date.now() - started, firstCheckpointMs });
    });
  });
}

const TINY_MODEL = ['model.baseWidth=4', 'views.size=16', 'batch.size=4', 'model.projector.hiddenDim=32', 'model.projector.outDim=16', 'model.predictor.hiddenDim=32'];
const sets = (kvs) => kvs.flatMap((kv) => ['--set', kv]);

/** What each command needs: its arguments, its step count and checkpoint interval. */
function jobs(scenes, threads) {
  return {
    pretrain: {
      steps: 48,
      every: 4,
      keep: 2,
      args: (out) => [
        'pretrain', '--data', path.join(scenes, 'images'), '--out', out, ...sets([...TINY_MODEL, 'schedule.steps=48', 'schedule.warmupSteps=5', 'checkpoint.keep=2']),
        '--checkpoint-every', '4', '--workers', '0', '--backend', 'wasm', '--threads', String(threads),
      ],
      crashPoints: ['step', 'after-metrics', 'checkpoint-tensors', 'checkpoint-between', 'checkpoint-sidecar', 'checkpoint-prune', 'metrics-truncate'],
    },
    detection: {
      steps: 40,
      every: 4,
      keep: 2,
      args: (out) => [
        'eval', 'detection', '--data', scenes, '--out', out, '--init', 'random', ...sets(['model.baseWidth=4']),
        '--steps', '40', '--batch-size', '2', '--image-size', '32', '--checkpoint-every', '4', '--backend', 'wasm',
      ],
      // The detection step runs in @scrl/eval (no crash point inside it): the timer covers it.
      crashPoints: ['after-metrics', 'checkpoint-tensors', 'checkpoint-between', 'checkpoint-sidecar', 'checkpoint-prune', 'metrics-truncate'],
    },
  };
}

function metricsSteps(out) {
  const file = path.join(out, 'metrics.jsonl');
  return fs.existsSync(file) ? readMetrics(file) : [];
}

/** Every sidecar in the folder reads and verifies; returns the steps present. */
function verifyCheckpoints(out, failures, label) {
  const steps = [];
  for (const entry of listCheckpoints(path.join(out, 'checkpoints'))) {
    try {
      readCheckpoint(entry.path);
      steps.push(entry.step);
    } catch (err) {
      failures.push(`${label}: checkpoint ${entry.path} is broken: ${err.message}`);
    }
  }
  return steps;
}

/** metrics.jsonl holds steps 1..M once each, in order (a torn last line is ignored by readers). */
function checkMetricsContiguous(records, failures, label) {
  for (let i = 0; i < records.length; i++) {
    if (records[i].step !== i + 1) {
      failures.push(`${label}: metrics.jsonl line ${i + 1} is step ${records[i].step}, expected ${i + 1} (steps: ${records.map((r) => r.step).join(',')})`);
      return;
    }
  }
}

async function runJob(name, job, work, opts, random) {
  const failures = [];
  const log = (line) => console.log(`[kill-test ${name}] ${line}`);
  const reference = path.join(work, `${name}-reference`);
  const ref = await scrl(job.args(reference), { cwd: work });
  if (ref.code !== 0) throw new Error(`${name}: the uninterrupted run failed (exit ${ref.code}):\n${ref.stderr.slice(-2000)}`);
  const refMetrics = metricsSteps(reference);
  const finalName = `ckpt-${String(job.steps).padStart(8, '0')}.safetensors`;
  const refFinal = fs.readFileSync(path.join(reference, 'checkpoints', finalName));
  // Start-up and step time, from when the first checkpoint appeared.
  const msPerStep = (ref.ms - (ref.firstCheckpointMs ?? 0)) / (job.steps - job.every);
  const startupMs = Math.max(200, (ref.firstCheckpointMs ?? 0) - job.every * msPerStep);
  log(`uninterrupted run: ${job.steps} steps in ${(ref.ms / 1000).toFixed(1)} s (start-up ${(startupMs / 1000).toFixed(1)} s, ${msPerStep.toFixed(0)} ms per step)`);

  const out = path.join(work, `${name}-killed`);
  const modes = { timer: 0 };
  let kills = 0;
  let launches = 0;
  let maxLost = 0;
  let done = false;
  while (!done) {
    const before = metricsSteps(out);
    const lastBefore = before.length ? before[before.length - 1].step : 0;
    const ckptSteps = listCheckpoints(path.join(out, 'checkpoints')).map((c) => c.step);
    const newest = ckptSteps.length ? ckptSteps[0] : 0;
    const remaining = job.steps - newest;
    let env = {};
    let killAfterMs = null;
    let mode = 'none';
    if (kills < opts.kills) {
      // Near the end only the moments that are sure to come before the run completes.
      const allowed = job.crashPoints.filter((p) => {
        if (p === 'metrics-truncate') return newest > 0 && before.length > 0;
        if (p === 'checkpoint-prune') return ckptSteps.length >= job.keep && remaining > 2 * job.every;
        if (p.startsWith('checkpoint-')) return remaining > 2 * job.every;
        return remaining > job.every;
      });
      if (remaining > 3 * job.every) allowed.push('timer', 'timer');
      if (allowed.length === 0) allowed.push(job.crashPoints.includes('step') ? 'step' : 'after-metrics');
      mode = allowed[Math.floor(random() * allowed.length)];
      if (mode === 'timer') {
        // Anywhere from the middle of start-up to two checkpoint intervals in.
        killAfterMs = Math.round(startupMs / 2 + random() * (startupMs / 2 + 2 * job.every * msPerStep));
        mode = `timer ${killAfterMs} ms`;
        modes.timer += 1;
      } else {
        const n = mode.startsWith('checkpoint-') && mode !== 'checkpoint-prune' ? 1 + Math.floor(random() * 2) : mode === 'step' || mode === 'after-metrics' ? 1 + Math.floor(random() * job.every) : 1;
        env = { SCRL_CRASH_AT: `${mode}:${n}` };
        modes[mode] = (modes[mode] ?? 0) + 1;
        mode = `${mode}:${n}`;
      }
    }
    launches += 1;
    const r = await scrl([...job.args(out), '--resume'], { cwd: work, env, killAfterMs });
    const label = `launch ${launches} (${mode})`;
    const resumed = /resumed from .* \(step (\d+)/.exec(r.stderr);
    const fresh = /--resume: no valid checkpoint/.test(r.stderr);
    const resumedAt = resumed ? Number(resumed[1]) : fresh ? 0 : null;
    if (resumedAt !== null) {
      const lost = lastBefore - resumedAt;
      maxLost = Math.max(maxLost, lost);
      if (lost > job.every) failures.push(`${label}: resumed at step ${resumedAt} but metrics reached step ${lastBefore}: ${lost} steps lost, more than one checkpoint interval (${job.every})`);
    }
    if (r.signal === 'SIGKILL') {
      kills += 1;
    } else if (r.code === 0) {
      done = true;
    } else {
      failures.push(`${label}: exited with ${r.code ?? r.signal} instead of running or being killed:\n${r.stderr.slice(-1500)}`);
      break;
    }
    const present = verifyCheckpoints(out, failures, label);
    const records = metricsSteps(out);
    if (!done) checkMetricsContiguous(records, failures, label);
    log(
      `${label}: ${r.signal === 'SIGKILL' ? 'killed' : 'completed'} after ${(r.ms / 1000).toFixed(1)} s; resumed at ${resumedAt ?? '-'}; ` +
        `metrics to step ${records.length ? records[records.length - 1].step : 0}; checkpoints [${present.join(', ')}]`,
    );
    if (failures.length > 0) break;
    if (launches > opts.kills * 3 + 10) {
      failures.push(`${name}: no completion after ${launches} launches`);
      break;
    }
  }
  if (failures.length === 0) {
    if (kills < opts.kills) failures.push(`${name}: the run completed after ${kills} kills, fewer than ${opts.kills}; lengthen the schedule`);
    const records = metricsSteps(out);
    const steps = records.map((r) => r.step);
    const expected = Array.from({ length: job.steps }, (_, i) => i + 1);
    if (steps.join(',') !== expected.join(',')) failures.push(`${name}: metrics.jsonl steps are [${steps.join(',')}], expected 1..${job.steps} once each`);
    const differing = records.filter((r, i) => !refMetrics[i] || r.loss !== refMetrics[i].loss).map((r) => r.step);
    if (differing.length > 0) failures.push(`${name}: the loss differs from the uninterrupted run at steps ${differing.slice(0, 10).join(', ')}`);
    const final = fs.readFileSync(path.join(out, 'checkpoints', finalName));
    if (!final.equals(refFinal)) failures.push(`${name}: the final weights (${finalName}) differ from the uninterrupted run's`);
  }
  log(
    `${failures.length === 0 ? 'PASS' : 'FAIL'}: ${kills} kills (${Object.entries(modes).map(([k, v]) => `${k} ${v}`).join(', ')}), ` +
      `${launches} launches, at most ${maxLost} steps lost (interval ${job.every})${failures.length === 0 ? ', final weights bit-identical' : ''}`,
  );
  return failures;
}

async function main() {
  const opts = parseArgs(process.argv.slice(2));
  const work = opts.keep ?? fs.mkdtempSync(path.join(os.tmpdir(), 'scrl-kill-'));
  fs.mkdirSync(work, { recursive: true });
  const started = Date.now();
  console.log(`[kill-test] seed ${opts.seed}, ${opts.kills} kills per command, work folder ${work}`);
  try {
    const scenes = path.join(work, 'scenes');
    const gen = await scrl(['data', 'generate', '--out', scenes, '--images', '16', '--size', '32', '--overwrite'], { cwd: work });
    if (gen.code !== 0) throw new Error(`scrl data generate failed:\n${gen.stderr}`);
    const all = jobs(scenes, opts.threads);
    const names = opts.target === 'all' ? ['pretrain', 'detection'] : [opts.target];
    const failures = [];
    for (const [i, name] of names.entries()) failures.push(...(await runJob(name, all[name], work, opts, mulberry32(opts.seed + i))));
    console.log(`[kill-test] ${failures.length === 0 ? 'PASS' : 'FAIL'} in ${((Date.now() - started) / 1000).toFixed(0)} s (seed ${opts.seed})`);
    for (const f of failures) console.log(`  - ${f}`);
    return failures.length === 0 ? 0 : 1;
  } finally {
    if (!opts.keep) fs.rmSync(work, { recursive: true, force: true });
  }
}

main().then(
  (code) => process.exit(code),
  (err) => {
    console.error(err.stack ?? String(err));
    process.exit(1);
  },
);
