/**
 * End to end at tiny sizes: generate -> pretrain (and resume) -> export -> evaluate, the demo
 * with fixed steps, and the exit codes of usage, config, data and training errors. The last
 * block runs the real bin/scrl.js (compiled dist/) in a child process.
 */
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { readSafetensors } from '@scrl/models';
import { main } from './main';
import type { CommandIO } from './command';
import { demoRounds, demoVerdict, planDemo } from './commands/demo';

function capture(): CommandIO & { outLines: string[]; errLines: string[]; text(): string } {
  const outLines: string[] = [];
  const errLines: string[] = [];
  return {
    outLines,
    errLines,
    out: (l) => outLines.push(l),
    err: (l) => errLines.push(l),
    isTTY: false,
    text: () => [...outLines, ...errLines].join('\n'),
  };
}

/** A ResNet-18 of width 4 on 16 px views, 4 images per step: seconds per step on the cpu backend. */
const SMALL = [
  ['model.baseWidth=4'],
  ['views.size=16'],
  ['batch.size=4'],
  ['model.projector.hiddenDim=32'],
  ['model.projector.outDim=16'],
  ['model.predictor.hiddenDim=32'],
  ['schedule.steps=10'],
  ['schedule.warmupSteps=1'],
].flatMap(([kv]) => ['--set', kv]);

const BIN = path.join(__dirname, '..', 'bin', 'scrl.js');

let tmp: string;
let scenes: string;
let run: string;

async function scrl(args: string[]): Promise<{ code: number; io: ReturnType<typeof capture> }> {
  const io = capture();
  const code = await main(args, io);
  return { code, io };
}

beforeAll(async () => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'scrl-cli-'));
  scenes = path.join(tmp, 'scenes');
  run = path.join(tmp, 'run');
  const { code, io } = await scrl(['data', 'generate', '--out', scenes, '--images', '16', '--size', '32']);
  expect(code).toBe(0);
  expect(io.outLines).toEqual([path.join(scenes, 'annotations.json')]);
});

afterAll(() => {
  fs.rmSync(tmp, { recursive: true, force: true });
});

