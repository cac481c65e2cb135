import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import sharp from 'sharp';
import { initBackend } from '@scrl/roi-align';
import { describeEachBackend } from '@scrl/testing';
import { syntheticImages, tinyConfig } from './__tests__/tiny-run';
import { inMemorySource, listCheckpoints, readCheckpoint, readMetrics, train } from './index';
import type { StepMetrics } from './index';

jest.setTimeout(300_000);

const images = syntheticImages;


const tmp = () => fs.mkdtempSync(path.join(os.tmpdir(), 'scrl-train-'));
const data = inMemorySource(images(10));

describeEachBackend('train', () => {
  it('runs SCRL, writes config.json, metrics.jsonl, checkpoints and loss.png, with flat memory', async () => {
    const out = tmp();
    const seen: Array<StepMetrics & { tensors: number }> = [];
    const result = await train({
      config: tinyConfig(),
      out,
      data,
      log: null,
      progress: false,
      onStep: (m) => seen.push({ ...m, tensors: tf.memory().numTensors }),
    });
    expect(result).toMatchObject({ step: 4, totalSteps: 4, stopReason: 'completed' });
    const rows = readMetrics(path.join(out, 'metrics.jsonl'));
    expect(rows.map((r) => r.step)).toEqual([1, 2, 3, 4]);
    for (const r of rows) {
      expect(Number.isFinite(r.loss) && r.loss >= 0 && r.loss <= 8).toBe(true);
      expect(r.boxPairs % 10).toBe(0);
      expect(r.imagesPerSecond).toBeGreaterThan(0);
    }
    expect(rows.some((r) => r.boxPairs > 0)).toBe(true);
    // Warmup then cosine, and the momentum schedule from m_base.
    const peak = (0.45 * 4) / 256;
    expect(rows[0].lr).toBeCloseTo(peak / 2, 12);
    expect(rows[1].lr).toBeCloseTo(peak, 12);
    expect(rows[0].momentum).toBeCloseTo(0.97, 12);
    // No tensor is left behind from one step to the next.
    expect(new Set(seen.slice(1).map((s) => s.tensors)).size).toBe(1);
    const cfg = JSON.parse(fs.readFileSync(path.join(out, 'config.json'), 'utf8'));
    expect(cfg.config).toEqual(tinyConfig());
    expect(cfg.plan).toMatchObject({ images: 10, effectiveBatch: 4, totalSteps: 4, warmupSteps: 2 });
    expect(listCheckpoints(path.join(out, 'checkpoints')).map((c) => c.step)).toEqual([4, 2]);
    const ck = readCheckpoint(listCheckpoints(path.join(out, 'checkpoints'))[0].path);
    expect(Object.keys(ck.tensors)).toEqual(
      expect.arrayContaining(['online.backbone.conv1.weight', 'target.projector.net.0.weight', 'optimizer.momentum.predictor.net.3.weight']),
    );
    expect(fs.statSync(path.join(out, 'loss.png')).size).toBeGreaterThan(1000);
    fs.rmSync(out, { recursive: true });
  });

  it('resumes from the newest checkpoint and reproduces the uninterrupted losses', async () => {
    const a = tmp();
    const b = tmp();
    await train({ config: tinyConfig(), out: a, data, log: null, progress: false });
    // Stopped at step 3 with checkpoints every 2: the resume starts from the step-3 checkpoint
    // written on stopping, after the step-2 one.
    const partial = await train({ config: tinyConfig(), out: b, data, log: null, progress: false, maxSteps: 3 });
    expect(partial).toMatchObject({ step: 3, stopReason: 'max-steps' });
    expect(listCheckpoints(path.join(b, 'checkpoints')).map((c) => c.step)).toEqual([3, 2]);
    await expect(train({ config: tinyConfig(), out: b, data, log: null, progress: false })).rejects.toThrow(
      'already holds checkpoints (newest: step 3). Pass --resume',
    );
    await expect(
      train({ config: tinyConfig(['optimizer.baseLr=0.3']), out: b, data, log: null, progress: false, resume: true }),
    ).rejects.toThrow('the config differs from the checkpoint\'s in optimizer.baseLr (checkpoint 0.45, now 0.3)');
    const lines: string[] = [];
    const resumed = await train({ config: tinyConfig(), out: b, data, log: (l) => lines.push(l), progress: false, resume: true });
    expect(resumed).toMatchObject({ step: 4, stopReason: 'completed' });
    expect(lines.some((l) => l.includes('resumed from') && l.includes('step 3 of 4'))).toBe(true);
    const la = readMetrics(path.join(a, 'metrics.jsonl'));
    const lb = readMetrics(path.join(b, 'metrics.jsonl'));
    expect(lb.map((r) => r.step)).toEqual([1, 2, 3, 4]);
    expect(lb.map((r) => r.loss)).toEqual(la.map((r) => r.loss));
    expect(lb.map((r) => r.boxPairs)).toEqual(la.map((r) => r.boxPairs));
    fs.rmSync(a, { recursive: true });
    fs.rmSync(b, { recursive: true });
  });
});

