/**
 * The WebAssembly SIMD loops of the normalisation kernels against the JavaScript loops they
 * replace on the wasm backend: bit-identical results, function by function, on a memory of
 * their own; then the kernels themselves with the SIMD loops on and off.
 */
import * as tf from '@tensorflow/tfjs-core';
import { describeEachBackend } from '@scrl/testing';
import { mulberry32 } from '@scrl/util';
import { affine, affineRelu, gradientSums, inputGradient, maskByReluBits, setNormSimd, sumsOfXAndSquares } from './host-norm-loops';
import { normSimdFor, normSimdModuleBytes } from './norm-simd';
import { fusedGroupNorm } from './group-norm-kernel';
import './layers'; // registers the BatchNorm kernels

const bits = (a: Float32Array | Float64Array) => Array.from(new Uint32Array(a.buffer, a.byteOffset, a.byteLength / 4));

describe('normalisation SIMD loops', () => {
  it('compile in this runtime (WebAssembly SIMD)', () => {
    expect(WebAssembly.validate(normSimdModuleBytes())).toBe(true);
  });

  it.each([
    [37, 8],
    [1, 4],
    [5, 12],
    [64, 64],
    [3, 512],
  ])('give the JavaScript loops\' results bit for bit (%i rows, %i channels)', (rows, C) => {
    const memory = new WebAssembly.Memory({ initial: 64 });
    const simd = normSimdFor(memory);
    expect(simd).not.toBeNull();
    if (!simd) return;
    let offset = 1032; // 8-aligned, not 16-aligned: tfjs' malloc gives 8
    const f32 = (k: number) => {
      const a = new Float32Array(memory.buffer, offset, k);
      offset += 4 * k + 8;
      return a;
    };
    const f64 = (k: number) => {
      const a = new Float64Array(memory.buffer, offset, k);
      offset += 8 * k + 8;
      return a;
    };
    const n = rows * C;
    const rand = mulberry32(rows * 1000 + C);
    const x = f32(n);
    const dy = f32(n);
    for (let i = 0; i < n; i++) {
      x[i] = i % 7 === 0 ? 0 : 4 * rand() - 1.7;
      dy[i] = rand() - 0.5;
    }
    const a = f32(C);
    const b = f32(C);
    for (let c = 0; c < C; c++) {
      a[c] = Math.fround(2 * rand() - 0.8);
      b[c] = c === 1 ? -0 : Math.fround(rand() - 0.5);
    }
    a[0] = 3e38; // x · a overflows float32 to ±∞ for most x
    // Filled in place: these must be views of the module's memory.
    const mean = f64(C);
    const [p, q, r] = [f64(C), f64(C), f64(C)];
    for (let c = 0; c < C; c++) {
      mean[c] = Math.fround(rand() - 0.5);
      p[c] = rand() - 0.5;
      q[c] = rand() - 0.5;
      r[c] = rand() - 0.5;
    }
    const sums = f64(2 * C);
    const end = x.byteOffset + 4 * n;
    const a64 = Float64Array.from(a);
    const b64 = Float64Array.from(b);

    const ref = new Float64Array(2 * C);
    sumsOfXAndSquares(x, C, ref);
    sums.fill(0);
    simd.sums(x.byteOffset, end, C, sums.byteOffset);
    expect(bits(sums)).toEqual(bits(ref));

    for (const relu of [false, true]) {
      const want = new Float32Array(n);
      if (relu) affineRelu(x, want, new Int32Array(want.buffer), C, a64, b64);
      else affine(x, want, C, a64, b64, false);
      const got = f32(n);
      (relu ? simd.affineRelu : simd.affine)(x.byteOffset, end, C, a.byteOffset, b.byteOffset, got.byteOffset);
      expect({ relu, bits: bits(got) }).toEqual({ relu, bits: bits(want) });
    }

    const g = new Float32Array(n);
    maskByReluBits(new Int32Array(dy.buffer, dy.byteOffset, n), x, g, new Int32Array(g.buffer), C, a, b);
    gradientSums(g, x, C, Float64Array.from(mean), ref);
    const gGot = f32(n);
    sums.fill(0);
    simd.maskSums(dy.byteOffset, x.byteOffset, end, C, a.byteOffset, b.byteOffset, mean.byteOffset, sums.byteOffset, gGot.byteOffset);
    expect(bits(gGot)).toEqual(bits(g));
    expect(bits(sums)).toEqual(bits(ref));

    gradientSums(dy, x, C, Float64Array.from(mean), ref);
    sums.fill(0);
    simd.gradSums(dy.byteOffset, x.byteOffset, end, C, mean.byteOffset, sums.byteOffset);
    expect(bits(sums)).toEqual(bits(ref));

    const dx = new Float32Array(n);
    inputGradient(dy, x, dx, C, Float64Array.from(p), Float64Array.from(q), Float64Array.from(r));
    const dxGot = f32(n);
    simd.inputGrad(dy.byteOffset, x.byteOffset, end, C, p.byteOffset, q.byteOffset, r.byteOffset, dxGot.byteOffset);
    expect(bits(dxGot)).toEqual(bits(dx));
  });
});