describe('scrl pretrain, export, eval', () => {
  it('pretrains 2 steps with checkpoints and writes the effective config', async () => {
    const { code, io } = await scrl([
      'pretrain', '--data', path.join(scenes, 'images'), '--out', run, ...SMALL,
      '--set', 'optimizer.baseLr=0.2', '--max-steps', '2', '--checkpoint-every', '1', '--workers', '0', '--backend', 'wasm',
    ]);
    expect(io.errLines.filter((l) => l.startsWith('scrl: error'))).toEqual([]);
    expect(code).toBe(0);
    expect(io.outLines).toEqual([path.resolve(run)]);
    const written = JSON.parse(fs.readFileSync(path.join(run, 'config.json'), 'utf8'));
    expect(written.config.optimizer.baseLr).toBe(0.2);
    expect(written.config.model.baseWidth).toBe(4);
    expect(fs.readdirSync(path.join(run, 'checkpoints')).filter((f) => f.endsWith('.json')).sort()).toEqual([
      'ckpt-00000001.json',
      'ckpt-00000002.json',
    ]);
  });

  it('pretrains on the built-in scenes (generated into --cache) when --data is not given', async () => {
    const out = path.join(tmp, 'builtin');
    const { code, io } = await scrl(['pretrain', '--cache', path.join(tmp, 'cache-builtin'), '--out', out, ...SMALL, '--max-steps', '1', '--workers', '0', '--backend', 'wasm']);
    expect(code).toBe(0);
    expect(io.errLines.join('\n')).toMatch(/scenes: 1000 images, \d+ boxes in .*cache-builtin.*generated/);
    expect(JSON.parse(fs.readFileSync(path.join(out, 'config.json'), 'utf8')).data).toMatch(/cache-builtin.*images \(1000 images\)$/);
  });

  it('refuses to overwrite a run without --resume, and resumes with it', async () => {
    const args = ['pretrain', '--data', path.join(scenes, 'images'), '--out', run, ...SMALL, '--set', 'optimizer.baseLr=0.2', '--workers', '0', '--backend', 'wasm'];
    const again = await scrl([...args, '--max-steps', '3']);
    expect(again.code).toBe(2);
    expect(again.io.errLines.join('\n')).toContain('Pass --resume');
    const resumed = await scrl([...args, '--max-steps', '3', '--resume']);
    expect(resumed.code).toBe(0);
    expect(resumed.io.errLines.join('\n')).toMatch(/resumed from .*ckpt-00000002\.json/);
    expect(fs.existsSync(path.join(run, 'checkpoints', 'ckpt-00000003.json'))).toBe(true);
  });

  it('exports the online backbone with torchvision and detectron2 names', async () => {
    const tv = path.join(tmp, 'r18.safetensors');
    const d2 = path.join(tmp, 'r18-d2.safetensors');
    expect((await scrl(['export', '--checkpoint', run, '--out', tv, '--backend', 'wasm'])).code).toBe(0);
    expect((await scrl(['export', '--checkpoint', run, '--format', 'detectron2', '--out', d2, '--backend', 'wasm'])).code).toBe(0);
    const a = readSafetensors(fs.readFileSync(tv)).tensors;
    const b = readSafetensors(fs.readFileSync(d2)).tensors;
    expect(a.get('conv1.weight')?.shape).toEqual([4, 3, 3, 3]);
    expect(a.has('layer4.1.bn2.running_var')).toBe(true);
    expect(b.get('stem.conv1.weight')?.shape).toEqual([4, 3, 3, 3]);
    expect(b.has('res5.1.conv2.norm.running_var')).toBe(true);
  });

  it('evaluates detection from the exported weights and from the run, with the same result', async () => {
    const common = ['--data', scenes, '--steps', '2', '--image-size', '32', '--backend', 'wasm'];
    const fromFile = await scrl(['eval', 'detection', '--init', path.join(tmp, 'r18.safetensors'), '--out', path.join(tmp, 'det-file'), ...common]);
    expect(fromFile.code).toBe(0);
    const fromRun = await scrl(['eval', 'detection', '--init', run, '--out', path.join(tmp, 'det-run'), ...common]);
    expect(fromRun.code).toBe(0);
    expect(fromRun.io.outLines[0]).toMatch(/\| init +\| +AP \| +AP50 \| +AP75 \|/);
    for (const dir of ['det-file', 'det-run']) {
      for (const f of ['report.md', 'detections.png', 'loss.png', 'metrics.json']) expect(fs.existsSync(path.join(tmp, dir, f))).toBe(true);
    }
    const stats = (dir: string) => JSON.parse(fs.readFileSync(path.join(tmp, dir, 'metrics.json'), 'utf8')).stats;
    expect(stats('det-file')).toEqual(stats('det-run'));
  });

  it('chooses the detection lr by a sweep on the training images, after rescaling the conv norms', async () => {
    const out = path.join(tmp, 'det-sweep');
    const r = await scrl([
      'eval', 'detection', '--init', run, '--data', scenes, '--steps', '1', '--image-size', '32', '--backend', 'wasm',
      '--lr-sweep', '0.001,0.01', '--sweep-steps', '1', '--rescale-conv-norms', '--out', out,
    ]);
    expect(r.code).toBe(0);
    const metrics = JSON.parse(fs.readFileSync(path.join(out, 'metrics.json'), 'utf8'));
    expect(metrics.lrSweep.runs.map((x: { lr: number }) => x.lr)).toEqual([0.001, 0.01]);
    expect([0.001, 0.01]).toContain(metrics.config.lr);
    expect(metrics.config.lr).toBe(metrics.lrSweep.chosenLr);
    expect(metrics.notes.join('\n')).toMatch(/conv norms rescaled to a fresh init \(seed 0\): summed norm [\d.]+ -> [\d.]+ over 20 convs/);
    expect(r.io.outLines.join('\n')).toMatch(/lr: 0\.0?01 \(chosen by --lr-sweep on \d+ validation images of the training split\)/);
  });

  it('reuses a finished lr sweep on --resume, and runs it again when the settings changed', async () => {
    const out = path.join(tmp, 'det-sweep-resume');
    const args = ['eval', 'detection', '--init', run, '--data', scenes, '--steps', '2', '--image-size', '32', '--backend', 'wasm', '--lr-sweep', '0.001,0.01', '--sweep-steps', '1', '--out', out];
    const first = await scrl(args);
    expect(first.code).toBe(0);
    const saved = JSON.parse(fs.readFileSync(path.join(out, 'lr-sweep.json'), 'utf8'));
    expect(saved.result.runs.map((x: { lr: number }) => x.lr)).toEqual([0.001, 0.01]);
    const again = await scrl([...args, '--resume']);
    expect(again.code).toBe(0);
    const err = again.io.errLines.join('\n');
    expect(err).toContain(`reused from ${path.join(out, 'lr-sweep.json')}`);
    expect(err).not.toMatch(/lr sweep 1\/2/);
    const metrics = JSON.parse(fs.readFileSync(path.join(out, 'metrics.json'), 'utf8'));
    expect(metrics.config.lr).toBe(saved.result.chosenLr);
    // A sweep saved with other settings does not apply: the sweep runs again (the same one
    // here, so it chooses the same lr and the fine-tuning's checkpoint still fits).
    fs.writeFileSync(path.join(out, 'lr-sweep.json'), JSON.stringify({ ...saved, key: { ...saved.key, sweepSteps: 7 } }));
    const other = await scrl([...args, '--resume']);
    expect(other.code).toBe(0);
    expect(other.io.errLines.join('\n')).toMatch(/was made with other settings; running the lr sweep again[\s\S]*lr sweep 1\/2: lr 0.001/);
    expect(JSON.parse(fs.readFileSync(path.join(out, 'lr-sweep.json'), 'utf8'))).toEqual(saved);
  });

  it('fine-tunes only the FPN and head with --freeze-backbone', async () => {
    const out = path.join(tmp, 'det-frozen');
    const r = await scrl(['eval', 'detection', '--init', run, '--data', scenes, '--steps', '1', '--image-size', '32', '--backend', 'wasm', '--freeze-backbone', '--out', out]);
    expect(r.code).toBe(0);
    const metrics = JSON.parse(fs.readFileSync(path.join(out, 'metrics.json'), 'utf8'));
    expect(metrics.config.freezeBackbone).toBe(true);
    expect(metrics.notes.join('\n')).toMatch(/backbone frozen \(--freeze-backbone\)/);
  });

  it('fine-tunes on the first N training images with --labels, keeping the same held-out images', async () => {
    const out = path.join(tmp, 'det-labels');
    const r = await scrl(['eval', 'detection', '--init', 'random', '--set', 'model.baseWidth=4', '--data', scenes, '--steps', '1', '--image-size', '32', '--backend', 'wasm', '--labels', '5', '--out', out]);
    expect(r.code).toBe(0);
    const notes = JSON.parse(fs.readFileSync(path.join(out, 'metrics.json'), 'utf8')).notes.join('\n');
    // 16 scenes, val 0.2: 13 train / 3 held out, of which --labels keeps 5 for training.
    expect(notes).toMatch(/few labels \(--labels 5\): 5 of the 13 training images/);
    expect(notes).toMatch(/\(5 train, 3 val\)/);
    const tooMany = await scrl(['eval', 'detection', '--init', 'random', '--set', 'model.baseWidth=4', '--data', scenes, '--steps', '1', '--backend', 'wasm', '--labels', '14', '--out', path.join(tmp, 'det-labels-14')]);
    expect(tooMany.code).toBe(2);
    expect(tooMany.io.errLines.join('\n')).toMatch(/--labels 14 is more than the 13 images of the training split/);
  });

  it('runs the kNN and linear probes on scene object crops', async () => {
    const knn = await scrl(['eval', 'knn', '--init', run, '--data', scenes, '--out', path.join(tmp, 'knn'), '--k', '3', '--backend', 'wasm']);
    expect(knn.code).toBe(0);
    expect(knn.io.outLines[2]).toMatch(/^\| .*run \| \d+ \| \d+ \| \d+\.\d \|$/);
    const lin = await scrl([
      'eval', 'linear', '--init', 'random', '--data', scenes, '--out', path.join(tmp, 'lin'), '--steps', '5', '--set', 'model.baseWidth=4', '--backend', 'wasm',
    ]);
    expect(lin.code).toBe(0);
    expect(fs.existsSync(path.join(tmp, 'lin', 'predictions.png'))).toBe(true);
    expect(fs.readFileSync(path.join(tmp, 'lin', 'report.md'), 'utf8')).toContain('random init (ResNet-18, width 4');
  });

  it('runs the box and dense probes on the scenes, and the box probe on raw pixels', async () => {
    const common = ['--data', scenes, '--set', 'model.baseWidth=4', '--backend', 'wasm'];
    const box = await scrl(['eval', 'box-probe', '--init', run, '--out', path.join(tmp, 'box'), '--pool', '1', ...common]);
    expect(box.code).toBe(0);
    expect(box.io.outLines[2]).toMatch(/^\| .*run \| 1 \| \d+ \/ \d+ \| \d+\.\d \| \d+\.\d \| [\d.e-]+ \|$/);
    const metrics = JSON.parse(fs.readFileSync(path.join(tmp, 'box', 'metrics.json'), 'utf8'));
    expect(metrics.result.featureDim).toBe((16 + 32) * 1 * 1); // width 4: C4 has 16 channels, C5 32
    const raw = await scrl(['eval', 'box-probe', '--init', 'raw-pixels', '--out', path.join(tmp, 'box-raw'), ...common]);
    expect(raw.code).toBe(0);
    expect(raw.io.outLines[2]).toMatch(/^\| raw-pixels \| 8px \|/);
    const dense = await scrl(['eval', 'dense-probe', '--init', 'random', '--out', path.join(tmp, 'dense'), ...common]);
    expect(dense.code).toBe(0);
    expect(dense.io.outLines[0]).toMatch(/\| init +\| mIoU \| cell acc\. \| IoU background \|/);
    expect(fs.readFileSync(path.join(tmp, 'dense', 'report.md'), 'utf8')).toContain('random init (ResNet-18, width 4');
    const bad = await scrl(['eval', 'dense-probe', '--init', 'raw-pixels', ...common]);
    expect(bad.code).toBe(2);
  });

  it('draws box-pair pictures', async () => {
    const { code } = await scrl(['viz', 'boxes', '--data', path.join(scenes, 'images'), '--images', '2', '--out', path.join(tmp, 'viz')]);
    expect(code).toBe(0);
    expect(fs.readdirSync(path.join(tmp, 'viz')).sort()).toEqual(['box-pairs-0.png', 'box-pairs-1.png']);
  });

  it('runs the demo end to end with fixed steps', async () => {
    // Fixed steps skip the timing runs; the planning itself is tested below (planDemo).
    const out = path.join(tmp, 'demo');
    const { code, io } = await scrl([
      'demo', '--out', out, '--cache', path.join(tmp, 'cache'), '--scenes', '12', '--images', '12',
      '--pretrain-steps', '2', '--detection-steps', '2', ...SMALL, '--backend', 'wasm', '--zoo', path.join(tmp, 'no-zoo'),
    ]);
    expect(io.errLines.filter((l) => l.startsWith('scrl: error'))).toEqual([]);
    expect(code).toBe(0);
    expect(io.outLines.slice(2, 5).map((l) => l.split('|')[1].trim())).toEqual(['random', 'BYOL', 'SCRL']);
    expect(io.outLines[6]).toMatch(/\| init +\| pool \| objects/);
    expect(io.outLines.slice(8, 11).map((l) => l.split('|')[1].trim())).toEqual(['random', 'BYOL', 'SCRL']);
    expect(io.outLines.slice(12, 14)).toEqual([expect.stringMatching(/^BYOL against random init: box probe [+-]\d/), expect.stringMatching(/^SCRL against random init/)]);
    expect(io.outLines[14]).toMatch(/^(Within this budget pretraining did not beat random init|Above random init on at least one evaluator)/);
    expect(io.outLines[15]).toMatch(/^Detection had 2 steps, fewer than the 600 at which random init's AP is clearly above 0 \(11\.1 AP after 600/);
    // The comparison from the zoo always follows (here: none).
    expect(io.outLines.slice(16)).toEqual(['', expect.stringMatching(/^No model zoo at '.*no-zoo' to compare with/)]);
    const report = fs.readFileSync(path.join(out, 'report.md'), 'utf8');
    const pictures = [...report.matchAll(/\]\(([^)]+\.png)\)/g)].map((m) => m[1]);
    expect(pictures).toEqual(expect.arrayContaining(['pretrain-scrl/loss.png', 'box-pairs/box-pairs-0.png', 'detection/scrl/detections.png', 'detection/random/loss.png']));
    for (const p of pictures) expect([p, fs.existsSync(path.join(out, p))]).toEqual([p, true]);
    expect(JSON.parse(fs.readFileSync(path.join(out, 'pretrain-byol', 'config.json'), 'utf8')).config.method).toBe('byol');
    expect(JSON.parse(fs.readFileSync(path.join(out, 'demo.json'), 'utf8')).detectionConfig).toMatchObject({ steps: 2, batchSize: 8, lr: 0.04 });
  }, 600_000); // well under a minute of CPU; minutes of wall time on a loaded machine
});

