/**
 * Checkpoint and resume of detection fine-tuning: a run stopped at a checkpoint and continued
 * from its state ends bit-identical to one that was never stopped (same backend).
 */
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '@scrl/roi-align';
import { createResNet } from '@scrl/models';
import { fineTuneDetection } from '../index';
import type { DetectionFineTuneConfig, DetectionTrainingState } from '../index';
import { RECT_CATEGORIES, rectangleScenes } from '../__tests__/rectangles';

jest.setTimeout(300_000);

const CONFIG: Partial<DetectionFineTuneConfig> = {
  steps: 7,
  batchSize: 2,
  imageSize: 32,
  lr: 0.02,
  warmupSteps: 2,
  lrDecayAt: [0.5],
  flipProb: 0.5,
  fpnChannels: 8,
  headConvs: 1,
};
// A ResNet-18 of width 4 has BatchNorm running statistics, which a checkpoint must carry too.
const backbone = () => createResNet({ depth: 18, baseWidth: 4, smallInput: true, seed: 5 });

function run(options: { resumeFrom?: DetectionTrainingState; every?: number; config?: Partial<DetectionFineTuneConfig> }) {
  const scenes = rectangleScenes(5, 32);
  const b = backbone();
  const states: DetectionTrainingState[] = [];
  const losses: number[] = [];
  try {
    const result = fineTuneDetection({
      backbone: b,
      categories: RECT_CATEGORIES,
      train: scenes.slice(0, 3),
      val: scenes.slice(3),
      config: { ...CONFIG, ...options.config },
      resumeFrom: options.resumeFrom,
      checkpointEvery: options.every ?? 3,
      onCheckpoint: (s) => states.push(s),
      onStep: (s) => losses.push(s.loss),
    });
    result.detector.dispose();
    return { states, losses, history: result.history.map((h) => h.loss), stats: result.coco.stats };
  } finally {
    b.dispose();
  }
}

describe('fineTuneDetection checkpoint and resume [wasm]', () => {
  beforeAll(async () => {
    await initBackend({ backend: 'wasm', log: null });
  });

  it('calls onCheckpoint every N steps and at the last step; resuming from any of them ends bit-identical', () => {
    const full = run({});
    expect(full.states.map((s) => s.step)).toEqual([3, 6, 7]);
    const last = full.states[2];
    expect(Object.keys(last.tensors).some((k) => k.endsWith('running_mean'))).toBe(true);
    expect(Object.keys(last.tensors).some((k) => k.startsWith('velocity.'))).toBe(true);
    for (const from of full.states.slice(0, 2)) {
      const resumed = run({ resumeFrom: from });
      expect(resumed.losses).toEqual(full.losses.slice(from.step));
      expect(resumed.history).toEqual(full.history);
      const end = resumed.states[resumed.states.length - 1];
      expect(end.step).toBe(7);
      expect(end.rngDraws).toBe(last.rngDraws);
      for (const [name, t] of Object.entries(last.tensors)) {
        expect([name, Buffer.from(end.tensors[name].data.buffer).equals(Buffer.from(t.data.buffer))]).toEqual([name, true]);
      }
      expect(resumed.stats).toEqual(full.stats);
    }
  });

  it('refuses a state saved with another schedule or architecture, naming what differs', () => {
    const full = run({ config: { steps: 3 } });
    const tensorsBefore = tf.memory().numTensors;
    expect(() => run({ resumeFrom: full.states[0], config: { steps: 4 } })).toThrow(/another schedule \(steps: 3 then, 4 now\)/);
    const wrong = { ...full.states[0], tensors: { ...full.states[0].tensors } };
    const name = Object.keys(wrong.tensors).find((k) => k.startsWith('backbone.conv1'))!;
    wrong.tensors[name] = { shape: [1, 1, 1, 1], data: new Float32Array(1) };
    expect(() => run({ resumeFrom: wrong, config: { steps: 3 } })).toThrow(new RegExp(`shape \\[1,1,1,1\\] for '${name.replace(/\./g, '\\.')}'.*another architecture`));
    expect(tf.memory().numTensors).toBe(tensorsBefore);
  });
});
