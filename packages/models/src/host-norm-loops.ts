/**
 * The loops of the fused normalisation kernels (training-mode BatchNorm in batch-norm-kernel.ts,
 * GroupNorm in group-norm-kernel.ts) over NHWC data with the channel as the last axis: per-channel
 * sums in float64, the per-channel affine map with or without a ReLU, the ReLU's gradient mask
 * and the input gradient as `p · dy + q · x + r`, all on float32 views of the backend's memory
 * (cpu: typed arrays; wasm: views of the heap).
 *
 * Internal to @scrl/models (not exported from the package index).
 */
import * as tf from '@tensorflow/tfjs-core';
import type { WasmMemory } from '@scrl/roi-align/wasm';
import { HeapNormLoops, normSimdFor, scratchFloats } from './norm-simd';

/** The backends the kernels are registered on. */
export const HOST_BACKENDS = ['cpu', 'wasm'] as const;

type TensorInfo = tf.TensorInfo;

/** The parts of the cpu and wasm backends the kernels use (tfjs-backend-cpu / -wasm 4.x). */
export interface HostBackend extends tf.KernelBackend {
  /** wasm: a tensor in the heap. */
  makeOutput?(shape: number[], dtype: tf.DataType): TensorInfo;
  /** wasm: a view of a tensor's heap memory (detached by the next heap growth). */
  typedArrayFromHeap?(info: TensorInfo): Float32Array;
  /** wasm: the Emscripten module, whose `asm.memory` is the heap's WebAssembly.Memory. */
  wasm?: { asm?: { memory?: WasmMemory } };
  /** cpu: a tensor holding `values` (by reference). */
  makeTensorInfo?(shape: number[], dtype: tf.DataType, values: Float32Array): TensorInfo;
}

/** Whether the SIMD loops are on (the default); off, the wasm backend runs the JavaScript loops too. */
let simdEnabled = true;

/** Turns the WebAssembly SIMD loops of the wasm backend on or off (tests and benchmarks). */
export function setNormSimd(enabled: boolean): void {
  simdEnabled = enabled;
}

/**
 * Allocates float32 outputs, then returns views of `inputs` and the outputs, in that order, and
 * on wasm (C a multiple of 4, SIMD available and enabled) the SIMD loops bound to a scratch
 * tensor, which `release` frees (call it before returning). Everything is allocated before any
 * view is taken: on wasm an allocation can grow the heap, which detaches earlier views.
 */
export function hostBuffers(
  kernelName: string,
  backend: HostBackend,
  inputs: TensorInfo[],
  outputShapes: number[][],
  channels = 0,
): { outputs: TensorInfo[]; views: Float32Array[]; simd: HeapNormLoops | null; release: () => void } {
  for (const t of inputs) {
    if (t.dtype !== 'float32') {
      throw new Error(`${kernelName}: expected float32 tensors, got ${t.dtype} (cast the input first).`);
    }
  }
  if (backend.typedArrayFromHeap && backend.makeOutput) {
    const makeOutput = backend.makeOutput.bind(backend);
    const fromHeap = backend.typedArrayFromHeap.bind(backend);
    const memory = backend.wasm?.asm?.memory;
    const loops = simdEnabled && channels > 0 && channels % 4 === 0 && memory ? normSimdFor(memory) : null;
    const outputs = outputShapes.map((s) => makeOutput(s, 'float32'));
    const scratch = loops ? makeOutput([scratchFloats(channels)], 'float32') : null;
    const views = [...inputs, ...outputs].map((t) => fromHeap(t));
    const simd = loops && scratch ? new HeapNormLoops(loops, fromHeap(scratch), channels) : null;
    return { outputs, views, simd, release: () => scratch && backend.disposeData(scratch.dataId) };
  }
  if (!backend.makeTensorInfo) {
    throw new Error(`${kernelName}: registered only for the cpu and wasm backends.`);
  }
  const arrays = outputShapes.map((s) => new Float32Array(s.reduce((a, b) => a * b, 1)));
  const outputs = outputShapes.map((s, i) => (backend.makeTensorInfo as NonNullable<HostBackend['makeTensorInfo']>)(s, 'float32', arrays[i]));
  const views = [...inputs.map((t) => backend.readSync(t.dataId) as Float32Array), ...arrays];
  return { outputs, views, simd: null, release: () => undefined };
}

