/**
 * The fused training-mode BatchNorm kernels against the tf.moments + tf.batchNorm path they
 * replace (outputs, running statistics, gradients of x, γ and β), their synchronised-BatchNorm
 * reducer against the full batch, their kernel count and their memory. PyTorch parity of whole
 * networks in training mode is in __tests__/parity.test.ts.
 */
import * as tf from '@tensorflow/tfjs-core';
import { describeEachBackend, maxRelativeError, relativeNormError } from '@scrl/testing';
import { mulberry32 } from '@scrl/util';
import { BATCH_NORM_EPS, BATCH_NORM_MOMENTUM, BatchNorm } from './layers';
import { fusedBatchNormAvailable, setBatchNormReducer, setFusedBatchNorm } from './index';
import type { BatchNormReducer } from './index';

interface Run {
  y: Float32Array;
  runningMean: Float32Array;
  runningVar: Float32Array;
  dx: Float32Array;
  dGamma: Float32Array;
  dBeta: Float32Array;
}

function randomArray(n: number, seed: number, mean: number, std: number): Float32Array {
  const r = mulberry32(seed);
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = mean + std * (r() + r() + r() - 1.5) * 2;
  return a;
}

/** A BatchNorm with non-trivial γ, β and running statistics (the same for every seed). */
function layer(C: number, kind: 'BatchNorm1d' | 'BatchNorm2d'): BatchNorm {
  const bn = new BatchNorm('bn', C, kind);
  tf.tidy(() => {
    bn.weight.assign(tf.tensor1d(randomArray(C, 11, 1, 0.5)));
    bn.bias.assign(tf.tensor1d(randomArray(C, 12, 0, 0.5)));
    bn.runningMean.assign(tf.tensor1d(randomArray(C, 13, 0, 1)));
    bn.runningVar.assign(tf.tensor1d(randomArray(C, 14, 2, 0.5)));
  });
  return bn;
}

/** y, the new running statistics, and the gradients of sum(y · w) for x, γ and β. */
function run(bn: BatchNorm, x: tf.Tensor, w: tf.Tensor, relu = false): Run {
  const xv = tf.variable(x, true);
  try {
    let y = new Float32Array(0);
    const { value, grads } = tf.variableGrads(() => {
      const out = relu ? bn.applyRelu(xv, true) : bn.apply(xv, true);
      y = out.dataSync() as Float32Array;
      return tf.sum(tf.mul(out, w)) as tf.Scalar;
    }, [xv, bn.weight, bn.bias]);
    const result = {
      y,
      runningMean: bn.runningMean.dataSync() as Float32Array,
      runningVar: bn.runningVar.dataSync() as Float32Array,
      dx: grads[xv.name].dataSync() as Float32Array,
      dGamma: grads[bn.weight.name].dataSync() as Float32Array,
      dBeta: grads[bn.bias.name].dataSync() as Float32Array,
    };
    tf.dispose([value, ...Object.values(grads)]);
    return result;
  } finally {
    xv.dispose();
  }
}

/** The same step in float64 (the definitions in batch-norm-kernel.ts), on the layer's values. */
function reference(bn: BatchNorm, x: Float32Array, w: Float32Array, relu: boolean): Run {
  const C = bn.numFeatures;
  const n = x.length / C;
  const gamma = bn.weight.dataSync();
  const beta = bn.bias.dataSync();
  const rm = bn.runningMean.dataSync();
  const rv = bn.runningVar.dataSync();
  const out: Run = {
    y: new Float32Array(x.length),
    runningMean: new Float32Array(C),
    runningVar: new Float32Array(C),
    dx: new Float32Array(x.length),
    dGamma: new Float32Array(C),
    dBeta: new Float32Array(C),
  };
  for (let c = 0; c < C; c++) {
    let mean = 0;
    for (let i = c; i < x.length; i += C) mean += x[i] / n;
    let variance = 0;
    for (let i = c; i < x.length; i += C) variance += (x[i] - mean) ** 2 / n;
    const invstd = 1 / Math.sqrt(variance + BATCH_NORM_EPS);
    let sumDy = 0;
    let sumDyXhat = 0;
    const g = new Float64Array(x.length);
    for (let i = c; i < x.length; i += C) {
      const xhat = (x[i] - mean) * invstd;
      const y = gamma[c] * xhat + beta[c];
      out.y[i] = relu ? Math.max(0, y) : y;
      g[i] = relu && y <= 0 ? 0 : w[i];
      sumDy += g[i];
      sumDyXhat += g[i] * xhat;
    }
    for (let i = c; i < x.length; i += C) {
      out.dx[i] = gamma[c] * invstd * (g[i] - sumDy / n - (x[i] - mean) * invstd * (sumDyXhat / n));
    }
    out.dGamma[c] = sumDyXhat;
    out.dBeta[c] = sumDy;
    const m = BATCH_NORM_MOMENTUM;
    out.runningMean[c] = (1 - m) * rm[c] + m * mean;
    out.runningVar[c] = (1 - m) * rv[c] + (m * variance * n) / (n - 1);
  }
  return out;
}

