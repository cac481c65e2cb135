import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '@scrl/roi-align';
import { describeEachBackend } from '@scrl/testing';
import {
  DEFAULT_DETECTION_CONFIG,
  createFcosDetector,
  detectionLearningRate,
  fcosTargets,
  fineTuneDetection,
} from '../index';
import type { DetectionStepInfo } from '../index';
import { tinyBackbone } from '../__tests__/tiny-backbone';
import { RECT_CATEGORIES, rectangleScenes } from '../__tests__/rectangles';

describe('fcosTargets', () => {
  it('assigns locations inside a box, by level range, smallest box first', () => {
    // Two levels: stride 8 (4x4, range (0, 64]) and stride 16 (2x2, range (64, inf)).
    const levels = [
      { stride: 8, height: 4, width: 4, offset: 0 },
      { stride: 16, height: 2, width: 2, offset: 16 },
    ];
    // Box A [0,0,20,20] holds the stride-8 locations (4,4), (12,4), (4,12), (12,12).
    // Box B [0,0,32,32] (larger) holds all 16 stride-8 locations; where A and B overlap, A wins.
    const t = fcosTargets(levels, [{ boxes: [[0, 0, 20, 20], [0, 0, 32, 32]], labels: [1, 0] }], 2);
    expect(t.numPos).toBe(16);
    const label = (k: number): number => (t.cls[k * 2] ? 0 : t.cls[k * 2 + 1] ? 1 : -1);
    expect([0, 1, 4, 5].map(label)).toEqual([1, 1, 1, 1]);
    expect([2, 3, 15].map(label)).toEqual([0, 0, 0]);
    // Location (4, 4) in A: l = t = 4, r = b = 16, in stride units 0.5, 0.5, 2, 2;
    // centre-ness sqrt(4/16 * 4/16) = 0.25.
    expect(Array.from(t.box.slice(0, 4))).toEqual([0.5, 0.5, 2, 2]);
    expect(t.ctr[0]).toBeCloseTo(0.25, 6);
    // The stride-16 level gets nothing: max distance <= 32 is outside (64, inf).
    expect(Array.from(t.pos.slice(16))).toEqual([0, 0, 0, 0]);
  });
});

describe('detectionLearningRate', () => {
  it('warms up linearly, then drops 10x at the decay points', () => {
    const c = { ...DEFAULT_DETECTION_CONFIG, steps: 90, lr: 0.01, warmupSteps: 10, warmupFactor: 0.001 };
    expect(detectionLearningRate(c, 0)).toBeCloseTo(0.01 * 0.001, 12);
    expect(detectionLearningRate(c, 5)).toBeCloseTo(0.01 * (0.001 * 0.5 + 0.5), 12);
    expect(detectionLearningRate(c, 10)).toBeCloseTo(0.01, 12);
    expect(detectionLearningRate(c, 60)).toBeCloseTo(0.001, 12);
    expect(detectionLearningRate(c, 80)).toBeCloseTo(0.0001, 12);
  });
});

// The overfit run is ~100 optimiser steps: on wasm (XNNPACK) it takes well under two
// minutes on one core; the cpu backend's loops are ~10x slower under jest, so there it gets
// the short smoke test below instead.
describe('fineTuneDetection [wasm]', () => {
  beforeAll(async () => {
    await initBackend({ backend: 'wasm', log: null });
  });

  it('overfits four tiny images to a high AP50', () => {
    const scenes = rectangleScenes(4);
    const backbone = tinyBackbone([16, 16, 32, 32, 32], 5);
    const steps: DetectionStepInfo[] = [];
    const before = tf.memory().numTensors;
    const result = fineTuneDetection({
      backbone,
      categories: RECT_CATEGORIES,
      train: scenes,
      val: scenes,
      // A 16-channel, 1-conv head keeps each step cheap.
      config: { steps: 100, batchSize: 4, lr: 0.02, warmupSteps: 10, flipProb: 0, fpnChannels: 16, headConvs: 1 },
      onStep: (s) => steps.push(s),
    });
    const ap50 = result.coco.stats[1];
    console.log(`[${tf.getBackend()}] overfit AP50 ${ap50.toFixed(3)} AP ${result.coco.stats[0].toFixed(3)} loss ${steps[0].loss.toFixed(3)} -> ${steps[steps.length - 1].loss.toFixed(3)}`);
    expect(steps).toHaveLength(100);
    expect(steps[99].loss).toBeLessThan(steps[0].loss / 3);
    expect(ap50).toBeGreaterThan(0.9);
    result.detector.dispose();
    // Only the backbone's own variables remain from this run.
    expect(tf.memory().numTensors).toBe(before);
    backbone.dispose();
  }, 600_000);

  it('scores an untrained detector near zero (the test above can fail)', () => {
    const scenes = rectangleScenes(4);
    const backbone = tinyBackbone([16, 16, 32, 32, 32], 5);
    const result = fineTuneDetection({
      backbone,
      categories: RECT_CATEGORIES,
      train: scenes,
      val: scenes,
      config: { steps: 1, batchSize: 4, lr: 0, warmupSteps: 0, fpnChannels: 16, headConvs: 1 },
    });
    expect(result.coco.stats[1]).toBeLessThan(0.2);
    result.detector.dispose();
    backbone.dispose();
  });
});

describeEachBackend('fineTuneDetection', () => {
  it('runs steps with flips, reports progress and leaks nothing', () => {
    const scenes = rectangleScenes(2);
    const backbone = tinyBackbone([8, 8, 16, 16, 16], 2);
    const before = tf.memory().numTensors;
    const steps: DetectionStepInfo[] = [];
    const result = fineTuneDetection({
      backbone,
      categories: RECT_CATEGORIES,
      train: scenes,
      val: scenes,
      config: { steps: 2, batchSize: 2, flipProb: 1, fpnChannels: 8, headConvs: 1 },
      onStep: (s) => steps.push(s),
    });
    expect(steps.map((s) => s.step)).toEqual([1, 2]);
    expect(steps.every((s) => Number.isFinite(s.loss) && s.loss > 0 && s.etaMs >= 0)).toBe(true);
    expect(result.coco.stats).toHaveLength(12);
    expect(result.groundTruth.annotations).toHaveLength(scenes.reduce((n, s) => n + s.bboxes.length, 0));
    result.detector.dispose();
    expect(tf.memory().numTensors).toBe(before);
    backbone.dispose();
  });

  it('rejects categories missing from the list', () => {
    const scenes = rectangleScenes(1);
    const backbone = tinyBackbone();
    expect(() =>
      fineTuneDetection({ backbone, categories: [{ id: 1, name: 'red' }], train: scenes.map((s) => ({ ...s, categoryIds: s.categoryIds.map(() => 2) })), val: scenes }),
    ).toThrow(/fineTuneDetection: train\[0\] \(image 1\) uses category id 2/);
    expect(() => createFcosDetector(backbone, { numClasses: 0 })).toThrow(/createFcosDetector: numClasses/);
    backbone.dispose();
  });
});
