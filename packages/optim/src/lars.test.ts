import * as tf from '@tensorflow/tfjs-core';
import type { NamedParameter, ParameterRole } from '@scrl/models';
import { describeEachBackend, maxRelativeError } from '@scrl/testing';
import { Lars } from './index';
import fixture from './__fixtures__/lars.json';

function param(name: string, role: ParameterRole, values: number[], shape = [values.length]): NamedParameter {
  return { name, role, variable: tf.variable(tf.tensor(values, shape, 'float32')) };
}

describeEachBackend('Lars', () => {
  it('applies the stated update to an adapted weight (closed form, two steps)', async () => {
    const w = param('fc.weight', 'weight', [3, 4]);
    const opt = new Lars([w], { momentum: 0.9, weightDecay: 0.1, eta: 1e-3 });
    const g = tf.tensor1d([0, 1]);
    // Step 1: g' = [0.3, 1.4], trust = 1e-3 * 5 / ||g'||, v = 0.5 * trust * g'.
    let wv = [3, 4];
    let v = [0, 0];
    for (const lr of [0.5, 0.25]) {
      const gd = [0 + 0.1 * wv[0], 1 + 0.1 * wv[1]];
      const trust = (1e-3 * Math.hypot(wv[0], wv[1])) / Math.hypot(gd[0], gd[1]);
      v = v.map((vi, i) => 0.9 * vi + lr * trust * gd[i]);
      wv = wv.map((wi, i) => wi - v[i]);
      opt.step({ [w.variable.name]: g }, lr);
      expect(maxRelativeError(await w.variable.data(), wv, 1e-6)).toBeLessThan(1e-6);
    }
    expect(opt.steps).toBe(2);
    opt.dispose();
    tf.dispose([w.variable, g]);
  });

  it('steps biases and BatchNorm parameters by lr, without trust ratio or weight decay', async () => {
    const b = param('fc.bias', 'bias', [1, 2]);
    const bn = param('bn1.weight', 'bn-weight', [1, 2]);
    const opt = new Lars([b, bn], { momentum: 0.9, weightDecay: 0.1 });
    const g = tf.tensor1d([0.5, -1]);
    opt.step({ [b.variable.name]: g, [bn.variable.name]: g }, 0.5);
    // v = 0.5 * g = [0.25, -0.5]; w = [0.75, 2.5]
    expect(Array.from(await b.variable.data())).toEqual([0.75, 2.5]);
    opt.step({ [b.variable.name]: g, [bn.variable.name]: g }, 0.5);
    // v = 0.9 * [0.25, -0.5] + [0.25, -0.5] = [0.475, -0.95]; w = [0.275, 3.45]
    expect(maxRelativeError(await b.variable.data(), [0.275, 3.45], 1e-6)).toBeLessThan(1e-6);
    expect(maxRelativeError(await bn.variable.data(), [0.275, 3.45], 1e-6)).toBeLessThan(1e-6);
    opt.dispose();
    tf.dispose([b.variable, bn.variable, g]);
  });

  it('uses trust 1 when ||w|| = 0 or ||g|| = 0', async () => {
    const w = param('zero.weight', 'weight', [0, 0]);
    const u = param('u.weight', 'weight', [1, 1]);
    const opt = new Lars([w, u], { momentum: 0, weightDecay: 0 });
    const g = tf.tensor1d([1, -2]);
    const z = tf.zeros([2]);
    opt.step({ [w.variable.name]: g, [u.variable.name]: z }, 0.1);
    expect(maxRelativeError(await w.variable.data(), [-0.1, 0.2], 1e-6)).toBeLessThan(1e-6);
    expect(Array.from(await u.variable.data())).toEqual([1, 1]);
    opt.dispose();
    tf.dispose([w.variable, u.variable, g, z]);
  });

  it('follows the PyTorch re-implementation over 4 steps (tools/fixtures/lars.py)', async () => {
    const params = fixture.params.map((p) => param(p.name, p.role as ParameterRole, p.init, p.shape));
    const opt = new Lars(params, fixture.settings);
    for (const [k, s] of fixture.steps.entries()) {
      const grads: tf.NamedTensorMap = {};
      for (const p of params) grads[p.variable.name] = tf.tensor(s.grads[p.name as keyof typeof s.grads], p.variable.shape);
      opt.step(grads, s.lr);
      tf.dispose(Object.values(grads));
      for (const p of params) {
        const expected = s.params[p.name as keyof typeof s.params];
        const err = maxRelativeError(await p.variable.data(), expected, 1e-3);
        if (err >= 1e-5) throw new Error(`step ${k}, ${p.name}: relative error ${err}`);
      }
    }
    opt.dispose();
    tf.dispose(params.map((p) => p.variable));
  });

  it('round-trips its state and does not leak tensors per step', async () => {
    const make = () => [param('a.weight', 'weight', [1, -2, 3, 0.5], [2, 2]), param('a.bias', 'bias', [0.1, 0.2])];
    const p1 = make();
    const p2 = make();
    const opt1 = new Lars(p1, { weightDecay: 1e-2 });
    const grads = (ps: NamedParameter[], s: number) =>
      Object.fromEntries(ps.map((p) => [p.variable.name, tf.fill(p.variable.shape, 0.3 * s - 0.2)]));
    for (let s = 0; s < 3; s++) {
      const g = grads(p1, s);
      const before = tf.memory().numTensors;
      opt1.step(g, 0.4);
      expect(tf.memory().numTensors).toBe(before);
      tf.dispose(Object.values(g));
    }
    const state = await opt1.getState();
    // A fresh optimiser on a copy of the parameters continues identically.
    for (let i = 0; i < p1.length; i++) p2[i].variable.assign(p1[i].variable);
    const opt2 = new Lars(p2, { weightDecay: 1e-2 });
    opt2.setState(state);
    expect(opt2.steps).toBe(3);
    const g1 = grads(p1, 5);
    const g2 = grads(p2, 5);
    opt1.step(g1, 0.4);
    opt2.step(g2, 0.4);
    for (let i = 0; i < p1.length; i++) {
      expect(Array.from(await p2[i].variable.data())).toEqual(Array.from(await p1[i].variable.data()));
    }
    expect(() => new Lars(make(), { weightDecay: 0.5 }).setState(state)).toThrow(
      'Error in Lars.setState: saved weightDecay is 0.01 but this optimiser has 0.5',
    );
    tf.dispose([...Object.values(g1), ...Object.values(g2)]);
    opt1.dispose();
    opt2.dispose();
  });

  it('names the problem on bad input', () => {
    const w = param('w.weight', 'weight', [1, 2]);
    const opt = new Lars([w]);
    const g = tf.zeros([3]);
    expect(() => opt.step({ [w.variable.name]: g }, 0.1)).toThrow(
      "Error in Lars.step: gradient of 'w.weight' has shape [3] but the parameter has shape [2]",
    );
    expect(() => opt.step({ nope: g }, 0.1)).toThrow("got a gradient for variable 'nope'");
    // A bad gradient after a good one: nothing is updated.
    const b = param('b.bias', 'bias', [1, 2]);
    const two = new Lars([w, b]);
    const good = tf.ones([2]);
    expect(() => two.step({ [w.variable.name]: good, [b.variable.name]: g }, 0.1)).toThrow("gradient of 'b.bias' has shape [3]");
    expect(Array.from(w.variable.dataSync())).toEqual([1, 2]);
    two.dispose();
    tf.dispose([b.variable, good]);
    expect(() => opt.step({}, NaN)).toThrow('Error in Lars.step: lr must be a finite number >= 0 but got NaN');
    expect(() => new Lars([w], { momentum: 2 })).toThrow('Error in Lars: momentum must be a number in [0, 1] but got 2');
    opt.dispose();
    tf.dispose([w.variable, g]);
  });
});
