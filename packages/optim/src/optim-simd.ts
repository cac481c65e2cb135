/**
 * The optimisers' per-entry loops (LARS, SGD with momentum, the EMA blend and LARS's two norms) as
 * a small WebAssembly SIMD module that works on the wasm backend's heap (it imports the backend's
 * `WebAssembly.Memory`), four entries per 128-bit vector. Built in memory from the instructions
 * below (no toolchain, nothing downloaded), as @scrl/models' norm-simd.ts.
 *
 * Every float32 operation is the JavaScript loop's operation (`f32x4.mul`/`add`/`sub` round to
 * float32 as `Math.fround` of the exact double result does), so parameters, momentum buffers and
 * EMA targets are bit-identical to the loops of lars.ts, sgd.ts and ema.ts. The norms are summed in
 * float64 as there, in four partial sums instead of one, so their last bits may differ.
 *
 * Internal to @scrl/optim: host-memory.ts calls it with views of the heap (their `byteOffset`s
 * are heap addresses); the entries past the last multiple of four run in JavaScript.
 */
import { instanceOnMemory, W, wasmModuleBytes, type WasmFunction, type WasmMemory } from '@scrl/roi-align/wasm';

const { I32, V128, get, set, tee, i32c, add32, geU, block, loop, end, br, brIf, load, loadSplat, store, highHalf, promote } = W;
const { f32x4Add, f32x4Mul, f64x2Add, f64x2Mul } = W;
/** f32x4.sub (opcode 0xe5; not among the encoder's instructions). */
const f32x4Sub = [0xfd, 0xe5, 0x01];

/** The exported functions (byte addresses; `k` holds the float32 constants of the call). */
interface OptimSimdExports {
  /** acc (4 x f64x2): [Σw² lo, Σw² hi, Σgd² lo, Σgd² hi] over w[0, end), gd = g (+ w·wd). */
  norms(w: number, g: number, end: number, k: number, acc: number): void;
  normsDecayed(w: number, g: number, end: number, k: number, acc: number): void;
  /** v = v·m + gd·scale (in place), nextW = w − v; k = [wd, m, scale]. */
  lars(w: number, g: number, v: number, end: number, k: number, nextW: number): void;
  larsDecayed(w: number, g: number, v: number, end: number, k: number, nextW: number): void;
  /** gi = g·s (+ w·wd), v = v·m + gi (in place), nextW = w − v·lr; k = [s, wd, m, lr]. */
  sgd(w: number, g: number, v: number, end: number, k: number, nextW: number): void;
  sgdDecayed(w: number, g: number, v: number, end: number, k: number, nextW: number): void;
  /** out = t·a + o·b; k = [a, b]. */
  blend(t: number, o: number, end: number, k: number, out: number): void;
}

/**
 * A loop over the entries four at a time: while first < end, `body`, then every pointer local
 * in `ptrs` advances 16 bytes (`ptrs[0]` is `first`).
 */
function entries(ptrs: number[], endLocal: number, body: number[]): number[] {
  const code = [...block, ...loop, ...get(ptrs[0]), ...get(endLocal), ...geU, ...brIf(1), ...body];
  for (const p of ptrs) code.push(...get(p), ...i32c(16), ...add32, ...set(p));
  code.push(...br(0), ...end, ...end);
  return code;
}

/** value (v128 on the stack) squared, both halves promoted to float64, added to two f64x2 locals. */
function squaresInto(valueLocal: number, lo: number, hi: number, tmp: number): number[] {
  return [
    ...get(valueLocal), ...promote, ...tee(tmp), ...get(tmp), ...f64x2Mul, ...get(lo), ...f64x2Add, ...set(lo),
    ...get(valueLocal), ...get(valueLocal), ...highHalf, ...promote, ...tee(tmp), ...get(tmp), ...f64x2Mul, ...get(hi), ...f64x2Add, ...set(hi),
  ];
}