describe('demoVerdict', () => {
  it('says when pretraining did not beat random init, and by how much each init differs', () => {
    const lines = demoVerdict({ random: 0.2, BYOL: 0.1, SCRL: 0.2 }, { random: 0.408, BYOL: 0.329, SCRL: 0.329 });
    expect(lines[0]).toBe('BYOL against random init: box probe -7.9 points, detection AP -10.0 points.');
    expect(lines[1]).toBe('SCRL against random init: box probe -7.9 points, detection AP +0.0 points.');
    expect(lines[2]).toMatch(/^Within this budget pretraining did not beat random init on either evaluator/);
  });

  it('does not call an equal AP a win', () => {
    const lines = demoVerdict({ random: 0.058, BYOL: 0.042, SCRL: 0.0584 }, { random: 0.408, BYOL: 0.329, SCRL: 0.342 });
    expect(lines[1]).toBe('SCRL against random init: box probe -6.6 points, detection AP +0.0 points.');
    expect(lines[2]).toMatch(/^Within this budget pretraining did not beat random init/);
  });

  it('names the inits that came out above random init', () => {
    const lines = demoVerdict({ random: 0.2, BYOL: 0.2, SCRL: 0.25 }, { random: 0.4, BYOL: 0.39, SCRL: 0.41 });
    expect(lines[2]).toMatch(/^Above random init on at least one evaluator: SCRL\. One seed/);
  });
});

