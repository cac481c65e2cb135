/**
 * The multi-thread step (parallel.ts): the split of a micro-batch, the SharedArrayBuffer
 * collectives in real worker threads, and a 2-replica step against the one-thread step.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Worker } from 'node:worker_threads';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '@scrl/roi-align';
import type { BoxPair } from '@scrl/augment';
import { createCollectiveBuffers } from './collective';
import { ParallelStepper, planMicroBatch, updateShares } from './parallel';
import { createPretrainModel, disposePretrainModel, NonFiniteStepError, pretrainStep } from './step';
import type { PretrainBatch, PretrainModel } from './step';
import { syntheticImages, tinyConfig } from './__tests__/tiny-run';
import { inMemorySource, listCheckpoints, readCheckpoint, readMetrics, train } from './index';
import type { TrainConfig } from './index';

/** The online first convolution's initial weights for `config`. */
function createPretrainInit(config: TrainConfig): Float32Array {
  const m = createPretrainModel(config);
  const w = m.nets.online.backbone.parameters().find((p) => p.name === 'conv1.weight')!.variable.dataSync() as Float32Array;
  const copy = Float32Array.from(w);
  disposePretrainModel(m);
  return copy;
}

jest.setTimeout(600_000);

const S = 16;

/** A seeded batch of `n` images with `pairs[i]` box pairs on image i (boxes of one 8 px cell). */
function batchOf(pairs: number[], seed = 1): PretrainBatch {
  const n = pairs.length;
  const rnd = (() => {
    let s = seed >>> 0;
    return () => {
      s = (s * 1664525 + 1013904223) >>> 0;
      return s / 2 ** 32 - 0.5;
    };
  })();
  const view1 = new Float32Array(n * S * S * 3).map(() => 2 * rnd());
  const view2 = new Float32Array(n * S * S * 3).map(() => 2 * rnd());
  const boxPairs: BoxPair[][] = pairs.map((k, i) =>
    Array.from({ length: k }, (_, j) => ({ view1: [((i + j) % 2) * 8, 0, ((i + j) % 2) * 8 + 8, 8], view2: [0, (j % 2) * 8, 8, (j % 2) * 8 + 8] })),
  );
  return { view1, view2, size: S, batchSize: n, boxPairs };
}

describe('planMicroBatch', () => {
  it('splits into contiguous shards of equal image counts with their box pairs', () => {
    const b = batchOf([1, 2, 0, 1]);
    const plans = planMicroBatch(b, 2, 'scrl');
    expect(plans.map((p) => p.mode)).toEqual(['split', 'split']);
    const shards = plans.map((p) => (p as { batch: PretrainBatch }).batch);
    expect(shards.map((s) => s.batchSize)).toEqual([2, 2]);
    expect(shards.map((s) => s.boxPairs.flat().length)).toEqual([3, 1]);
    expect(Array.from(shards[1].view1)).toEqual(Array.from(b.view1.subarray(2 * S * S * 3)));
  });

  it('moves the boundary to balance box pairs when a shard would have none, else runs it on one replica', () => {
    const moved = planMicroBatch(batchOf([1, 1, 0, 0]), 2, 'scrl');
    expect(moved.map((p) => (p.mode === 'split' ? p.batch.batchSize : -1))).toEqual([1, 3]);
    const solo = planMicroBatch(batchOf([0, 3, 0, 0]), 2, 'scrl');
    expect(solo.map((p) => p.mode)).toEqual(['solo', 'solo']);
    expect(solo[1]).toEqual({ mode: 'solo', batch: null });
    expect(planMicroBatch(batchOf([0, 0, 0, 0]), 2, 'scrl').map((p) => p.mode)).toEqual(['skip', 'skip']);
    expect(planMicroBatch(batchOf([0, 0, 0]), 2, 'byol').map((p) => p.mode)).toEqual(['split', 'split']);
    expect(planMicroBatch(batchOf([0]), 2, 'byol').map((p) => p.mode)).toEqual(['skip', 'skip']);
    expect(planMicroBatch(batchOf([1, 1]), 3, 'scrl').map((p) => p.mode)).toEqual(['solo', 'solo', 'solo']);
  });
});