describeEachBackend('normalisation kernels with the SIMD loops on and off', () => {
  afterEach(() => setNormSimd(true));

  /** Every output of a BatchNorm(+ReLU) forward and backward and a GroupNorm forward and backward, as bits. */
  function runAll(): number[][] {
    const out: number[][] = [];
    for (const [shape, groups] of [
      [[3, 5, 4, 8], 4],
      [[1, 2, 3, 12], 3],
      [[6, 64], 64],
      [[2, 3, 3, 6], 2],
    ] as Array<[number[], number]>) {
      const C = shape[shape.length - 1];
      const n = shape.reduce((p, q) => p * q, 1);
      const rand = mulberry32(n);
      const x = tf.tensor(Float32Array.from({ length: n }, () => 3 * rand() - 1), shape);
      const dy = tf.tensor(Float32Array.from({ length: n }, () => rand() - 0.5), shape);
      const gamma = tf.tensor1d(Float32Array.from({ length: C }, () => 0.5 + rand()));
      const beta = tf.tensor1d(Float32Array.from({ length: C }, () => rand() - 0.5));
      for (const relu of [false, true]) {
        const fwd = tf.engine().runKernel(
          'ScrlBatchNormTraining',
          { x, scale: gamma, offset: beta, runningMean: beta, runningVar: gamma },
          { epsilon: 1e-5, momentum: 0.1, relu },
        ) as tf.Tensor[];
        const bwd = tf.engine().runKernel('ScrlBatchNormTrainingGrad', { dy, x, stats: fwd[3] }, { relu }) as tf.Tensor[];
        for (const t of [...fwd, ...bwd]) out.push(bits(t.dataSync() as Float32Array));
        tf.dispose([...fwd, ...bwd]);
      }
      if (shape.length === 4) {
        const grads = tf.grads((a: tf.Tensor, g: tf.Tensor, b: tf.Tensor) =>
          tf.sum(tf.mul(fusedGroupNorm(a, groups, g as tf.Tensor1D, b as tf.Tensor1D, 1e-5), dy)),
        )([x, gamma, beta]);
        const y = fusedGroupNorm(x, groups, gamma, beta, 1e-5);
        for (const t of [y, ...grads]) out.push(bits(t.dataSync() as Float32Array));
        tf.dispose([y, ...grads]);
      }
      tf.dispose([x, dy, gamma, beta]);
    }
    return out;
  }

  it('give bit-identical outputs and gradients, and free their scratch memory', () => {
    const simdOn = runAll();
    const before = tf.memory();
    // The scratch tensors are the kernels' own (not the engine's): the backend's count shows them.
    const dataIds = tf.backend().numDataIds();
    runAll();
    expect(tf.memory().numBytes).toBe(before.numBytes);
    expect(tf.memory().numTensors).toBe(before.numTensors);
    expect(tf.backend().numDataIds()).toBe(dataIds);
    setNormSimd(false);
    expect(runAll()).toEqual(simdOn);
  });
});
