/**
 * The PyTorch hand-off, TypeScript side, on the committed fixture (tools/experiments/torch-run-fixture.js):
 * `scrl export --format torch-run`, and a checkpoint written by python/scrl_torch under torchrun
 * (2 gloo processes, steps 21..40) continued by `scrl pretrain --resume` for steps 41..60, whose
 * losses must equal those of the uninterrupted TypeScript run; then `scrl eval` and `scrl export`
 * read the result. The cpu backend, as the fixture's TypeScript run used.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { readCheckpoint } from '@scrl/trainer';
import { main } from '../main';
import type { CommandIO } from '../command';
import type { TorchRunInfo } from './torch-run';

const FIXTURE = path.join(__dirname, '..', '__fixtures__', 'torch-run');
const IMAGES = path.join(FIXTURE, 'scenes', 'images');

function capture(): CommandIO & { outLines: string[]; errLines: string[] } {
  const outLines: string[] = [];
  const errLines: string[] = [];
  return { outLines, errLines, out: (l) => outLines.push(l), err: (l) => errLines.push(l), isTTY: false };
}

async function scrl(args: string[]) {
  const io = capture();
  const code = await main(args, io);
  return { code, io };
}

function metrics(file: string): Array<{ step: number; loss: number; lr: number; boxPairs: number }> {
  return fs
    .readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => l.trim())
    .map((l) => JSON.parse(l));
}

let tmp: string;
beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'scrl-torch-run-'));
});
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

describe('scrl export --format torch-run', () => {
  it('writes our checkpoint unchanged, run.json with the schedule position and data order, and the config', async () => {
    const out = path.join(tmp, 'export');
    const source = path.join(FIXTURE, 'ts-40', 'ckpt-00000040.json');
    const { code, io } = await scrl(['export', '--checkpoint', source, '--format', 'torch-run', '--data', IMAGES, '--out', out, '--backend', 'cpu']);
    expect(io.errLines.filter((l) => l.startsWith('scrl: error'))).toEqual([]);
    expect(code).toBe(0);
    expect(io.outLines).toEqual([path.resolve(out)]);

    const info = JSON.parse(fs.readFileSync(path.join(out, 'run.json'), 'utf8')) as TorchRunInfo;
    const src = readCheckpoint(source);
    const copy = readCheckpoint(path.join(out, info.checkpoint));
    expect(info.format).toBe('scrl-torch-run');
    expect(info.step).toBe(40);
    expect(copy.step).toBe(40);
    expect(Object.keys(copy.tensors).sort()).toEqual(Object.keys(src.tensors).sort());
    for (const [k, t] of Object.entries(src.tensors)) expect(copy.tensors[k].data).toEqual(t.data);
    expect(copy.state).toEqual(src.state);
    // Online + target networks and one momentum buffer per online parameter.
    const momentum = Object.keys(copy.tensors).filter((k) => k.startsWith('optimizer.momentum.'));
    expect(momentum).toContain('optimizer.momentum.backbone.conv1.weight');
    expect(momentum).toContain('optimizer.momentum.predictor.net.3.weight');
    expect(Object.keys(copy.tensors)).toContain('target.projector.net.3.weight');

    const config = JSON.parse(fs.readFileSync(path.join(FIXTURE, 'config.json'), 'utf8'));
    expect(info.config).toEqual(config);
    expect(JSON.parse(fs.readFileSync(path.join(out, 'pretrain-config.json'), 'utf8'))).toEqual(config);
    const ts = metrics(path.join(FIXTURE, 'ts-metrics.jsonl'));
    expect(info.schedule.nextStep).toBe(40);
    expect(info.schedule.nextLr).toBeCloseTo(ts[40].lr, 12);
    expect(info.data).toEqual({
      folder: path.resolve(IMAGES),
      images: 16,
      seed: 0,
      order: 'view-pair-loader',
      microBatchSize: 4,
      microBatchesSeen: 40,
      microBatchesPerEpoch: 4,
      epoch: 10,
      microBatchInEpoch: 0,
    });
    expect(info.continue.torch).toContain('-m scrl_torch.train --resume');
  });

  it('refuses an --out that already holds a run, and names the formats', async () => {
    const again = await scrl(['export', '--checkpoint', path.join(FIXTURE, 'export-20'), '--format', 'torch-run', '--out', path.join(FIXTURE, 'export-20')]);
    expect(again.code).not.toBe(0);
    expect(again.io.errLines.join('\n')).toContain('already holds a run');
    const bad = await scrl(['export', '--checkpoint', path.join(FIXTURE, 'export-20'), '--format', 'torch', '--out', path.join(tmp, 'x')]);
    expect(bad.io.errLines.join('\n')).toContain('torchvision, detectron2 or torch-run');
  });
});

describe('a checkpoint written by scrl_torch under torchrun', () => {
  const run = () => path.join(tmp, 'back');

  it('is continued by scrl pretrain --resume with the losses of the uninterrupted TypeScript run', async () => {
    fs.cpSync(path.join(FIXTURE, 'torch-40'), run(), { recursive: true });
    const written = readCheckpoint(path.join(run(), 'checkpoints', 'ckpt-00000040.json'));
    expect(String(written.state.backend)).toMatch(/^torch .* gloo x2$/);
    const { code, io } = await scrl([
      'pretrain', '--out', run(), '--resume', '--data', IMAGES, '--config', path.join(FIXTURE, 'export-20', 'pretrain-config.json'),
      '--workers', '0', '--backend', 'cpu',
    ]);
    expect(io.errLines.filter((l) => l.startsWith('scrl: error'))).toEqual([]);
    expect(code).toBe(0);
    expect(io.errLines.join('\n')).toMatch(/resumed from .*ckpt-00000040\.json \(step 40 of 60\)/);
    const ts = metrics(path.join(FIXTURE, 'ts-metrics.jsonl'));
    const got = metrics(path.join(run(), 'metrics.jsonl'));
    expect(got.map((r) => r.step)).toEqual(ts.map((r) => r.step));
    for (let i = 40; i < 60; i++) {
      expect(got[i].boxPairs).toBe(ts[i].boxPairs);
      expect(got[i].lr).toBeCloseTo(ts[i].lr, 12);
      expect(Math.abs(got[i].loss - ts[i].loss) / ts[i].loss).toBeLessThan(1e-3);
    }
  }, 240_000);

  it('loads in scrl eval and scrl export without conversion', async () => {
    const knn = await scrl(['eval', 'knn', '--init', run(), '--data', path.join(FIXTURE, 'scenes'), '--out', path.join(tmp, 'knn'), '--k', '3', '--backend', 'cpu']);
    expect(knn.io.errLines.filter((l) => l.startsWith('scrl: error'))).toEqual([]);
    expect(knn.code).toBe(0);
    const tv = path.join(tmp, 'back.safetensors');
    expect((await scrl(['export', '--checkpoint', path.join(FIXTURE, 'torch-40'), '--out', tv, '--backend', 'cpu'])).code).toBe(0);
    expect(fs.statSync(tv).size).toBeGreaterThan(0);
  }, 240_000);
});