describe('updateShares', () => {
  it('splits the parameters into contiguous shares of whole variables, of about equal size', () => {
    const sizes = [10, 1, 1, 30, 4, 4, 20, 30];
    const shares = updateShares(sizes, 2);
    expect(shares).toEqual([
      { first: 0, end: 6, start: 0, stop: 50 },
      { first: 6, end: 8, start: 50, stop: 100 },
    ]);
    const three = updateShares(sizes, 3);
    expect(three.map((s) => [s.first, s.end, s.stop])).toEqual([
      [0, 4, 42],
      [4, 7, 70],
      [7, 8, 100],
    ]);
    expect(updateShares([5], 2)).toEqual([
      { first: 0, end: 1, start: 0, stop: 5 },
      { first: 1, end: 1, start: 5, stop: 5 },
    ]);
  });
});

describe('Collective in worker threads', () => {
  const collectiveJs = path.join(__dirname, '..', 'dist', 'collective.js');
  const code = `
    const { workerData, parentPort } = require('node:worker_threads');
    const { Collective } = require(workerData.file);
    const c = new Collective(workerData.buffers, workerData.rank);
    const out = [];
    try {
      for (let k = 0; k < workerData.calls; k++) {
        if (workerData.failAt === k && workerData.rank === 1) throw new Error('boom');
        const a = new Float64Array(5 + (k % 3)).map((_, i) => (workerData.rank + 1) * 1000 * k + i + 0.25 * workerData.rank);
        c.allReduceBn(a);
        out.push(Array.from(a));
      }
      c.gradSlot().set(new Float32Array(workerData.buffers.gradLength).map((_, i) => workerData.rank * 10 + i));
      const s = new Float64Array(8); s[0] = workerData.rank + 1;
      const r = c.reduceScatterGrads(workerData.rank, workerData.rank + 3, s);
      parentPort.postMessage({ out, sum: Array.from(r.sum), scalars: r.scalars.map((x) => x[0]) });
    } catch (e) {
      if (e.name !== 'CollectiveAborted') require('${path.join(__dirname, '..', 'dist', 'collective.js').replace(/\\/g, '/')}').abortCollective(workerData.buffers);
      parentPort.postMessage({ error: e.name + ': ' + e.message });
    }`;
  const run = (n: number, calls: number, failAt = -1) => {
    const buffers = createCollectiveBuffers(n, 16, 6);
    return Promise.all(
      Array.from(
        { length: n },
        (_, rank) =>
          new Promise<{ out?: number[][]; sum?: number[]; scalars?: number[]; error?: string }>((resolve, reject) => {
            const w = new Worker(code, { eval: true, workerData: { file: collectiveJs, buffers, rank, calls, failAt } });
            w.once('message', (m) => {
              resolve(m);
              void w.terminate();
            });
            w.once('error', reject);
          }),
      ),
    );
  };

  it('all-reduces BatchNorm partial sums and reduce-scatters gradients, in the same order, identically on every replica', async () => {
    const n = 3;
    const calls = 40;
    const results = await run(n, calls);
    for (let k = 0; k < calls; k++) {
      const len = 5 + (k % 3);
      const want = Array.from({ length: len }, (_, i) => {
        let s = 0;
        for (let r = 0; r < n; r++) s += (r + 1) * 1000 * k + i + 0.25 * r;
        return s;
      });
      for (const r of results) expect(r.out![k]).toEqual(want);
    }
    results.forEach((r, rank) => {
      expect(r.sum).toEqual([0, 1, 2].map((i) => 30 + 3 * (rank + i)));
      expect(r.scalars).toEqual([1, 2, 3]);
    });
  });

  it('wakes the peers with CollectiveAborted when one replica fails', async () => {
    const results = await run(3, 10, 4);
    expect(results[1].error).toBe('Error: boom');
    expect(results[0].error).toMatch(/CollectiveAborted/);
    expect(results[2].error).toMatch(/CollectiveAborted/);
  });
});