function buildFunctions(): WasmFunction[] {
  const fns: WasmFunction[] = [];
  // norms(w, g, end, k, acc) | v128 locals: 5 wv, 6 gv, 7 WD, 8..11 accumulators, 12 tmp
  for (const decayed of [false, true]) {
    const [w, g, endL, k, acc] = [0, 1, 2, 3, 4];
    const [wv, gv, WD, a0, a1, a2, a3, tmp] = [5, 6, 7, 8, 9, 10, 11, 12];
    const body = [
      ...get(w), ...load(), ...set(wv),
      ...get(g), ...load(), ...(decayed ? [...get(wv), ...get(WD), ...f32x4Mul, ...f32x4Add] : []), ...set(gv),
      ...squaresInto(wv, a0, a1, tmp),
      ...squaresInto(gv, a2, a3, tmp),
    ];
    fns.push({
      name: decayed ? 'normsDecayed' : 'norms',
      params: 5,
      locals: [[8, V128]],
      code: [
        ...get(k), ...loadSplat(0), ...set(WD),
        ...entries([w, g], endL, body),
        ...get(acc), ...get(a0), ...store(0), ...get(acc), ...get(a1), ...store(16),
        ...get(acc), ...get(a2), ...store(32), ...get(acc), ...get(a3), ...store(48),
      ],
    });
  }
  // lars(w, g, v, end, k, nextW) | v128 locals: 6 wv, 7 gv, 8 vi, 9 WD, 10 M, 11 S
  for (const decayed of [false, true]) {
    const [w, g, v, endL, k, nw] = [0, 1, 2, 3, 4, 5];
    const [wv, gv, vi, WD, M, S] = [6, 7, 8, 9, 10, 11];
    const body = [
      ...get(w), ...load(), ...set(wv),
      ...get(g), ...load(), ...(decayed ? [...get(wv), ...get(WD), ...f32x4Mul, ...f32x4Add] : []), ...set(gv),
      ...get(v), ...load(), ...get(M), ...f32x4Mul, ...get(gv), ...get(S), ...f32x4Mul, ...f32x4Add, ...set(vi),
      ...get(v), ...get(vi), ...store(),
      ...get(nw), ...get(wv), ...get(vi), ...f32x4Sub, ...store(),
    ];
    fns.push({
      name: decayed ? 'larsDecayed' : 'lars',
      params: 6,
      locals: [[6, V128]],
      code: [
        ...get(k), ...loadSplat(0), ...set(WD), ...get(k), ...loadSplat(4), ...set(M), ...get(k), ...loadSplat(8), ...set(S),
        ...entries([w, g, v, nw], endL, body),
      ],
    });
  }
  // sgd(w, g, v, end, k, nextW) | v128 locals: 6 wv, 7 gv, 8 vi, 9 S, 10 WD, 11 M, 12 LR
  for (const decayed of [false, true]) {
    const [w, g, v, endL, k, nw] = [0, 1, 2, 3, 4, 5];
    const [wv, gv, vi, S, WD, M, LR] = [6, 7, 8, 9, 10, 11, 12];
    const body = [
      ...get(w), ...load(), ...set(wv),
      ...get(g), ...load(), ...get(S), ...f32x4Mul, ...(decayed ? [...get(wv), ...get(WD), ...f32x4Mul, ...f32x4Add] : []), ...set(gv),
      ...get(v), ...load(), ...get(M), ...f32x4Mul, ...get(gv), ...f32x4Add, ...set(vi),
      ...get(v), ...get(vi), ...store(),
      ...get(nw), ...get(wv), ...get(vi), ...get(LR), ...f32x4Mul, ...f32x4Sub, ...store(),
    ];
    fns.push({
      name: decayed ? 'sgdDecayed' : 'sgd',
      params: 6,
      locals: [[7, V128]],
      code: [
        ...get(k), ...loadSplat(0), ...set(S), ...get(k), ...loadSplat(4), ...set(WD),
        ...get(k), ...loadSplat(8), ...set(M), ...get(k), ...loadSplat(12), ...set(LR),
        ...entries([w, g, v, nw], endL, body),
      ],
    });
  }
  // blend(t, o, end, k, out) | v128 locals: 5 A, 6 B
  {
    const [t, o, endL, k, out] = [0, 1, 2, 3, 4];
    const [A, B] = [5, 6];
    fns.push({
      name: 'blend',
      params: 5,
      locals: [[2, V128]],
      code: [
        ...get(k), ...loadSplat(0), ...set(A), ...get(k), ...loadSplat(4), ...set(B),
        ...entries([t, o, out], endL, [...get(out), ...get(t), ...load(), ...get(A), ...f32x4Mul, ...get(o), ...load(), ...get(B), ...f32x4Mul, ...f32x4Add, ...store()]),
      ],
    });
  }
  return fns;
}

/** The module's bytes. */
export function optimSimdModuleBytes(): Uint8Array {
  return wasmModuleBytes(buildFunctions());
}

