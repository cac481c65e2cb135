import * as tf from '@tensorflow/tfjs-core';
import { describeEachBackend, expectNoLeak, maxRelativeError } from '@scrl/testing';
import { byolLoss, infoNce, l2Normalize, regressionLoss, scrlLoss } from './index';
import fixture from './__fixtures__/loss.json';

const t2 = (values: number[], shape: number[]) => tf.tensor2d(values, shape as [number, number]);

describeEachBackend('regressionLoss', () => {
  it('matches hand-computed values (orthogonal, parallel, opposite, 45 degrees)', async () => {
    const q = t2([1, 0, 1, 0, 1, 0, 1, 1], [4, 2]);
    const z = t2([0, 1, 2, 0, -1, 0, 1, 0], [4, 2]);
    const out = regressionLoss(q, z);
    expect(out.shape).toEqual([4]);
    const v = await out.data();
    expect(v[0]).toBeCloseTo(2, 6);
    expect(v[1]).toBeCloseTo(0, 6);
    expect(v[2]).toBeCloseTo(4, 6);
    expect(v[3]).toBeCloseTo(2 - Math.SQRT2, 6);
    tf.dispose([q, z, out]);
  });

  it('matches PyTorch values and gradients (rel. error < 1e-5)', async () => {
    const c = fixture.regression;
    const q = t2(c.q, c.shape);
    const z = t2(c.z, c.shape);
    const w = tf.tensor1d(c.rowWeights);
    const value = regressionLoss(q, z);
    const [gq, gz] = tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.sum(tf.mul(regressionLoss(a, b), w)))([q, z]);
    expect(maxRelativeError(await value.data(), c.value)).toBeLessThan(1e-5);
    expect(maxRelativeError(await gq.data(), c.gradQ)).toBeLessThan(1e-5);
    expect(maxRelativeError(await gz.data(), c.gradZ)).toBeLessThan(1e-5);
    tf.dispose([q, z, w, value, gq, gz]);
  });

  it('does not leak tensors', async () => {
    const q = tf.ones([3, 4]);
    const z = tf.ones([3, 4]);
    await expectNoLeak(() => regressionLoss(q, z).dispose());
    tf.dispose([q, z]);
  });

  it('names the argument and shape on bad input', () => {
    const q = tf.ones([3, 4]);
    const z = tf.ones([3, 5]);
    const v = tf.ones([4]);
    expect(() => regressionLoss(q, z)).toThrow('Error in regressionLoss: z must have the shape of q [3,4] but had shape [3,5]');
    expect(() => regressionLoss(v, v)).toThrow('Error in regressionLoss: q must have shape [N, D] but had shape [4]');
    tf.dispose([q, z, v]);
  });
});