export const sizeOf = (shape: number[]) => shape.reduce((a, b) => a * b, 1);

// The loops, each in its own small function: V8 then optimises each one on its own (in one large
// kernel function, on-stack replacement of one loop kept deoptimising on the next). Channels go
// four at a time (C a multiple of 4; one at a time otherwise) in a strided pass over the rows with
// the accumulators in registers: C/4 passes over memory, each channel's values still summed in row
// order, so the results do not depend on the grouping.

/** sums[c] = Σx, sums[C + c] = Σx² over channel c. */
export function sumsOfXAndSquares(x: Float32Array, C: number, sums: Float64Array): void {
  const total = x.length;
  const step = C % 4 === 0 ? 4 : 1;
  for (let c = 0; c < C; c += step) {
    let s0 = 0;
    let s1 = 0;
    let s2 = 0;
    let s3 = 0;
    let q0 = 0;
    let q1 = 0;
    let q2 = 0;
    let q3 = 0;
    if (step === 4) {
      for (let i = c; i < total; i += C) {
        const v0 = x[i];
        const v1 = x[i + 1];
        const v2 = x[i + 2];
        const v3 = x[i + 3];
        s0 += v0;
        s1 += v1;
        s2 += v2;
        s3 += v3;
        q0 += v0 * v0;
        q1 += v1 * v1;
        q2 += v2 * v2;
        q3 += v3 * v3;
      }
      sums[c + 1] = s1;
      sums[c + 2] = s2;
      sums[c + 3] = s3;
      sums[C + c + 1] = q1;
      sums[C + c + 2] = q2;
      sums[C + c + 3] = q3;
    } else {
      for (let i = c; i < total; i += C) {
        const v0 = x[i];
        s0 += v0;
        q0 += v0 * v0;
      }
    }
    sums[c] = s0;
    sums[C + c] = q0;
  }
}

/**
 * y = x · a + b per channel (relu(...) with `relu`), x · a rounded to float32 (the sum by the store).
 * The reference loop: a data-dependent branch per element (the ReLU), which V8 compiles to a jump
 * that random signs mispredict half the time. Used where a or b is not finite (then NaNs flow).
 */
export function affine(x: Float32Array, y: Float32Array, C: number, a: Float64Array, b: Float64Array, relu: boolean): void {
  const total = x.length;
  const lo = relu ? 0 : -Infinity;
  const step = C % 4 === 0 ? 4 : 1;
  for (let c = 0; c < C; c += step) {
    const a0 = a[c];
    const b0 = b[c];
    if (step === 4) {
      const a1 = a[c + 1];
      const a2 = a[c + 2];
      const a3 = a[c + 3];
      const b1 = b[c + 1];
      const b2 = b[c + 2];
      const b3 = b[c + 3];
      for (let i = c; i < total; i += C) {
        const v0 = Math.fround(x[i] * a0) + b0;
        const v1 = Math.fround(x[i + 1] * a1) + b1;
        const v2 = Math.fround(x[i + 2] * a2) + b2;
        const v3 = Math.fround(x[i + 3] * a3) + b3;
        y[i] = v0 < lo ? lo : v0;
        y[i + 1] = v1 < lo ? lo : v1;
        y[i + 2] = v2 < lo ? lo : v2;
        y[i + 3] = v3 < lo ? lo : v3;
      }
    } else {
      for (let i = c; i < total; i += C) {
        const v0 = Math.fround(x[i] * a0) + b0;
        y[i] = v0 < lo ? lo : v0;
      }
    }
  }
}

/**
 * relu(x · a + b) per channel for finite a and b, without a branch per element: the float32 result
 * is stored, then its bits are cleared where the sign bit is set (−0 and every negative value,
 * −∞ included, become +0). With finite a and b, x is finite too (a non-finite x makes its
 * channel's mean or variance non-finite), so no NaN reaches the sign test.
 */