const instances = new WeakMap<WasmMemory, OptimSimdExports | null>();

function instanceFor(memory: WasmMemory): OptimSimdExports | null {
  return instanceOnMemory(instances, memory, optimSimdModuleBytes);
}

const f = Math.fround;

/**
 * The loops on one heap, with the JavaScript loops' signatures: arrays are views of the heap
 * (passed by address), `scratch` is the address of 64 bytes of heap memory, 16-byte aligned, that
 * the caller allocated for constants and sums.
 */
export class HeapOptimLoops {
  private constructor(
    private readonly simd: OptimSimdExports,
    private readonly memory: WasmMemory,
    private readonly scratch: number,
  ) {}

  /** Null where this engine has no WebAssembly SIMD, or `scratch` is not 16-byte aligned. */
  static create(memory: WasmMemory, scratch: number): HeapOptimLoops | null {
    const simd = instanceFor(memory);
    return simd && scratch % 16 === 0 ? new HeapOptimLoops(simd, memory, scratch) : null;
  }

  private constants(values: number[]): void {
    new Float32Array(this.memory.buffer, this.scratch, values.length).set(values);
  }

  /** [Σw², Σgd²] in float64, gd = g + fround(w·wd) where `wd` is given, else g. */
  norms(w: Float32Array, g: Float32Array, wd: number | null): [number, number] {
    const n4 = w.length - (w.length % 4);
    this.constants([wd ?? 0]);
    // The sums go 16 bytes past the constants: acc = scratch + 16 (64 bytes of the 128 allocated).
    const acc = this.scratch + 16;
    const accView = new Float64Array(this.memory.buffer, acc, 8);
    accView.fill(0);
    (wd === null ? this.simd.norms : this.simd.normsDecayed)(w.byteOffset, g.byteOffset, w.byteOffset + 4 * n4, this.scratch, acc);
    let ws = accView[0] + accView[1] + accView[2] + accView[3];
    let gs = accView[4] + accView[5] + accView[6] + accView[7];
    for (let i = n4; i < w.length; i++) {
      const gd = wd === null ? g[i] : f(g[i] + f(w[i] * wd));
      ws += w[i] * w[i];
      gs += gd * gd;
    }
    return [ws, gs];
  }

  /** LARS's update of one parameter: v in place, the new parameter into nextW. */
  lars(w: Float32Array, g: Float32Array, v: Float32Array, wd: number | null, m: number, scale: number, nextW: Float32Array): void {
    const n4 = w.length - (w.length % 4);
    this.constants([wd ?? 0, m, scale]);
    (wd === null ? this.simd.lars : this.simd.larsDecayed)(w.byteOffset, g.byteOffset, v.byteOffset, w.byteOffset + 4 * n4, this.scratch, nextW.byteOffset);
    for (let i = n4; i < w.length; i++) {
      const gd = wd === null ? g[i] : f(g[i] + f(w[i] * wd));
      const vi = f(f(v[i] * m) + f(gd * scale));
      v[i] = vi;
      nextW[i] = w[i] - vi;
    }
  }

  /** SGD's update of one parameter (gradient times `s`, decay where `wd` is given): v in place, the new parameter into nextW. */
  sgd(w: Float32Array, g: Float32Array, v: Float32Array, s: number, wd: number | null, m: number, lr: number, nextW: Float32Array): void {
    const n4 = w.length - (w.length % 4);
    this.constants([s, wd ?? 0, m, lr]);
    (wd === null ? this.simd.sgd : this.simd.sgdDecayed)(w.byteOffset, g.byteOffset, v.byteOffset, w.byteOffset + 4 * n4, this.scratch, nextW.byteOffset);
    for (let i = n4; i < w.length; i++) {
      let gi = f(g[i] * s);
      if (wd !== null) gi = f(gi + f(w[i] * wd));
      const vi = f(f(v[i] * m) + gi);
      v[i] = vi;
      nextW[i] = w[i] - f(vi * lr);
    }
  }

  /** out = fround(t·a) + fround(o·b), rounded to float32. */
  blend(t: Float32Array, o: Float32Array, a: number, b: number, out: Float32Array): void {
    const n4 = t.length - (t.length % 4);
    this.constants([a, b]);
    this.simd.blend(t.byteOffset, o.byteOffset, t.byteOffset + 4 * n4, this.scratch, out.byteOffset);
    for (let i = n4; i < t.length; i++) out[i] = f(t[i] * a) + f(o[i] * b);
  }
}
