import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '@scrl/roi-align';
import { carveValidation, sweepDetectionLr } from '../index';
import { tinyBackbone } from '../__tests__/tiny-backbone';
import { RECT_CATEGORIES, rectangleScenes } from '../__tests__/rectangles';

describe('carveValidation', () => {
  it('holds out the last fraction of the training samples, at least one', () => {
    expect(carveValidation([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 0.2)).toEqual({ fit: [1, 2, 3, 4, 5, 6, 7, 8], choose: [9, 10] });
    expect(carveValidation([1, 2, 3], 0.1)).toEqual({ fit: [1, 2], choose: [3] });
    expect(() => carveValidation([1], 0.2)).toThrow(/carveValidation: 1 training samples leave none to fit/);
    expect(() => carveValidation([1, 2], 1)).toThrow(/carveValidation: valFraction must be in \(0, 1\)/);
  });
});

// Two sweep runs of 60 tiny steps; wasm only (see finetune.test.ts on the cpu backend's speed).
describe('sweepDetectionLr [wasm]', () => {
  beforeAll(async () => {
    await initBackend({ backend: 'wasm', log: null });
  });

  it('picks the learning rate that learns, scored on the held-out end of the training samples', () => {
    // Four scenes, then a copy of the first under a new id: the sweep holds out the last
    // fifth, the copy, so a run that learns its training scenes scores well on it and a run
    // at a negligible learning rate does not. The negligible one is listed first: a tie
    // would pick it and fail the test.
    const scenes = rectangleScenes(4);
    const train = [...scenes, { ...scenes[0], id: 99 }];
    let built = 0;
    const before = tf.memory().numTensors;
    const started: number[] = [];
    const result = sweepDetectionLr({
      makeBackbone: () => {
        built++;
        return tinyBackbone([16, 16, 32, 32, 32], 5);
      },
      categories: RECT_CATEGORIES,
      train,
      lrs: [1e-7, 0.02],
      config: { steps: 60, batchSize: 4, warmupSteps: 5, flipProb: 0, fpnChannels: 16, headConvs: 1 },
      onRunStart: ({ lr }) => started.push(lr),
    });
    console.log(`[${tf.getBackend()}] sweep ${result.runs.map((r) => `lr ${r.lr}: AP50 ${r.ap50.toFixed(3)}`).join(', ')}`);
    expect(started).toEqual([1e-7, 0.02]);
    expect(built).toBe(2);
    expect([result.sweepTrain, result.sweepVal]).toEqual([4, 1]);
    expect(result.runs[1].ap50).toBeGreaterThan(0.5);
    expect(result.runs[0].ap50).toBeLessThan(0.2);
    expect(result.chosenLr).toBe(0.02);
    // Every backbone and detector of the sweep is disposed.
    expect(tf.memory().numTensors).toBe(before);
  }, 600_000);

  it('rejects an empty or non-positive list', () => {
    const base = { makeBackbone: () => tinyBackbone(), categories: RECT_CATEGORIES, train: rectangleScenes(5) };
    expect(() => sweepDetectionLr({ ...base, lrs: [] })).toThrow(/sweepDetectionLr: lrs must list at least one/);
    expect(() => sweepDetectionLr({ ...base, lrs: [0.01, 0] })).toThrow(/sweepDetectionLr: every learning rate must be a finite number > 0, got 0/);
  });
});
