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
  // Two levels: stride 8 (4x4, range (0, 64)) and stride 16 (2x2, range (64, inf)). Locations
  // sit at (j * stride, i * stride), torchvision's anchor centres: k = 4 i + j at (8 j, 8 i).
  const levels = [
    { stride: 8, height: 4, width: 4, offset: 0 },
    { stride: 16, height: 2, width: 2, offset: 16 },
  ];
  // Box A [0,0,20,20] strictly contains (8,8), (16,8), (8,16), (16,16): k = 5, 6, 9, 10.
  // Box B [0,0,32,32] (larger) contains x, y in {8, 16, 24}; where A and B overlap, A wins.
  const batch = [{ boxes: [[0, 0, 20, 20], [0, 0, 32, 32]] as Array<[number, number, number, number]>, labels: [1, 0] }];
  const label = (t: { cls: Float32Array }, k: number): number => (t.cls[k * 2] ? 0 : t.cls[k * 2 + 1] ? 1 : -1);

  it('assigns locations inside a box, by level range, smallest box first', () => {
    const t = fcosTargets(levels, batch, 2);
    expect(t.numPos).toBe(9);
    expect([5, 6, 9, 10].map((k) => label(t, k))).toEqual([1, 1, 1, 1]);
    expect([7, 11, 13, 14, 15].map((k) => label(t, k))).toEqual([0, 0, 0, 0, 0]);
    expect([0, 1, 4, 12].map((k) => label(t, k))).toEqual([-1, -1, -1, -1]);
    // Location (8, 8) in A: l = t = 8, r = b = 12, in stride units 1, 1, 1.5, 1.5;
    // centre-ness sqrt(8/12 * 8/12).
    expect(Array.from(t.box.slice(20, 24))).toEqual([1, 1, 1.5, 1.5]);
    expect(t.ctr[5]).toBeCloseTo(8 / 12, 6);
    // The stride-16 level gets nothing: max distance <= 24 is outside (64, inf).
    expect(Array.from(t.pos.slice(16))).toEqual([0, 0, 0, 0]);
  });

  it('samples only near the box centre (torchvision: Chebyshev distance < radius * stride)', () => {
    // Radius 0.5 stride = 4 px: A (centre (10, 10)) keeps (8, 8) only; B (centre (16, 16))
    // keeps (16, 16), which A no longer claims.
    const t = fcosTargets(levels, batch, 2, { centerSampling: 0.5 });
    expect(t.numPos).toBe(2);
    expect([label(t, 5), label(t, 10)]).toEqual([1, 0]);
    // Off (0) is the inside-the-box rule; the default radius 1.5 keeps all nine here.
    expect(fcosTargets(levels, batch, 2, { centerSampling: 0 }).numPos).toBe(9);
    expect(() => fcosTargets(levels, batch, 2, { centerSampling: -1 })).toThrow(/fcosTargets: centerSampling must be a number >= 0/);
  });
});

describe('detectionLearningRate', () => {
  it('warms up linearly, then drops 10x at the decay points (step schedule)', () => {
    const c = { ...DEFAULT_DETECTION_CONFIG, steps: 90, lr: 0.01, warmupSteps: 10, warmupFactor: 0.001, lrSchedule: 'step' as const };
    expect(detectionLearningRate(c, 0)).toBeCloseTo(0.01 * 0.001, 12);
    expect(detectionLearningRate(c, 5)).toBeCloseTo(0.01 * (0.001 * 0.5 + 0.5), 12);
    expect(detectionLearningRate(c, 10)).toBeCloseTo(0.01, 12);
    expect(detectionLearningRate(c, 60)).toBeCloseTo(0.001, 12);
    expect(detectionLearningRate(c, 80)).toBeCloseTo(0.0001, 12);
  });

  it('multiplies the warmup by a cosine over the whole schedule (default, detectron2 WarmupCosineLR)', () => {
    const c = { ...DEFAULT_DETECTION_CONFIG, steps: 100, lr: 0.01, warmupSteps: 10, warmupFactor: 0.001 };
    expect(c.lrSchedule).toBe('cosine');
    expect(detectionLearningRate(c, 0)).toBeCloseTo(0.01 * 0.001, 12);
    expect(detectionLearningRate(c, 5)).toBeCloseTo(0.01 * (0.001 * 0.5 + 0.5) * 0.5 * (1 + Math.cos(Math.PI * 0.05)), 12);
    expect(detectionLearningRate(c, 50)).toBeCloseTo(0.005, 12);
    expect(detectionLearningRate(c, 99)).toBeCloseTo(0.01 * 0.5 * (1 + Math.cos(Math.PI * 0.99)), 12);
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

  it('freezeBackbone trains the FPN and head only: every backbone weight keeps its value', () => {
    const scenes = rectangleScenes(2);
    const snapshot = (b: ReturnType<typeof tinyBackbone>) => b.parameters().map((p) => ({ name: p.name, data: Array.from(p.variable.dataSync()) }));
    for (const freezeBackbone of [true, false]) {
      const backbone = tinyBackbone([8, 8, 16, 16, 16], 2);
      const before = snapshot(backbone);
      const result = fineTuneDetection({
        backbone,
        categories: RECT_CATEGORIES,
        train: scenes,
        val: scenes,
        config: { steps: 2, batchSize: 2, fpnChannels: 8, headConvs: 1, freezeBackbone },
      });
      const after = snapshot(backbone);
      const changed = before.filter((p, i) => p.data.some((v, j) => v !== after[i].data[j])).map((p) => p.name);
      // Frozen: nothing of the backbone moves. Trained (the control, so the check can fail): convs and BN do.
      if (freezeBackbone) expect(changed).toEqual([]);
      else expect(changed.length).toBeGreaterThan(before.length / 2);
      const head = result.detector.parameters().filter((p) => !p.name.startsWith('backbone.'));
      expect(head.length).toBeGreaterThan(0);
      result.detector.dispose();
      backbone.dispose();
    }
  });

  it('rejects a non-boolean freezeBackbone', () => {
    const scenes = rectangleScenes(1);
    const backbone = tinyBackbone();
    expect(() =>
      fineTuneDetection({ backbone, categories: RECT_CATEGORIES, train: scenes, val: scenes, config: { freezeBackbone: 'yes' as unknown as boolean } }),
    ).toThrow(/config\.freezeBackbone must be true or false/);
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
