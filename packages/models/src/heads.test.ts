import * as tf from '@tensorflow/tfjs-core';
import { describeEachBackend, expectNoLeak, relativeNormError } from '@scrl/testing';
import { predictionHead, projectionHead, setNamedTensors } from './index';
import type { MlpHead } from './index';
import { fixtureData, formulaValue, hashUniform, readFixture } from './__tests__/formula';

function torchLayout(t: tf.Tensor): Float32Array {
  return tf.tidy(() => (t.rank === 2 ? tf.transpose(t, [1, 0]) : tf.clone(t)).dataSync() as Float32Array);
}

/** Loads the formula weights of tools/fixtures/heads.py (PyTorch layout -> ours). */
function loadFormula(head: MlpHead): void {
  const map = new Map<string, tf.Tensor>();
  for (const { name, variable } of [...head.parameters(), ...head.buffers()]) {
    const torchShape = variable.rank === 2 ? [variable.shape[1], variable.shape[0]] : variable.shape;
    const t = tf.tensor(formulaValue(name, torchShape, head.inDim), torchShape);
    map.set(name, variable.rank === 2 ? tf.transpose(t) : t);
  }
  setNamedTensors(head, map);
  tf.dispose([...map.values()]);
}

describeEachBackend('projectionHead / predictionHead', () => {
  const fixture = readFixture('heads.safetensors');
  const x = () => tf.tensor2d(Float32Array.from(hashUniform('__head_input__', 4 * 16)), [4, 16]);

  it('builds Linear -> BatchNorm1d -> ReLU -> Linear(no bias) with 4096/256 defaults and torch names', () => {
    const head = projectionHead({ inDim: 64, seed: 1 });
    expect([head.inDim, head.hiddenDim, head.outDim]).toEqual([64, 4096, 256]);
    expect(head.parameters().map((p) => [p.name, p.role, p.variable.shape])).toEqual([
      ['net.0.weight', 'weight', [64, 4096]],
      ['net.0.bias', 'bias', [4096]],
      ['net.1.weight', 'bn-weight', [4096]],
      ['net.1.bias', 'bn-bias', [4096]],
      ['net.3.weight', 'weight', [4096, 256]],
    ]);
    expect(head.buffers().map((b) => b.name)).toEqual(['net.1.running_mean', 'net.1.running_var']);
    const bound = 1 / Math.sqrt(64);
    const w = head.parameters()[0].variable.dataSync();
    let maxAbs = 0;
    for (let i = 0; i < w.length; i++) maxAbs = Math.max(maxAbs, Math.abs(w[i]));
    expect(maxAbs).toBeLessThanOrEqual(bound);
    expect(maxAbs).toBeGreaterThan(0.99 * bound);
    head.dispose();
    const pred = predictionHead({ inDim: 256, hiddenDim: 64, outDim: 32 });
    expect(pred.parameters()[4].variable.shape).toEqual([64, 32]);
    pred.dispose();
  });

  it('matches PyTorch in inference and training mode, with running statistics and gradients', async () => {
    const head = projectionHead({ inDim: 16, hiddenDim: 32, outDim: 8 });
    loadFormula(head);
    const input = x();
    const r = tf.tensor2d(Float32Array.from(hashUniform('__head_out_weights__', 4 * 8)), [4, 8]);
    await expectNoLeak(() => {
      const yEval = head.apply(input, { training: false });
      expect(relativeNormError(yEval.dataSync(), fixtureData(fixture, 'y_eval'))).toBeLessThan(1e-5);
      yEval.dispose();
      let yTrain: tf.Tensor | null = null;
      const params = head.parameters();
      const { value, grads } = tf.variableGrads(() => {
        yTrain = tf.keep(head.apply(input, { training: true }));
        return tf.sum(tf.mul(yTrain, r));
      }, params.map((p) => p.variable));
      expect(relativeNormError((yTrain as unknown as tf.Tensor).dataSync(), fixtureData(fixture, 'y_train'))).toBeLessThan(1e-5);
      const [mean, variance] = head.buffers().map((b) => b.variable.dataSync());
      expect(relativeNormError(mean, fixtureData(fixture, 'running_mean'))).toBeLessThan(1e-5);
      expect(relativeNormError(variance, fixtureData(fixture, 'running_var'))).toBeLessThan(1e-5);
      for (const p of params) {
        const g = torchLayout(grads[p.variable.name]);
        if (p.name === 'net.0.bias') {
          // BatchNorm subtracts the batch mean, so the bias before it gets no gradient (PyTorch: ~1e-17).
          expect(g.reduce((m, v) => Math.max(m, Math.abs(v)), 0)).toBeLessThan(1e-6);
          continue;
        }
        const err = relativeNormError(g, fixtureData(fixture, `grad.${p.name}`));
        if (!(err < 1e-4)) throw new Error(`gradient of ${p.name}: relative error ${err}`);
      }
      tf.dispose([value, yTrain as unknown as tf.Tensor, ...Object.values(grads)]);
    });
    tf.dispose([input, r]);
    head.dispose();
  });

  it('fails clearly in training mode with one sample, as PyTorch does, and works in inference', () => {
    const head = projectionHead({ inDim: 16, hiddenDim: 32, outDim: 8, seed: 3 });
    const one = tf.ones([1, 16]) as tf.Tensor2D;
    const before = tf.memory().numTensors;
    expect(() => head.apply(one, { training: true })).toThrow(
      /BatchNorm1d 'net.1': expected more than 1 value per channel when training, got input shape \[1, 32\]/,
    );
    expect(tf.memory().numTensors).toBe(before);
    const y = head.apply(one, { training: false });
    expect(y.shape).toEqual([1, 8]);
    tf.dispose([y, one]);
    head.dispose();
  });

  it('rejects bad options and inputs, naming them', () => {
    expect(() => projectionHead({ inDim: 0 })).toThrow('projectionHead: inDim must be a positive integer, got 0');
    expect(() => predictionHead({ inDim: 8, hiddenDim: 2.5 })).toThrow('predictionHead: hiddenDim must be a positive integer');
    const head = predictionHead({ inDim: 8, hiddenDim: 4, outDim: 2 });
    const bad = tf.ones([2, 7]) as tf.Tensor2D;
    expect(() => head.apply(bad, { training: true })).toThrow('predictionHead.apply: x must be [N, 8] (inDim), got shape [2, 7]');
    bad.dispose();
    head.dispose();
  });

  it('is reproducible from a seed', () => {
    const a = projectionHead({ inDim: 8, hiddenDim: 16, outDim: 4, seed: 7 });
    const b = projectionHead({ inDim: 8, hiddenDim: 16, outDim: 4, seed: 7 });
    const c = projectionHead({ inDim: 8, hiddenDim: 16, outDim: 4, seed: 8 });
    const pa = a.parameters()[0].variable.dataSync();
    expect(b.parameters()[0].variable.dataSync()).toEqual(pa);
    expect(c.parameters()[0].variable.dataSync()).not.toEqual(pa);
    for (const h of [a, b, c]) h.dispose();
  });
});