describe('ParallelStepper [wasm]', () => {
  beforeAll(async () => {
    await initBackend({ backend: 'wasm', log: null });
  });

  const flat = async (m: PretrainModel) => {
    const out: number[] = [];
    for (const v of m.variables) out.push(...(await v.data()));
    for (const b of [m.nets.target.backbone, m.nets.target.projector]) for (const p of b.parameters()) out.push(...(await p.variable.data()));
    return Float32Array.from(out);
  };
  const maxDiff = (a: Float32Array, b: Float32Array) => {
    let d = 0;
    for (let i = 0; i < a.length; i++) d = Math.max(d, Math.abs(a[i] - b[i]));
    return d;
  };
  const steps = [batchOf([3, 2, 2, 3], 3), batchOf([2, 1, 3, 2], 4), batchOf([3, 3, 2, 2], 5)];

  it('2 replicas with per-replica BatchNorm statistics equal the one-thread step over the shards as micro-batches', async () => {
    const config = tinyConfig();
    const one = createPretrainModel(config);
    const two = createPretrainModel(config);
    const stepper = await ParallelStepper.start(two, config, 2, { syncBatchNorm: false });
    try {
      const tensors = tf.memory().numTensors;
      const replicaTensors: number[][] = [];
      for (const b of steps) {
        const opts = { lr: 0.05, momentum: 0.99 };
        const shards = planMicroBatch(b, 2, 'scrl').map((p) => (p as { batch: PretrainBatch }).batch);
        const a = await pretrainStep(one, shards, opts);
        const r = await stepper.step([b], opts);
        expect(r.skipped).toBe(false);
        expect(r.boxPairs).toBe(a.boxPairs);
        expect(r.loss).toBe(a.loss);
        replicaTensors.push(stepper.replicaTensors);
      }
      expect(stepper.batchNormSynchronised).toBe(false);
      await stepper.pullState(two);
      // Same shards, same kernels, float32 sums in the same order: bit for bit.
      expect(maxDiff(await flat(one), await flat(two))).toBe(0);
      // LARS state came across too, each parameter's momentum from the replica that updates it.
      const [la, lb] = [await one.lars.getState(), await two.lars.getState()];
      expect(lb.steps).toBe(3);
      expect(Object.keys(lb.buffers).sort()).toEqual(Object.keys(la.buffers).sort());
      for (const k of Object.keys(la.buffers)) expect(maxDiff(la.buffers[k].data, lb.buffers[k].data)).toBe(0);
      expect(tf.memory().numTensors).toBe(tensors);
      expect(replicaTensors[2]).toEqual(replicaTensors[1]);
    } finally {
      await stepper.close();
      disposePretrainModel(one);
      disposePretrainModel(two);
    }
  });

  it('2 replicas with synchronised BatchNorm equal the one-thread step over the whole batch, up to float rounding', async () => {
    const schedule = [[steps[0], steps[1]], [steps[2]], [steps[1]], [steps[2], steps[0]]];
    for (const method of ['scrl', 'byol'] as const) {
      const config = tinyConfig([`method=${method}`]);
      const run = async (syncBatchNorm: boolean) => {
        const one = createPretrainModel(config);
        const two = createPretrainModel(config);
        const stepper = await ParallelStepper.start(two, config, 2, { syncBatchNorm });
        try {
          let lossDiff = 0;
          const perStep: number[] = [];
          for (const micro of schedule) {
            const opts = { lr: 0.05, momentum: 0.99 };
            const a = await pretrainStep(one, micro, opts);
            const r = await stepper.step(micro, opts);
            expect(r.boxPairs).toBe(a.boxPairs);
            lossDiff = Math.max(lossDiff, Math.abs(r.loss - a.loss));
            await stepper.pullState(two);
            perStep.push(maxDiff(await flat(one), await flat(two)));
          }
          // Running statistics too (over the whole batch when synchronised).
          const buffers = (m: PretrainModel) => Float32Array.from(m.nets.online.backbone.buffers().flatMap((b) => Array.from(b.variable.dataSync())));
          return { synced: stepper.batchNormSynchronised, lossDiff, perStep, stats: maxDiff(buffers(one), buffers(two)) };
        } finally {
          await stepper.close();
          disposePretrainModel(one);
          disposePretrainModel(two);
        }
      };
      const synced = await run(true);
      expect(synced.synced).toBe(true);
      expect(synced.lossDiff).toBeLessThan(1e-5);
      // One step: a few float32 ulps of the weights (~0.1-1); then rounding grows, as between
      // any two summation orders (BatchNorm over these few box rows amplifies it), to ~2e-4 at step 4.
      expect(synced.perStep[0]).toBeLessThan(1e-6);
      expect(synced.perStep[3]).toBeLessThan(1e-3);
      expect(synced.stats).toBeLessThan(1e-3);
      // Per-replica statistics are not the one-thread step (0.3 after one step): the checks above can fail.
      const local = await run(false);
      expect(local.synced).toBe(false);
      expect(local.perStep[0]).toBeGreaterThan(1e-2);
    }
  });

  it('accumulates micro-batches and splits none that cannot be split, as the one-thread step does', async () => {
    const config = tinyConfig(['batch.accumulate=2']);
    const one = createPretrainModel(config);
    const two = createPretrainModel(config);
    const stepper = await ParallelStepper.start(two, config, 2, { syncBatchNorm: false });
    try {
      // Micro-batch 2 has all its pairs on one image: replica 0 runs it whole.
      const micro = [batchOf([1, 1, 2, 1], 7), batchOf([0, 3, 0, 0], 8)];
      const shards = planMicroBatch(micro[0], 2, 'scrl').map((p) => (p as { batch: PretrainBatch }).batch);
      const a = await pretrainStep(one, [...shards, micro[1]], { lr: 0.2, momentum: 0.99 });
      const r = await stepper.step(micro, { lr: 0.2, momentum: 0.99 });
      expect(r.boxPairs).toBe(8);
      expect(Math.abs(r.loss - a.loss)).toBeLessThan(1e-5);
      await stepper.pullState(two);
      expect(maxDiff(await flat(one), await flat(two))).toBeLessThan(1e-5);
    } finally {
      await stepper.close();
      disposePretrainModel(one);
      disposePretrainModel(two);
    }
  });

  it('reports a non-finite loss as the one-thread step does, and a replica failure as an error naming it', async () => {
    const config = tinyConfig();
    const model = createPretrainModel(config);
    const stepper = await ParallelStepper.start(model, config, 2);
    try {
      // A learning rate that blows the weights up: the step that sees a non-finite loss fails as with one thread.
      const one = createPretrainModel(config);
      const failsAt = async (run: (b: PretrainBatch) => Promise<unknown>) => {
        for (let i = 1; i <= 4; i++) {
          try {
            await run(batchOf([1, 1, 1, 1], i));
          } catch (err) {
            expect(err).toBeInstanceOf(NonFiniteStepError);
            expect((err as Error).message).toMatch(/the loss became .* in micro-batch 1 of 1; no update was made/);
            return i;
          }
        }
        return -1;
      };
      const huge = { lr: 1e30, momentum: 0.99 };
      const at = await failsAt((b) => pretrainStep(one, [b], huge));
      disposePretrainModel(one);
      expect(at).toBeGreaterThan(0);
      expect(await failsAt((b) => stepper.step([b], huge))).toBe(at);
      const broken = batchOf([1, 1, 1, 1]);
      broken.view1 = broken.view1.subarray(0, 10);
      await expect(stepper.step([broken], { lr: 0.1, momentum: 0.99 })).rejects.toThrow(/--threads 2: replica 0 failed: .*/);
      // The group is unusable after a failure, and says why.
      await expect(stepper.step([batchOf([1, 1, 1, 1])], { lr: 0.1, momentum: 0.99 })).rejects.toThrow(/replica 0 failed/);
    } finally {
      await stepper.close();
      disposePretrainModel(model);
    }
  });
});

