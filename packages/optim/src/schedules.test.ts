import { learningRateAt, momentumAt, scaledLearningRate } from './index';

describe('schedules', () => {
  it('scales the learning rate linearly with the batch size', () => {
    expect(scaledLearningRate(0.45, 8192)).toBeCloseTo(14.4, 12);
    expect(scaledLearningRate(0.45, 256)).toBe(0.45);
    expect(scaledLearningRate(0.2, 32)).toBeCloseTo(0.025, 15);
  });

  it('warms up linearly per step, then decays by a cosine to 0', () => {
    const s = { peakLr: 2, warmupSteps: 4, totalSteps: 12 };
    expect([0, 1, 2, 3].map((k) => learningRateAt(k, s))).toEqual([0.5, 1, 1.5, 2]);
    // Cosine over the remaining 8 steps: peak * (1 + cos(pi * j / 8)) / 2.
    expect(learningRateAt(4, s)).toBe(2);
    expect(learningRateAt(6, s)).toBeCloseTo(1 + Math.cos(Math.PI / 4), 12);
    expect(learningRateAt(8, s)).toBeCloseTo(1, 12);
    expect(learningRateAt(11, s)).toBeCloseTo(1 + Math.cos((7 * Math.PI) / 8), 12);
    expect(learningRateAt(12, s)).toBe(0);
    expect(learningRateAt(50, s)).toBe(0);
    expect(learningRateAt(0, { peakLr: 1, warmupSteps: 0, totalSteps: 10 })).toBe(1);
  });

  it('moves the EMA momentum from m_base to 1 by a cosine', () => {
    expect(momentumAt(0, 0.97, 100)).toBeCloseTo(0.97, 15);
    expect(momentumAt(50, 0.97, 100)).toBeCloseTo(0.985, 12);
    expect(momentumAt(25, 0.996, 100)).toBeCloseTo(1 - (0.004 * (Math.SQRT1_2 + 1)) / 2, 12);
    expect(momentumAt(100, 0.97, 100)).toBe(1);
    expect(momentumAt(150, 0.97, 100)).toBe(1);
  });

  it('rejects bad arguments with the name and value', () => {
    expect(() => learningRateAt(-1, { peakLr: 1, warmupSteps: 0, totalSteps: 10 })).toThrow(
      'Error in learningRateAt: step must be an integer >= 0 but got -1',
    );
    expect(() => learningRateAt(0, { peakLr: 1, warmupSteps: 20, totalSteps: 10 })).toThrow(
      'warmupSteps (20) must not exceed totalSteps (10)',
    );
    expect(() => momentumAt(0, 1.5, 10)).toThrow('Error in momentumAt: base must be in [0, 1] but got 1.5');
    expect(() => scaledLearningRate(0.1, 0)).toThrow('batchSize must be an integer >= 1 but got 0');
  });
});