// The rest runs on wasm only: the cpu backend is several times slower per op here.
describe('train [wasm]', () => {
  beforeAll(async () => {
    await initBackend({ backend: 'wasm', log: null });
  });

  it('trains from a folder through the worker-thread loader and resumes identically', async () => {
    const dir = tmp();
    const files = images(8);
    await Promise.all(
      files.map((im, i) =>
        sharp(Buffer.from(im.data), { raw: { width: im.width, height: im.height, channels: 3 } }).png().toFile(path.join(dir, `img${i}.png`)),
      ),
    );
    const config = tinyConfig(['checkpoint.every=10']);
    const a = tmp();
    const b = tmp();
    const full = await train({ config, out: a, data: dir, workers: 1, log: null, progress: false });
    expect(full.step).toBe(4);
    await train({ config, out: b, data: dir, workers: 1, log: null, progress: false, maxSteps: 3 });
    await train({ config, out: b, data: dir, workers: 1, log: null, progress: false, resume: true });
    const la = readMetrics(path.join(a, 'metrics.jsonl'));
    const lb = readMetrics(path.join(b, 'metrics.jsonl'));
    expect(la).toHaveLength(4);
    expect(lb.map((r) => r.loss)).toEqual(la.map((r) => r.loss));
    expect(JSON.parse(fs.readFileSync(path.join(a, 'config.json'), 'utf8')).data).toBe(`${path.resolve(dir)} (8 images)`);
    await expect(train({ config, out: tmp(), data: path.join(dir, 'nope'), log: null, progress: false })).rejects.toThrow(
      "train: data '" + path.join(dir, 'nope') + "' is not a directory",
    );
    for (const d of [dir, a, b]) fs.rmSync(d, { recursive: true });
  });

  it('switches to BYOL with one setting and accumulates micro-batches', async () => {
    const out = tmp();
    const r = await train({
      config: tinyConfig(['method=byol', 'batch.accumulate=2', 'schedule.steps=2', 'schedule.warmupSteps=1']),
      out,
      data,
      log: null,
      progress: false,
    });
    expect(r.step).toBe(2);
    const rows = readMetrics(path.join(out, 'metrics.jsonl'));
    expect(rows.map((m) => m.boxPairs)).toEqual([0, 0]);
    expect(rows.every((m) => m.loss > 0 && m.loss <= 8)).toBe(true);
    // lr scales with the effective batch 4 x 2.
    expect(rows[1].lr).toBeCloseTo((0.45 * 8) / 256, 12);
    fs.rmSync(out, { recursive: true });
  });

  it('stops on a non-finite loss with a clear message and keeps the last good checkpoint', async () => {
    const out = tmp();
    const config = tinyConfig(['optimizer.baseLr=1e30', 'optimizer.eta=1e30', 'checkpoint.every=1', 'schedule.steps=20']);
    let error: unknown = null;
    try {
      await train({ config, out, data, log: null, progress: false });
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(Error);
    const message = (error as Error).message;
    expect(message).toMatch(/^Error in train: the loss became (NaN|Infinity|-Infinity) at step (\d+) \(micro-batch 1 of 1\); stopping without saving this state\. The last good checkpoint is .*ckpt-\d+\.json \(step \d+\)\. Lower optimizer\.baseLr/);
    const failedAt = Number(/at step (\d+)/.exec(message)![1]);
    const kept = listCheckpoints(path.join(out, 'checkpoints'));
    expect(kept[0].step).toBe(failedAt - 1);
    expect(() => readCheckpoint(kept[0].path)).not.toThrow();
    fs.rmSync(out, { recursive: true });
  });

  it('stops after the current step when aborted, with a checkpoint', async () => {
    const out = tmp();
    const controller = new AbortController();
    const r = await train({
      config: tinyConfig(),
      out,
      data,
      log: null,
      progress: false,
      signal: controller.signal,
      onStep: (m) => {
        if (m.step === 1) controller.abort();
      },
    });
    expect(r).toMatchObject({ step: 1, stopReason: 'aborted' });
    expect(listCheckpoints(path.join(out, 'checkpoints'))[0].step).toBe(1);
    fs.rmSync(out, { recursive: true });
  });

  it('handles an abort from an event (as Ctrl-C arrives) even when every batch is ready', async () => {
    // In-memory images and no loader threads: every await of the step loop can resolve as a
    // microtask, so only the loop's own turn of the event loop lets this timer (like a SIGINT
    // listener) run before the schedule ends.
    const out = tmp();
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 0);
    const r = await train({ config: tinyConfig(['schedule.steps=40']), out, data, log: null, progress: false, signal: controller.signal });
    expect(r.stopReason).toBe('aborted');
    expect(r.step).toBeLessThan(5);
    fs.rmSync(out, { recursive: true });
  });
});
