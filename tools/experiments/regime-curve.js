#!/usr/bin/env node
/**
 * The regime curve of issue 22 item 1: box-probe top-1 and dense-probe mIoU of the regime runs'
 * checkpoints (experiments/regime/run.sh: BYOL and SCRL, ResNet-18 small-input width 16) against
 * pretraining steps, with random init of the same architecture as step 0. Each point is one
 * `scrl eval box-probe` and one `scrl eval dense-probe` (commands printed and kept in the JSON);
 * finished points are cached in OUT/curve.json, so the same command continues as runs advance.
 *
 *   node tools/experiments/regime-curve.js [--runs byol-s0=DIR,scrl-s0=DIR] [--every 250]
 *        [--out experiments/regime] [--probes box,dense] [--max-new N]
 *
 * --runs: NAME=CHECKPOINTS_DIR (default: experiments/regime/<name>/checkpoints for byol-s0 and
 * scrl-s0); a point is taken at every multiple of --every that has a checkpoint. Writes
 * OUT/curve.json and OUT/curve.md (rendered from it).
 */
'use strict';
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');
const { arg } = require('../args');

const root = path.join(__dirname, '..', '..');
const scrlBin = path.join(root, 'packages', 'cli', 'bin', 'scrl.js');

function probe(kind, init, extra) {
  const out = fs.mkdtempSync(path.join(require('node:os').tmpdir(), `regime-${kind}-`));
  const args = ['eval', `${kind}-probe`, '--init', init, '--out', out, ...extra];
  const t0 = Date.now();
  const r = spawnSync(process.execPath, [scrlBin, ...args], { encoding: 'utf8', cwd: root });
  if (r.status !== 0) throw new Error(`scrl ${args.join(' ')} failed (exit ${r.status}):\n${r.stderr.slice(-2000)}`);
  const m = JSON.parse(fs.readFileSync(path.join(out, 'metrics.json'), 'utf8'));
  fs.rmSync(out, { recursive: true, force: true });
  return { command: `scrl ${args.filter((a) => a !== out && a !== '--out').join(' ')}`, seconds: Math.round((Date.now() - t0) / 1000), result: m.result };
}

function main() {
  const out = arg('out', path.join(root, 'experiments', 'regime'));
  const every = Number(arg('every', '250'));
  const maxNew = Number(arg('max-new', '1000'));
  const probes = arg('probes', 'box,dense').split(',');
  for (const p of probes) if (!['box', 'dense'].includes(p)) throw new Error(`--probes: unknown probe "${p}" (box, dense)`);
  const runs = arg('runs', 'byol-s0,scrl-s0')
    .split(',')
    .map((s) => {
      const [name, dir] = s.includes('=') ? s.split('=') : [s, path.join(root, 'experiments', 'regime', s, 'checkpoints')];
      if (!/^(byol|scrl)-s\d+(-blr[\d.]+)?$/.test(name)) throw new Error(`--runs: "${name}" must be METHOD-sSEED[-blrLR] (byol-s0, scrl-s1-blr7.2, ...)`);
      return { name, dir };
    });
  const file = path.join(out, 'curve.json');
  const curve = fs.existsSync(file) ? JSON.parse(fs.readFileSync(file, 'utf8')) : { points: [] };
  const have = (name, step, kind) => curve.points.some((p) => p.run === name && p.step === step && p.probe === kind);
  const save = () => {
    const rank = (r) => (r === 'random' ? '' : r); // random init (step 0) first
    curve.points.sort((a, b) => rank(a.run).localeCompare(rank(b.run)) || a.step - b.step || a.probe.localeCompare(b.probe));
    fs.writeFileSync(file, JSON.stringify(curve, null, 1) + '\n');
    render(curve, path.join(out, 'curve.md'));
  };
  const todo = [];
  for (const kind of probes) if (!have('random', 0, kind)) todo.push({ run: 'random', step: 0, kind, init: 'random' });
  for (const { name, dir } of runs) {
    if (!fs.existsSync(dir)) {
      console.error(`[curve] ${name}: no checkpoints folder ${dir}; skipped`);
      continue;
    }
    for (const f of fs.readdirSync(dir).filter((n) => /^ckpt-\d{8}\.json$/.test(n)).sort()) {
      const step = Number(f.slice(5, 13));
      if (step % every !== 0) continue;
      for (const kind of probes) if (!have(name, step, kind)) todo.push({ run: name, step, kind, init: path.join(dir, f) });
    }
  }
  let done = 0;
  for (const t of todo.slice(0, maxNew)) {
    // random init of the runs' architecture (the cpu preset at width 16, as run.sh sets it)
    const extra = t.run === 'random' ? ['--set', 'model.baseWidth=16'] : [];
    const r = probe(t.kind, t.init, extra);
    const value = t.kind === 'box' ? { top1: r.result.top1, knnTop1: r.result.knnTop1 } : { miou: r.result.miou };
    curve.points.push({ run: t.run, step: t.step, probe: t.kind, ...value, command: r.command.replace(root + '/', ''), seconds: r.seconds });
    save();
    done += 1;
    console.error(`[curve] ${t.run} step ${t.step} ${t.kind}: ${JSON.stringify(value)} (${r.seconds} s)`);
  }
  save();
  console.error(`[curve] ${done} new point(s), ${todo.length - done} left; ${file}`);
}

function render(curve, file) {
  const fmt = (x) => (x === undefined ? '' : (100 * x).toFixed(1));
  const rows = new Map();
  for (const p of curve.points) {
    const key = `${p.run}\u0000${p.step}`;
    if (!rows.has(key)) rows.set(key, { run: p.run, step: p.step });
    Object.assign(rows.get(key), p.probe === 'box' ? { top1: p.top1, knn: p.knnTop1 } : { miou: p.miou });
  }
  const lines = [
    '# Regime curve: frozen probes against pretraining steps',
    '',
    'Generated by `node tools/experiments/regime-curve.js` (each point: `scrl eval box-probe` and `scrl eval dense-probe` of one',
    'checkpoint of experiments/regime/run.sh, on the evaluation scenes of docs/evaluators.md; the commands are in curve.json).',
    'Step 0 is random init of the same architecture (ResNet-18 small-input, width 16). Do not edit by hand.',
    '',
    '| run | step | box probe logistic top-1 | box probe kNN top-1 | dense probe mIoU |',
    '|---|---:|---:|---:|---:|',
  ];
  for (const r of [...rows.values()]) lines.push(`| ${r.run} | ${r.step} | ${fmt(r.top1)} | ${fmt(r.knn)} | ${fmt(r.miou)} |`);
  fs.writeFileSync(file, lines.join('\n') + '\n');
}

main();
