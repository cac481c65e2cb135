import * as tf from '@tensorflow/tfjs-core';
import type { NamedParameter } from '@scrl/models';
import { describeEachBackend, maxRelativeError } from '@scrl/testing';
import { multiStepLearningRateAt, SgdMomentum } from './index';
import fixture from './__fixtures__/sgd.json';

describeEachBackend('SgdMomentum', () => {
  it('follows torch.optim.SGD (momentum, weight decay on weights only, scaled gradients)', async () => {
    const w: NamedParameter = { name: 'fc.weight', role: 'weight', variable: tf.variable(tf.tensor2d(fixture.weight0, [3, 4])) };
    const b: NamedParameter = { name: 'fc.bias', role: 'bias', variable: tf.variable(tf.tensor1d(fixture.bias0)) };
    const sgd = new SgdMomentum([w, b], { momentum: fixture.momentum, weightDecay: fixture.weightDecay });
    for (const s of fixture.steps) {
      const grads = { [w.variable.name]: tf.tensor2d(s.gradWeight, [3, 4]), [b.variable.name]: tf.tensor1d(s.gradBias) };
      sgd.step(grads, s.lr, s.scale);
      tf.dispose(Object.values(grads));
      expect(maxRelativeError(await w.variable.data(), s.weight)).toBeLessThan(1e-5);
      expect(maxRelativeError(await b.variable.data(), s.bias)).toBeLessThan(1e-5);
    }
    sgd.dispose();
    tf.dispose([w.variable, b.variable]);
  });

  it('rejects a momentum outside [0, 1)', () => {
    expect(() => new SgdMomentum([], { momentum: 1 })).toThrow('Error in SgdMomentum: options.momentum must be in [0, 1), got 1.');
  });
});

describe('multiStepLearningRateAt', () => {
  it('warms up linearly, then decays by gamma at each milestone (detectron2 WarmupMultiStepLR)', () => {
    const s = { baseLr: 0.01, milestones: [60, 80], warmupSteps: 10, warmupFactor: 0.001 };
    expect(multiStepLearningRateAt(0, s)).toBeCloseTo(0.01 * 0.001, 15);
    expect(multiStepLearningRateAt(5, s)).toBeCloseTo(0.01 * (0.001 * 0.5 + 0.5), 15);
    expect(multiStepLearningRateAt(10, s)).toBe(0.01);
    expect(multiStepLearningRateAt(60, s)).toBeCloseTo(0.001, 15);
    expect(multiStepLearningRateAt(80, s)).toBeCloseTo(0.0001, 15);
  });
});
