#!/usr/bin/env node
/**
 * The detection numbers of docs/evaluators.json: `scrl eval detection` with its default schedule
 * (docs/evaluators.md, "Detection") on the built-in scenes, from random init and from a backbone
 * trained with labels on the scenes (the supervised ceiling), same architecture, same seed.
 * Writes (merges) the `detection` key of the JSON file: { "random": AP, "supervised": AP } in %
 * (COCO AP@[.5:.95] on the held-out scenes, one decimal); other keys are left as they are.
 *
 *   node tools/experiments/evaluators-detection.js --supervised FILE.safetensors
 *        [--json docs/evaluators.json] [--out runs/evaluators-detection] [-- extra scrl eval detection flags]
 *
 * The random init takes the supervised file's architecture (depth, stem, width), so the two
 * differ only in their weights. Each run's report folder (report.md, metrics.json) is kept under
 * --out; runs whose metrics.json exists are reused (delete it to rerun), and a run that was
 * stopped part-way resumes from its checkpoints (written every 100 steps).
 */
'use strict';
const fs = require('node:fs');
const path = require('node:path');
const { spawnSync } = require('node:child_process');
const root = path.join(__dirname, '..', '..');
const { readSafetensors, resnetArchitectureOf: architectureOf } = require('@scrl/models');
const { arg } = require('../args');

function main() {
  const supervised = arg('supervised');
  if (!supervised || !fs.existsSync(supervised)) throw new Error('--supervised FILE must name the supervised backbone (torchvision-named .safetensors)');
  const json = arg('json', path.join(root, 'docs', 'evaluators.json'));
  const out = arg('out', path.join(root, 'runs', 'evaluators-detection'));
  const dash = process.argv.indexOf('--');
  const extra = dash >= 0 ? process.argv.slice(dash + 1) : [];
  const file = readSafetensors(fs.readFileSync(supervised));
  const conv1 = file.tensors.get('conv1.weight');
  if (!conv1) throw new Error(`${supervised} has no conv1.weight; pass torchvision-named weights`);
  const arch = architectureOf([...file.tensors.keys()], conv1.shape);
  const archFlags = ['--set', `model.depth=${arch.depth}`, '--set', `model.smallInput=${arch.smallInput}`, '--set', `model.baseWidth=${arch.baseWidth}`];
  const runs = { random: ['--init', 'random', ...archFlags], supervised: ['--init', supervised] };
  const ap = {};
  for (const [name, flags] of Object.entries(runs)) {
    const dir = path.join(out, name);
    const metrics = path.join(dir, 'metrics.json');
    if (!fs.existsSync(metrics)) {
      // A run stopped part-way (its checkpoints are there) continues where it stopped.
      const resume = fs.existsSync(path.join(dir, 'checkpoints')) ? ['--resume'] : [];
      const argv = [path.join(root, 'packages', 'cli', 'bin', 'scrl.js'), 'eval', 'detection', ...flags, '--out', dir, ...resume, ...extra];
      process.stderr.write(`[evaluators-detection] node ${argv.join(' ')}\n`);
      const r = spawnSync(process.execPath, argv, { cwd: root, stdio: 'inherit' });
      if (r.status !== 0) throw new Error(`scrl eval detection (${name}) failed with exit code ${r.status}`);
    } else {
      process.stderr.write(`[evaluators-detection] reusing ${metrics}\n`);
    }
    ap[name] = Math.round(1000 * JSON.parse(fs.readFileSync(metrics, 'utf8')).stats.AP) / 10;
  }
  const doc = fs.existsSync(json) ? JSON.parse(fs.readFileSync(json, 'utf8')) : {};
  doc.detection = { random: ap.random, supervised: ap.supervised };
  fs.mkdirSync(path.dirname(json), { recursive: true });
  fs.writeFileSync(json, JSON.stringify(doc, null, 2) + '\n');
  process.stdout.write(`detection AP (%): random ${ap.random}, supervised ${ap.supervised} -> ${json}\n`);
}

main();