describe('planDemo', () => {
  it('fits both pretraining runs and three detection runs into the time left', () => {
    const plan = planDemo({ remaining: 600, budgetSeconds: 840, pretrainSecondsPerStep: 5, detectionSecondsPerStep: 2, detectionEvalSeconds: 10, probeSeconds: 20 });
    // usable = 600 - 30 - 60 - 10 = 500: 0.35 * 500 / 10 = 17.5 and 0.65 * 500 / 6 = 54.2.
    expect(plan.pretrainSteps).toBe(17);
    expect(plan.detectionSteps).toBe(54);
    expect(plan.predictedSeconds).toBeLessThanOrEqual(600);
  });

  it('plans with the runs at once: both pretraining runs side by side, detection runs two at a time', () => {
    const one = planDemo({ remaining: 600, budgetSeconds: 840, pretrainSecondsPerStep: 5, detectionSecondsPerStep: 2, detectionEvalSeconds: 10, probeSeconds: 20 });
    const two = planDemo({ remaining: 600, budgetSeconds: 840, pretrainSecondsPerStep: 5, detectionSecondsPerStep: 2, detectionEvalSeconds: 10, probeSeconds: 20, parallel: 2 });
    // usable = 600 - 1.5 * 10 - 60 - 10 = 515: 0.35 * 515 / (1 * 5) = 36.05 and 0.65 * 515 / (1.5 * 2) = 111.6.
    expect([two.parallel, two.pretrainSteps, two.detectionSteps]).toEqual([2, 36, 111]);
    expect(two.pretrainSteps).toBeGreaterThan(2 * one.pretrainSteps);
    expect(two.predictedSeconds).toBeLessThanOrEqual(600);
    expect(demoRounds(3)).toEqual({ pretrainRounds: 1, detectionRounds: 1 });
    expect(demoRounds(8)).toEqual({ pretrainRounds: 1, detectionRounds: 1 });
  });

  it('keeps a minimum number of steps when the budget is used up', () => {
    const plan = planDemo({ remaining: -5, budgetSeconds: 60, pretrainSecondsPerStep: 5, detectionSecondsPerStep: 2, detectionEvalSeconds: 10 });
    expect([plan.pretrainSteps, plan.detectionSteps]).toEqual([5, 5]);
  });
});