export function affineRelu(x: Float32Array, y: Float32Array, yBits: Int32Array, C: number, a: Float64Array, b: Float64Array): void {
  const total = x.length;
  const step = C % 4 === 0 ? 4 : 1;
  for (let c = 0; c < C; c += step) {
    const a0 = a[c];
    const b0 = b[c];
    if (step === 4) {
      const a1 = a[c + 1];
      const a2 = a[c + 2];
      const a3 = a[c + 3];
      const b1 = b[c + 1];
      const b2 = b[c + 2];
      const b3 = b[c + 3];
      for (let i = c; i < total; i += C) {
        y[i] = Math.fround(x[i] * a0) + b0;
        y[i + 1] = Math.fround(x[i + 1] * a1) + b1;
        y[i + 2] = Math.fround(x[i + 2] * a2) + b2;
        y[i + 3] = Math.fround(x[i + 3] * a3) + b3;
        const w0 = yBits[i];
        const w1 = yBits[i + 1];
        const w2 = yBits[i + 2];
        const w3 = yBits[i + 3];
        yBits[i] = w0 & ~(w0 >> 31);
        yBits[i + 1] = w1 & ~(w1 >> 31);
        yBits[i + 2] = w2 & ~(w2 >> 31);
        yBits[i + 3] = w3 & ~(w3 >> 31);
      }
    } else {
      for (let i = c; i < total; i += C) {
        y[i] = Math.fround(x[i] * a0) + b0;
        const w0 = yBits[i];
        yBits[i] = w0 & ~(w0 >> 31);
      }
    }
  }
}

/**
 * Rewrites every NaN of `y` as the positive quiet NaN 0x7fc00000. V8 stores a NaN computed in
 * JavaScript with its sign bit set (0xffc00000), and XNNPACK's ReLU on wasm decides by the sign
 * bit, so such a NaN became 0 at the next ReLU and a NaN loss turned into a finite one; the
 * positive NaN is what wasm's own kernels write, and it stays NaN through ReLU as in PyTorch.
 */
export function canonicaliseNaN(y: Float32Array): void {
  const bits = new Uint32Array(y.buffer, y.byteOffset, y.length);
  for (let i = 0; i < y.length; i++) if (y[i] !== y[i]) bits[i] = 0x7fc00000;
}

/** True when any of the arrays holds a NaN or an infinity. */
export function anyNonFinite(...arrays: Array<Float64Array | Float32Array>): boolean {
  for (const a of arrays) for (let i = 0; i < a.length; i++) if (!Number.isFinite(a[i])) return true;
  return false;
}

/** g = dy where the forward's x · a + b (same arithmetic) was > 0, else 0: the reference loop (non-finite a or b). */
export function maskByRelu(dy: Float32Array, x: Float32Array, g: Float32Array, C: number, a: Float32Array, b: Float32Array): void {
  const total = x.length;
  for (let c = 0; c < C; c++) {
    const ac = a[c];
    const bc = b[c];
    for (let i = c; i < total; i += C) g[i] = Math.fround(x[i] * ac) + bc > 0 ? dy[i] : 0;
  }
}

/**
 * {@link maskByRelu} for finite a and b without a branch per element: the forward's float32
 * x · a + b is stored in g, and its bits w select dy's bits through the mask (−w & ~w) >> 31,
 * which is −1 exactly for w > 0 as an int32 (sign bit clear, not +0), i.e. for a float32 > 0
 * (no NaN here: finite a and b mean finite x), and 0 otherwise (−0 included).
 */