describe('train({ threads: 2 }) [wasm]', () => {
  beforeAll(async () => {
    await initBackend({ backend: 'wasm', log: null });
  });
  const data = inMemorySource(syntheticImages(10));
  const tmp = () => fs.mkdtempSync(path.join(os.tmpdir(), 'scrl-threads-'));

  it('writes checkpoints of the one-thread format, resumes them on any thread count, and stops its replicas on abort', async () => {
    const one = tmp();
    const two = tmp();
    const config = tinyConfig();
    await train({ config, out: one, data, log: null, progress: false, threads: 1, maxSteps: 2 });
    const lines: string[] = [];
    const tensors: number[] = [];
    const controller = new AbortController();
    const started: ParallelStepper[] = [];
    const start = ParallelStepper.start.bind(ParallelStepper);
    const spy = jest.spyOn(ParallelStepper, 'start').mockImplementation(async (...args) => {
      const s = await start(...args);
      started.push(s);
      return s;
    });
    const r = await train({
      config,
      out: two,
      data,
      log: (l) => lines.push(l),
      progress: false,
      threads: 2,
      signal: controller.signal,
      onStep: (m) => {
        tensors.push(tf.memory().numTensors);
        if (m.step === 2) controller.abort();
      },
    });
    spy.mockRestore();
    expect(r).toMatchObject({ step: 2, stopReason: 'aborted' });
    expect(started.length).toBe(1);
    expect(started[0].liveReplicas).toBe(0);
    expect(lines.join('\n')).toMatch(/2 threads: data-parallel replicas[\s\S]*BatchNorm statistics: synchronised across the replicas/);
    expect(new Set(tensors).size).toBe(1);
    const a = readCheckpoint(listCheckpoints(path.join(one, 'checkpoints'))[0].path);
    const b = readCheckpoint(listCheckpoints(path.join(two, 'checkpoints'))[0].path);
    expect(b.step).toBe(2);
    expect(Object.keys(b.tensors).sort()).toEqual(Object.keys(a.tensors).sort());
    for (const k of Object.keys(a.tensors)) expect(b.tensors[k].shape).toEqual(a.tensors[k].shape);
    expect(Object.keys(b.state).sort()).toEqual(Object.keys(a.state).sort());
    expect(b.state.optimizer).toEqual(a.state.optimizer);
    expect(b.state.batchNormCounters).toEqual(a.state.batchNormCounters);
    // The weights moved: replica 0's state, not the main thread's initial one, reached the checkpoint.
    const conv = 'online.backbone.conv1.weight';
    expect(Array.from(b.tensors[conv].data)).not.toEqual(Array.from(createPretrainInit(config)));
    expect(Array.from(a.tensors[conv].data)).not.toEqual(Array.from(createPretrainInit(config)));
    // Resumed with one thread it runs to the end.
    const rest = await train({ config, out: two, data, log: null, progress: false, threads: 1, resume: true });
    expect(rest).toMatchObject({ step: 4, stopReason: 'completed' });
    expect(readMetrics(path.join(two, 'metrics.jsonl')).map((m) => m.step)).toEqual([1, 2, 3, 4]);
    fs.rmSync(one, { recursive: true });
    fs.rmSync(two, { recursive: true });
  });
});