describe('scrl errors and exit codes', () => {
  it.each([
    [['pretrain', '--set', 'optimizer.baseLr=abc'], /optimizer\.baseLr.*"abc".*expected number/],
    [['pretrain', '--set', 'nope.x=1'], /unknown key 'nope\.x'.*Keys at the top level: method, seed/],
    [['pretrain', '--set', 'batch.size=1'], /batch\.size.*"1".*>=2/],
    [['pretrain', '--preset', 'gpu'], /--preset: unknown preset 'gpu'\. Allowed: paper, cpu/],
    [['pretrain', '--method', 'simclr'], /--method must be scrl or byol, got 'simclr'/],
    [['pretrain', '--max-steps', 'many'], /--max-steps must be an integer >= 0, got 'many'/],
    [['pretrain', '--bogus'], /Unknown option '--bogus'/],
    [['export', '--format', 'onnx', '--checkpoint', 'x', '--out', 'y.safetensors'], /--format must be torchvision, detectron2 or torch-run, got 'onnx'/],
    [['eval'], /'scrl eval' needs a subcommand: detection, linear, knn/],
  ])('exits 2 for %j', async (args, message) => {
    const { code, io } = await scrl(args);
    expect(code).toBe(2);
    expect(io.errLines[0]).toMatch(message);
  });

  it('exits 2 naming the key, the value and the rule for an invalid config file', async () => {
    const file = path.join(tmp, 'bad.yaml');
    fs.writeFileSync(file, 'preset: cpu\noptimizer:\n  baseLr: -1\n');
    const { code, io } = await scrl(['pretrain', '--config', file]);
    expect(code).toBe(2);
    expect(io.errLines[0]).toMatch(/bad\.yaml: optimizer\.baseLr: .*>=0/);
  });

  it('reads a config file as data and applies --set on top', async () => {
    const file = path.join(tmp, 'ok.yaml');
    fs.writeFileSync(file, ['preset: cpu', 'model: { baseWidth: 4, projector: { hiddenDim: 32, outDim: 16 }, predictor: { hiddenDim: 32 } }', 'views: { size: 16 }', 'batch: { size: 4 }', ''].join('\n'));
    const out = path.join(tmp, 'from-file');
    const { code } = await scrl(['pretrain', '--config', file, '--set', 'method=byol', '--data', path.join(scenes, 'images'), '--out', out, '--max-steps', '1', '--workers', '0', '--backend', 'wasm']);
    expect(code).toBe(0);
    const written = JSON.parse(fs.readFileSync(path.join(out, 'config.json'), 'utf8')).config;
    expect([written.method, written.model.baseWidth, written.views.size]).toEqual(['byol', 4, 16]);
  });

  it('exits 1 with the loss message when the loss becomes non-finite', async () => {
    const { code, io } = await scrl([
      'pretrain', '--data', path.join(scenes, 'images'), '--out', path.join(tmp, 'nan'), ...SMALL,
      '--set', 'optimizer.baseLr=1e30', '--set', 'schedule.warmupSteps=0', '--max-steps', '4', '--workers', '0', '--backend', 'wasm',
    ]);
    expect(code).toBe(1);
    expect(io.errLines.find((l) => l.startsWith('scrl: error'))).toMatch(/^scrl: error: Error in train: the loss became (NaN|-?Infinity) at step \d/);
    expect(io.errLines.join('\n')).not.toMatch(/\n\s+at /);
  });

  it('exits 2 with the DataError message and no stack for a folder without images', async () => {
    const empty = path.join(tmp, 'empty');
    fs.mkdirSync(empty);
    const { code, io } = await scrl(['pretrain', '--data', empty, '--out', path.join(tmp, 'e'), '--backend', 'wasm']);
    expect(code).toBe(2);
    expect(io.errLines).toEqual([expect.stringMatching(/^scrl: error: Error in ImageFolder\.open: .*empty: contains no image files/)]);
  });
});