describeEachBackend('scrlLoss / byolLoss', () => {
  const vars = (c: typeof fixture.scrl) => [c.q1, c.q2, c.z1, c.z2].map((a) => t2(a, c.shape));

  it('matches PyTorch values and gradients for all four inputs (rel. error < 1e-5)', async () => {
    const c = fixture.scrl;
    const xs = vars(c);
    const { value, grads } = tf.valueAndGrads((a: tf.Tensor, b: tf.Tensor, d: tf.Tensor, e: tf.Tensor) =>
      scrlLoss(a, b, d, e),
    )(xs);
    expect(maxRelativeError(await value.data(), [c.value])).toBeLessThan(1e-5);
    const expected = [c.gradQ1, c.gradQ2, c.gradZ1, c.gradZ2];
    for (let i = 0; i < 4; i++) {
      expect(maxRelativeError(await grads[i].data(), expected[i])).toBeLessThan(1e-5);
    }
    tf.dispose([...xs, value, ...grads]);
  });

  it('is the mean over pairs of l(q1, z2) + l(q2, z1) (hand-computed)', async () => {
    // Pair 0: l([1,0],[0,1]) + l([0,1],[1,0]) = 2 + 2; pair 1: l([1,0],[1,0]) + l([0,1],[0,-1]) = 0 + 4.
    const q1 = t2([1, 0, 1, 0], [2, 2]);
    const q2 = t2([0, 1, 0, 1], [2, 2]);
    const z1 = t2([1, 0, 0, -1], [2, 2]);
    const z2 = t2([0, 1, 1, 0], [2, 2]);
    const loss = scrlLoss(q1, q2, z1, z2);
    expect(await loss.data()).toEqual(new Float32Array([4]));
    const b = byolLoss(q1, q2, z1, z2);
    expect(await b.data()).toEqual(new Float32Array([4]));
    tf.dispose([q1, q2, z1, z2, loss, b]);
  });

  it('gives a zero loss with a zero gradient for zero box pairs', async () => {
    const xs = [0, 1, 2, 3].map(() => tf.zeros([0, 8]));
    const { value, grads } = tf.valueAndGrads((a: tf.Tensor, b: tf.Tensor, d: tf.Tensor, e: tf.Tensor) =>
      scrlLoss(a, b, d, e),
    )(xs);
    expect(await value.data()).toEqual(new Float32Array([0]));
    for (const g of grads) expect(g.shape).toEqual([0, 8]);
    // Combined with a parameter, the gradient reaching it is exactly zero and finite.
    const w = tf.variable(tf.ones([8, 8]));
    const x = tf.zeros([0, 8]);
    const { value: v2, grads: g2 } = tf.variableGrads(() => {
      const q = tf.matMul(x, w);
      return scrlLoss(q, q, x, x);
    }, [w]);
    expect(await v2.data()).toEqual(new Float32Array([0]));
    expect(Array.from(await g2[w.name].data()).every((g) => g === 0)).toBe(true);
    tf.dispose([...xs, value, ...grads, w, x, v2, g2[w.name]]);
  });

  it('rejects mismatched inputs naming the argument', () => {
    const a = tf.ones([3, 4]);
    const b = tf.ones([2, 4]);
    expect(() => byolLoss(a, a, b, a)).toThrow('Error in byolLoss: z1 must have the shape of q1 [3,4] but had shape [2,4]');
    tf.dispose([a, b]);
  });
});

describeEachBackend('infoNce', () => {
  it('matches PyTorch cross-entropy over cosine logits (rel. error < 1e-5)', async () => {
    const c = fixture.infoNce;
    const q = t2(c.q, c.shape);
    const k = t2(c.k, c.shape);
    const { value, grads } = tf.valueAndGrads((a: tf.Tensor, b: tf.Tensor) => infoNce(a, b, c.temperature))([q, k]);
    expect(maxRelativeError(await value.data(), [c.value])).toBeLessThan(1e-5);
    expect(maxRelativeError(await grads[0].data(), c.gradQ)).toBeLessThan(1e-5);
    expect(maxRelativeError(await grads[1].data(), c.gradK)).toBeLessThan(1e-5);
    tf.dispose([q, k, value, ...grads]);
  });

  it('is log(N) when all keys are equal (hand-computed)', async () => {
    const q = t2([1, 0, 0, 1, 1, 1], [3, 2]);
    const k = t2([1, 1, 1, 1, 1, 1], [3, 2]);
    const loss = infoNce(q, k, 0.5);
    expect((await loss.data())[0]).toBeCloseTo(Math.log(3), 5);
    tf.dispose([q, k, loss]);
  });

  it('rejects a non-positive temperature', () => {
    const q = tf.ones([2, 2]);
    expect(() => infoNce(q, q, 0)).toThrow('Error in infoNce: temperature must be a finite number > 0 but got 0');
    q.dispose();
  });
});

describeEachBackend('l2Normalize', () => {
  it('matches F.normalize including the zero-row gradient g / eps', async () => {
    const c = fixture.normalize;
    const x = t2(c.x, c.shape);
    const g = t2(c.upstream, c.shape);
    const y = l2Normalize(x);
    const dx = tf.grad((a: tf.Tensor) => tf.sum(tf.mul(l2Normalize(a), g)))(x);
    expect(maxRelativeError(await y.data(), c.value)).toBeLessThan(1e-6);
    expect(maxRelativeError(await dx.data(), c.grad)).toBeLessThan(1e-5);
    expect(Array.from(await dx.data()).every(Number.isFinite)).toBe(true);
    tf.dispose([x, g, y, dx]);
  });
});
