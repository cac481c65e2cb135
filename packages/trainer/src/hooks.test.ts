import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { evaluationHook, lossCurveHook, scheduleHook } from './index';
import type { TrainContext } from './index';
import { tinyConfig } from './__tests__/tiny-run';

function context(step: number): TrainContext {
  const plan = { images: 10, effectiveBatch: 4, stepsPerEpoch: 2, totalSteps: 10, warmupSteps: 2, peakLr: 0.1 };
  return { config: tinyConfig(), plan, step, lr: 0, momentum: 0, lastCheckpoint: null, lastSavedStep: -1, stopReason: 'completed', log: () => undefined } as unknown as TrainContext;
}

describe('hooks', () => {
  it('scheduleHook sets the warmup/cosine rate and the EMA momentum of the coming step', () => {
    const ctx = context(0);
    scheduleHook().beforeStep!(ctx);
    expect(ctx.lr).toBeCloseTo(0.05, 12); // (0 + 1) / 2 of the peak during warmup
    expect(ctx.momentum).toBeCloseTo(0.97, 12);
    ctx.step = 10;
    scheduleHook().beforeStep!(ctx);
    expect(ctx.momentum).toBe(1);
  });

  it('evaluationHook runs every N steps and once at the end', async () => {
    const seen: number[] = [];
    const hook = evaluationHook(3, (ctx) => {
      seen.push(ctx.step);
    });
    const ctx = context(0);
    for (let s = 1; s <= 7; s++) {
      ctx.step = s;
      await hook.afterStep!(ctx, { step: s, loss: 0, lr: 0, momentum: 0, boxPairs: 0, imagesPerSecond: 1 });
    }
    await hook.afterTrain!(ctx);
    expect(seen).toEqual([3, 6, 7]);
    expect(() => evaluationHook(0, () => undefined)).toThrow('Error in evaluationHook: every must be an integer >= 1, got 0.');
  });

  it('lossCurveHook writes nothing for a run stopped before its first step (--max-steps 0)', async () => {
    const out = fs.mkdtempSync(path.join(os.tmpdir(), 'scrl-hooks-'));
    const ctx = { ...context(0), out } as TrainContext;
    await lossCurveHook(path.join(out, 'metrics.jsonl')).afterTrain!(ctx);
    expect(fs.existsSync(path.join(out, 'loss.png'))).toBe(false);
    fs.rmSync(out, { recursive: true });
  });
});
