import * as tf from '@tensorflow/tfjs-core';
import type { Module, NamedBuffer, NamedParameter } from '@scrl/models';
import { describeEachBackend, expectNoLeak } from '@scrl/testing';
import { copyModuleState, GradientAccumulator, updateMomentum } from './index';

/** A two-parameter module with one buffer, enough to exercise name matching. */
class Tiny implements Module {
  readonly w: tf.Variable;
  readonly b: tf.Variable;
  readonly runningMean: tf.Variable;
  constructor(w: number[], b: number[], rm: number[]) {
    this.w = tf.variable(tf.tensor2d(w, [2, 2]));
    this.b = tf.variable(tf.tensor1d(b));
    this.runningMean = tf.variable(tf.tensor1d(rm), false);
  }
  parameters(): NamedParameter[] {
    return [
      { name: 'fc.weight', variable: this.w, role: 'weight' },
      { name: 'fc.bias', variable: this.b, role: 'bias' },
    ];
  }
  buffers(): NamedBuffer[] {
    return [{ name: 'bn.running_mean', variable: this.runningMean }];
  }
  dispose(): void {
    tf.dispose([this.w, this.b, this.runningMean]);
  }
}

describeEachBackend('updateMomentum', () => {
  it('sets target = m * target + (1 - m) * online for parameters only, in place, without leaks', async () => {
    const target = new Tiny([1, 2, 3, 4], [10, 20], [5, 5]);
    const online = new Tiny([3, 2, 1, 0], [0, 0], [-1, -1]);
    const wBefore = target.w;
    await expectNoLeak(() => updateMomentum(target, online, 0.75));
    expect(target.w).toBe(wBefore);
    expect(Array.from(await target.w.data())).toEqual([1.5, 2, 2.5, 3]);
    expect(Array.from(await target.b.data())).toEqual([7.5, 15]);
    expect(Array.from(await target.runningMean.data())).toEqual([5, 5]);
    expect(Array.from(await online.w.data())).toEqual([3, 2, 1, 0]);
    updateMomentum(target, online, 1);
    expect(Array.from(await target.b.data())).toEqual([7.5, 15]);
    updateMomentum(target, online, 0);
    expect(Array.from(await target.b.data())).toEqual([0, 0]);
    target.dispose();
    online.dispose();
  });

  it('with `only`, updates just the target parameters whose online counterpart is in the set', async () => {
    const target = new Tiny([1, 2, 3, 4], [10, 20], [5, 5]);
    const online = new Tiny([3, 2, 1, 0], [0, 0], [-1, -1]);
    await expectNoLeak(() => updateMomentum(target, online, 0.75, { only: new Set([online.b]) }));
    expect(Array.from(await target.w.data())).toEqual([1, 2, 3, 4]);
    expect(Array.from(await target.b.data())).toEqual([7.5, 15]);
    // A set naming the target's own variable (not online's) selects nothing.
    updateMomentum(target, online, 0, { only: new Set([target.w]) });
    expect(Array.from(await target.w.data())).toEqual([1, 2, 3, 4]);
    target.dispose();
    online.dispose();
  });

  it('copyModuleState copies parameters and buffers', async () => {
    const target = new Tiny([1, 2, 3, 4], [10, 20], [5, 5]);
    const online = new Tiny([3, 2, 1, 0], [0, 1], [-1, -2]);
    await expectNoLeak(() => copyModuleState(target, online));
    expect(Array.from(await target.w.data())).toEqual([3, 2, 1, 0]);
    expect(Array.from(await target.runningMean.data())).toEqual([-1, -2]);
    target.dispose();
    online.dispose();
  });

  it('rejects mismatched modules and a bad momentum', () => {
    const a = new Tiny([1, 2, 3, 4], [1, 2], [0, 0]);
    const odd: Module = {
      parameters: () => [{ name: 'other.weight', variable: a.w, role: 'weight' }, a.parameters()[1]],
      buffers: () => [],
      dispose: () => undefined,
    };
    expect(() => updateMomentum(a, odd, 0.9)).toThrow("Error in updateMomentum: online has no parameter or buffer named 'fc.weight'");
    expect(() => updateMomentum(a, a, 1.2)).toThrow('Error in updateMomentum: m must be a number in [0, 1] but got 1.2');
    a.dispose();
  });
});

describeEachBackend('GradientAccumulator', () => {
  it('returns the weighted mean of micro-batch gradients (= one big batch for mean losses)', async () => {
    // Loss = mean over items of w * x_i; one batch [1, 2, 3, 4] vs micro-batches [1, 2, 3] + [4].
    const w = tf.variable(tf.scalar(2));
    const xs = [1, 2, 3, 4];
    const full = tf.variableGrads(() => tf.mean(tf.mul(w, tf.tensor1d(xs))) as tf.Scalar, [w]);
    const acc = new GradientAccumulator();
    for (const part of [[1, 2, 3], [4]]) {
      const { value, grads } = tf.variableGrads(() => tf.mean(tf.mul(w, tf.tensor1d(part))) as tf.Scalar, [w]);
      acc.add(grads, part.length);
      tf.dispose([value, ...Object.values(grads)]);
    }
    expect(acc.microBatches).toBe(2);
    const before = tf.memory().numTensors;
    const mean = acc.mean();
    // The running sum (one variable) is freed and one result is made.
    expect(tf.memory().numTensors).toBe(before);
    expect((await mean[w.name].data())[0]).toBeCloseTo((await full.grads[w.name].data())[0], 6);
    expect(acc.microBatches).toBe(0);
    tf.dispose([w, full.value, ...Object.values(full.grads), ...Object.values(mean)]);
  });

  it('gives zeros when every micro-batch had weight 0, and fails when empty', async () => {
    const acc = new GradientAccumulator();
    const g = tf.ones([3]);
    acc.add({ v: g }, 0);
    const mean = acc.mean();
    expect(Array.from(await mean.v.data())).toEqual([0, 0, 0]);
    expect(() => acc.mean()).toThrow('Error in GradientAccumulator.mean: no micro-batch was added');
    acc.add({ v: g });
    expect(() => acc.add({ u: g })).toThrow('every micro-batch must have gradients for the same variables');
    acc.reset();
    tf.dispose([g, mean.v]);
  });
});