describe('bin/scrl.js', () => {
  const node = (args: string[]) => spawnSync(process.execPath, [BIN, ...args], { cwd: tmp, encoding: 'utf8', env: { ...process.env, SCRL_BACKEND: 'cpu' } });

  it('prints the version and exits 0', () => {
    const r = node(['--version']);
    expect(r.status).toBe(0);
    expect(r.stdout.trim()).toBe(require('../package.json').version);
  });

  it('exits 2 on a config error and on bad data', () => {
    const bad = node(['pretrain', '--set', 'optimizer.baseLr=abc']);
    expect(bad.status).toBe(2);
    expect(bad.stderr).toContain("cannot set 'optimizer.baseLr'");
    const missing = node(['eval', 'detection', '--data', path.join(tmp, 'no-such-folder')]);
    expect(missing.status).toBe(2);
    const empty = node(['pretrain', '--data', path.join(tmp, 'empty-bin'), '--out', path.join(tmp, 'e2')]);
    expect(empty.status).toBe(2);
  });

  it('prints a skipped image as our own warning line, without Node\'s warning prefix or hint', () => {
    const dir = path.join(tmp, 'with-corrupt');
    fs.mkdirSync(dir);
    for (const f of fs.readdirSync(path.join(scenes, 'images')).sort().slice(0, 4)) fs.copyFileSync(path.join(scenes, 'images', f), path.join(dir, f));
    fs.writeFileSync(path.join(dir, 'broken.png'), 'not an image');
    const r = node(['pretrain', '--data', dir, '--out', path.join(tmp, 'warn-run'), ...SMALL, '--max-steps', '2', '--workers', '1']);
    expect(r.stderr).not.toMatch(/scrl: error/);
    expect(r.status).toBe(0);
    const lines = r.stderr.split('\n');
    expect(lines.filter((l) => l.includes('broken.png'))[0]).toMatch(/^\[scrl\] skipped unreadable image .*broken\.png: /);
    expect(r.stderr).not.toMatch(/trace-warnings|\(node:\d+\)|Warning:/);
  });

  it('stops after the current step with a checkpoint on SIGINT and exits 130', async () => {
    const out = path.join(tmp, 'sigint');
    const child = spawn(
      process.execPath,
      [BIN, 'pretrain', '--data', path.join(scenes, 'images'), '--out', out, ...SMALL, '--set', 'schedule.steps=1000', '--checkpoint-every', '1000', '--workers', '0'],
      { cwd: tmp, env: { ...process.env, SCRL_BACKEND: 'cpu' } },
    );
    let stderr = '';
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    child.stderr.on('data', (d: Buffer) => {
      const before = stderr;
      stderr += d.toString();
      if (!before.includes('ResNet-18') && stderr.includes('ResNet-18')) setTimeout(() => child.kill('SIGINT'), 500);
    });
    const code = await exited;
    expect(stderr).toContain('interrupted: stopping after the current step');
    expect(code).toBe(130);
    expect(stderr).toMatch(/scrl: error: interrupted at step \d+ of 1000; checkpoint .*ckpt-\d+\.json/);
    expect(fs.readdirSync(path.join(out, 'checkpoints')).some((f) => f.endsWith('.json'))).toBe(true);
  });
});