export function maskByReluBits(dyBits: Int32Array, x: Float32Array, g: Float32Array, gBits: Int32Array, C: number, a: Float32Array, b: Float32Array): void {
  const total = x.length;
  const step = C % 4 === 0 ? 4 : 1;
  for (let c = 0; c < C; c += step) {
    const a0 = a[c];
    const b0 = b[c];
    if (step === 4) {
      const a1 = a[c + 1];
      const a2 = a[c + 2];
      const a3 = a[c + 3];
      const b1 = b[c + 1];
      const b2 = b[c + 2];
      const b3 = b[c + 3];
      for (let i = c; i < total; i += C) {
        g[i] = Math.fround(x[i] * a0) + b0;
        g[i + 1] = Math.fround(x[i + 1] * a1) + b1;
        g[i + 2] = Math.fround(x[i + 2] * a2) + b2;
        g[i + 3] = Math.fround(x[i + 3] * a3) + b3;
        const w0 = gBits[i];
        const w1 = gBits[i + 1];
        const w2 = gBits[i + 2];
        const w3 = gBits[i + 3];
        gBits[i] = dyBits[i] & ((-w0 & ~w0) >> 31);
        gBits[i + 1] = dyBits[i + 1] & ((-w1 & ~w1) >> 31);
        gBits[i + 2] = dyBits[i + 2] & ((-w2 & ~w2) >> 31);
        gBits[i + 3] = dyBits[i + 3] & ((-w3 & ~w3) >> 31);
      }
    } else {
      for (let i = c; i < total; i += C) {
        g[i] = Math.fround(x[i] * a0) + b0;
        const w0 = gBits[i];
        gBits[i] = dyBits[i] & ((-w0 & ~w0) >> 31);
      }
    }
  }
}

/** sums[c] = Σg, sums[C + c] = Σg·(x − mean) over channel c. */
export function gradientSums(g: Float32Array, x: Float32Array, C: number, mean: Float64Array, sums: Float64Array): void {
  const total = x.length;
  const step = C % 4 === 0 ? 4 : 1;
  for (let c = 0; c < C; c += step) {
    const m0 = mean[c];
    let s0 = 0;
    let t0 = 0;
    if (step === 4) {
      const m1 = mean[c + 1];
      const m2 = mean[c + 2];
      const m3 = mean[c + 3];
      let s1 = 0;
      let s2 = 0;
      let s3 = 0;
      let t1 = 0;
      let t2 = 0;
      let t3 = 0;
      for (let i = c; i < total; i += C) {
        const g0 = g[i];
        const g1 = g[i + 1];
        const g2 = g[i + 2];
        const g3 = g[i + 3];
        s0 += g0;
        s1 += g1;
        s2 += g2;
        s3 += g3;
        t0 += g0 * (x[i] - m0);
        t1 += g1 * (x[i + 1] - m1);
        t2 += g2 * (x[i + 2] - m2);
        t3 += g3 * (x[i + 3] - m3);
      }
      sums[c + 1] = s1;
      sums[c + 2] = s2;
      sums[c + 3] = s3;
      sums[C + c + 1] = t1;
      sums[C + c + 2] = t2;
      sums[C + c + 3] = t3;
    } else {
      for (let i = c; i < total; i += C) {
        const g0 = g[i];
        s0 += g0;
        t0 += g0 * (x[i] - m0);
      }
    }
    sums[c] = s0;
    sums[C + c] = t0;
  }
}

/** dx = p · g + q · x + r per channel (dx may be g's buffer). */
export function inputGradient(g: Float32Array, x: Float32Array, dx: Float32Array, C: number, p: Float64Array, q: Float64Array, r: Float64Array): void {
  const total = x.length;
  const step = C % 4 === 0 ? 4 : 1;
  for (let c = 0; c < C; c += step) {
    const p0 = p[c];
    const q0 = q[c];
    const r0 = r[c];
    if (step === 4) {
      const p1 = p[c + 1];
      const p2 = p[c + 2];
      const p3 = p[c + 3];
      const q1 = q[c + 1];
      const q2 = q[c + 2];
      const q3 = q[c + 3];
      const r1 = r[c + 1];
      const r2 = r[c + 2];
      const r3 = r[c + 3];
      for (let i = c; i < total; i += C) {
        dx[i] = p0 * g[i] + q0 * x[i] + r0;
        dx[i + 1] = p1 * g[i + 1] + q1 * x[i + 1] + r1;
        dx[i + 2] = p2 * g[i + 2] + q2 * x[i + 2] + r2;
        dx[i + 3] = p3 * g[i + 3] + q3 * x[i + 3] + r3;
      }
    } else {
      for (let i = c; i < total; i += C) dx[i] = p0 * g[i] + q0 * x[i] + r0;
    }
  }
}