function withFused<T>(fused: boolean, fn: () => T): T {
  setFusedBatchNorm(fused);
  try {
    return fn();
  } finally {
    setFusedBatchNorm(true);
  }
}

const SHAPES: Array<[string, number[], 'BatchNorm1d' | 'BatchNorm2d', boolean]> = [
  ['NHWC', [4, 5, 6, 8], 'BatchNorm2d', false],
  ['[N, C]', [6, 33], 'BatchNorm1d', false],
  ['NHWC, one channel', [4, 3, 3, 1], 'BatchNorm2d', false],
  ['NHWC, then ReLU', [4, 5, 6, 8], 'BatchNorm2d', true],
  ['[N, C], then ReLU', [6, 33], 'BatchNorm1d', true],
];

describeEachBackend('fused training-mode BatchNorm', () => {
  afterEach(() => {
    setBatchNormReducer(null);
    setFusedBatchNorm(true);
  });

  it('is what training mode uses on this backend', () => {
    expect(fusedBatchNormAvailable()).toBe(true);
    setFusedBatchNorm(false);
    expect(fusedBatchNormAvailable()).toBe(false);
  });

  it.each(SHAPES)('matches tf.moments + tf.batchNorm (+ tf.relu): output, running statistics, gradients (%s)', (_, shape, kind, relu) => {
    const n = shape.reduce((a, b) => a * b, 1);
    // An offset mean: Σx² / N − mean² must not cancel.
    const x = tf.tensor(randomArray(n, 1, 3, 2), shape);
    const w = tf.tensor(randomArray(n, 2, 0, 1), shape);
    let exact: Run | null = null;
    const runs = [true, false].map((fused) => {
      const bn = layer(shape[shape.length - 1], kind);
      // Two steps: the second starts from the first's running statistics.
      withFused(fused, () => run(bn, x, w, relu));
      exact ??= reference(bn, x.dataSync() as Float32Array, w.dataSync() as Float32Array, relu);
      const r = withFused(fused, () => run(bn, x, w, relu));
      expect(bn.numBatchesTracked).toBe(2);
      bn.dispose();
      return r;
    });
    const [ours, stock] = runs;
    const ref = exact as unknown as Run;
    for (const key of ['y', 'runningMean', 'runningVar', 'dx', 'dGamma', 'dBeta'] as const) {
      // Both are float32 results against the float64 values: ours (float64 sums) is as close.
      const errors = { key, ours: relativeNormError(ours[key], ref[key]), stock: relativeNormError(stock[key], ref[key]) };
      expect(errors).toEqual({ key, ours: expect.any(Number), stock: expect.any(Number) });
      expect(errors.ours).toBeLessThan(Math.max(3e-7, 1.5 * errors.stock));
    }
    tf.dispose([x, w]);
  });

  it('keeps a NaN input NaN through a following tf.relu and through the gradient, as PyTorch does', () => {
    // A NaN written by JavaScript carries the sign bit, and wasm's ReLU (XNNPACK) turned it into 0:
    // a NaN in a batch then gave a finite loss instead of stopping training.
    const bn = layer(3, 'BatchNorm2d');
    const x = tf.tensor4d([1, NaN, 2, 3, 4, 5, 6, Infinity, 8, 9, 10, 11], [2, 2, 1, 3]);
    const isNaN = (t: tf.Tensor) => Array.from(t.dataSync()).map((v) => Number.isNaN(v));
    const y = bn.apply(x, true);
    const relu = tf.relu(y);
    // Channel 1 holds the NaN and channel 1 the infinity (Σx² − mean² is inf − inf): all NaN.
    expect(isNaN(relu)).toEqual(isNaN(y));
    expect(isNaN(relu).filter(Boolean).length).toBe(4);
    const g = tf.grad((v: tf.Tensor) => tf.sum(tf.relu(bn.applyRelu(v as tf.Tensor4D, true))))(x);
    expect(isNaN(g).some(Boolean)).toBe(true);
    tf.dispose([x, y, relu, g]);
    bn.dispose();
  });

  it.each([
    ['C a multiple of 4 (four channels per pass)', 8],
    ['C not a multiple of 4', 6],
  ])('applies the ReLU and its mask exactly as y > 0 ? y : 0, zeros and overflows to ±∞ included (%s)', (_, C) => {
    // The ReLU paths for finite statistics select by the float32 sign bit instead of branching:
    // they must agree with the plain definition on every element, also where x · a + b is exactly
    // 0 or −0 and where x · a overflows float32 to ±∞.
    const rows = 37;
    const xs = randomArray(rows * C, 21, 0, 2);
    for (let i = 0; i < xs.length; i += 5) xs[i] = 0;
    const x = tf.tensor2d(xs, [rows, C]);
    const gamma = tf.tensor1d(Array.from({ length: C }, (_, c) => (c === 1 ? 3e38 : c === 2 ? -3e38 : 1 + c / 4)));
    const beta = tf.tensor1d(Array.from({ length: C }, (_, c) => (c === 3 ? -0 : c % 2 === 0 ? 0.5 : -0.25)));
    const zeros = tf.zeros([C]);
    const ones = tf.ones([C]);
    const forward = (relu: boolean) =>
      tf.engine().runKernel('ScrlBatchNormTraining', { x, scale: gamma, offset: beta, runningMean: zeros, runningVar: ones }, { epsilon: 1e-5, momentum: 0.1, relu }) as tf.Tensor[];
    const plain = forward(false);
    const fused = forward(true);
    const y = plain[0].dataSync();
    const yRelu = fused[0].dataSync();
    expect(y.some((v) => v === Infinity) && y.some((v) => v === -Infinity)).toBe(true);
    // ... with finite affine terms α, β − mean · α (the stats output's third and fourth rows): the branch-free path.
    expect(fused[3].dataSync().subarray(3 * C, 5 * C).every(Number.isFinite)).toBe(true);
    expect(Array.from(yRelu)).toEqual(Array.from(y, (v) => (v > 0 ? v : 0)));

    // The backward's mask, seen in dβ = Σ dy over y > 0 (dy holds a NaN where y ≤ 0: masked, as PyTorch's threshold_backward does).
    const dys = randomArray(rows * C, 22, 0, 1);
    const dyNaN = dys.map((v, i) => (y[i] > 0 ? v : i % 3 === 0 ? NaN : v));
    const dy = tf.tensor2d(dyNaN, [rows, C]);
    const [dx, , dBeta] = tf.engine().runKernel('ScrlBatchNormTrainingGrad', { dy, x, stats: fused[3] }, { relu: true }) as tf.Tensor[];
    const expected = new Float32Array(C);
    for (let c = 0; c < C; c++) {
      let sum = 0;
      for (let i = c; i < dyNaN.length; i += C) if (y[i] > 0) sum += dyNaN[i];
      expected[c] = sum;
    }
    expect(Array.from(dBeta.dataSync())).toEqual(Array.from(expected));
    tf.dispose([x, gamma, beta, zeros, ones, dy, dx, dBeta, ...plain, ...fused]);
  });

  it('runs one kernel forward and one backward, ReLU included', () => {
    const bn = layer(8, 'BatchNorm2d');
    const x = tf.variable(tf.randomNormal([2, 4, 4, 8], 0, 1, 'float32', 3));
    const names: string[] = [];
    return tf
      .profile(() => {
        const { value, grads } = tf.variableGrads(() => tf.sum(bn.applyRelu(x, true)) as tf.Scalar, [x, bn.weight, bn.bias]);
        tf.dispose([value, ...Object.values(grads)]);
      })
      .then((info) => {
        for (const k of info.kernels) names.push(k.name);
        expect(names.filter((n) => n === 'ScrlBatchNormTraining')).toHaveLength(1);
        expect(names.filter((n) => n === 'ScrlBatchNormTrainingGrad')).toHaveLength(1);
        // No leftovers of the op path.
        for (const op of ['FusedBatchNorm', 'Mean', 'Square', 'SquaredDifference', 'Rsqrt', 'Relu', 'Step']) expect(names).not.toContain(op);
        bn.dispose();
        x.dispose();
      });
  });

  it('frees everything it allocates (tf.memory() flat over 50 steps)', () => {
    const bn = layer(8, 'BatchNorm2d');
    const x = tf.randomNormal([4, 4, 4, 8], 0, 1, 'float32', 4);
    const w = tf.randomNormal([4, 4, 4, 8], 0, 1, 'float32', 5);
    run(bn, x, w);
    const before = tf.memory();
    for (let i = 0; i < 50; i++) {
      run(bn, x, w, i % 2 === 1);
      tf.dispose(tf.tidy(() => bn.apply(x, true))); // the target network's forward: no tape
    }
    const after = tf.memory();
    expect(after.numTensors).toBe(before.numTensors);
    expect(after.numBytes).toBe(before.numBytes);
    bn.dispose();
    tf.dispose([x, w]);
  });

  it.each(SHAPES)(
    'with a reducer, two half-batch replicas give the full batch\'s outputs, statistics and gradients (%s)',
    (_, shape, kind, relu) => {
      const n = shape.reduce((a, b) => a * b, 1);
      const rows = shape[0];
      const half = rows / 2;
      expect(Number.isInteger(half)).toBe(true);
      const x = tf.tensor(randomArray(n, 6, -1, 1.5), shape);
      const w = tf.tensor(randomArray(n, 7, 0, 1), shape);
      const C = shape[shape.length - 1];
      const full = run(layer(C, kind), x, w, relu);

      // Replicas run one after the other in this thread. Each reducer call k records this
      // replica's partial sums and adds the other replica's call k as last recorded; running
      // B, A, B, A makes every call of the last two rounds see both replicas' current sums.
      const parts = [0, 1].map((r) => [tf.slice(x, r * half, half), tf.slice(w, r * half, half)]);
      const log: Float64Array[][] = [[], []];
      const reducerFor = (r: number): BatchNormReducer => {
        let k = 0;
        return (sums) => {
          log[r][k] = Float64Array.from(sums);
          const other = log[1 - r][k];
          if (other) for (let i = 0; i < sums.length; i++) sums[i] += other[i];
          k += 1;
        };
      };
      const results: Run[] = [];
      const layers = [0, 1].map(() => [layer(C, kind), layer(C, kind)]);
      for (const [round, r] of [1, 0, 1, 0].entries()) {
        setBatchNormReducer(reducerFor(r));
        // A fresh layer per round for the checked rounds, so running statistics move once.
        const bn = layers[round < 2 ? 0 : 1][r];
        results[r] = run(bn, parts[r][0], parts[r][1], relu);
      }
      setBatchNormReducer(null);
      expect(log[0]).toHaveLength(2); // forward and backward, once each per round
      const [a, b] = results;
      const cat = (p: Float32Array, q: Float32Array) => Float32Array.from([...p, ...q]);
      expect(maxRelativeError(cat(a.y, b.y), full.y)).toBeLessThan(1e-5);
      expect(maxRelativeError(cat(a.dx, b.dx), full.dx)).toBeLessThan(1e-5);
      for (const rep of [a, b]) {
        expect(maxRelativeError(rep.runningMean, full.runningMean)).toBeLessThan(1e-6);
        expect(maxRelativeError(rep.runningVar, full.runningVar)).toBeLessThan(1e-6);
      }
      // γ and β: each replica's share; their sum is the full batch's gradient.
      expect(maxRelativeError(a.dGamma.map((v, i) => v + b.dGamma[i]), full.dGamma)).toBeLessThan(1e-5);
      expect(maxRelativeError(a.dBeta.map((v, i) => v + b.dBeta[i]), full.dBeta)).toBeLessThan(1e-5);
      // Without the reducer a half-batch is normalised by its own statistics: the check can fail.
      const alone = run(layer(C, kind), parts[0][0], parts[0][1], relu);
      expect(maxRelativeError(alone.y, full.y.subarray(0, alone.y.length))).toBeGreaterThan(1e-3);
      tf.dispose([x, w, ...parts.flat()]);
      layers.flat().forEach((l) => l.dispose());
    },
  );

  it('refuses a reducer it cannot apply (fused BatchNorm off) with an error naming the fix', () => {
    const bn = layer(4, 'BatchNorm2d');
    setBatchNormReducer(() => undefined);
    setFusedBatchNorm(false);
    const x = tf.ones([2, 2, 2, 4]);
    expect(() => bn.apply(x, true)).toThrow(/reducer is installed.*setBatchNormReducer\(null\)/s);
    // Inference mode uses no batch statistics: no reducer needed.
    expect(() => tf.dispose(bn.apply(x, false))).not.toThrow();
    tf.dispose(x);
    bn.dispose();
  });
});
