/**
 * The loops of host-norm-loops.ts as a small WebAssembly SIMD module that works directly on the
 * wasm backend's heap (it imports the backend's `WebAssembly.Memory`): one pass over the data,
 * four channels per 128-bit vector, float64 accumulators for the sums (`f64x2`), no branch per
 * element. Built in memory from the instructions below (no toolchain, nothing downloaded); the
 * arithmetic of every function is the JavaScript loop's, operation for operation, so the results
 * are bit-identical to it (tested in norm-simd.test.ts).
 *
 * Every function takes byte addresses in the heap and needs the channel count C to be a multiple
 * of 4 (the caller keeps the JavaScript loops otherwise). Rows are the `total / C` pixels; the
 * per-channel arrays (a, b: float32; mean, p, q, r, sums: float64) live in a scratch tensor.
 *
 * Internal to @scrl/models. The same technique as @scrl/roi-align's SIMD axpy (simd-axpy.ts).
 */
import { instanceOnMemory, W, wasmModuleBytes, type WasmFunction, type WasmMemory } from '@scrl/roi-align/wasm';

/** The functions the module exports, with their parameters (all i32). */
export interface NormSimd {
  /** sums[c] += Σx, sums[C + c] += Σx² (float64) over rows [x, end). */
  sums(x: number, end: number, C: number, sums: number): void;
  /** y = x · a + b per channel in float32 (a, b float32 per channel). */
  affine(x: number, end: number, C: number, a: number, b: number, y: number): void;
  /** y = max(x · a + b, 0) in float32 (−0 and every negative value become +0; no NaN may reach it). */
  affineRelu(x: number, end: number, C: number, a: number, b: number, y: number): void;
  /**
   * g = dy where x · a + b > 0 (float32, the forward's arithmetic), else +0; then
   * sums[c] += Σg, sums[C + c] += Σg·(x − mean) (float64).
   */
  maskSums(dy: number, x: number, end: number, C: number, a: number, b: number, mean: number, sums: number, g: number): void;
  /** sums[c] += Σdy, sums[C + c] += Σdy·(x − mean) (float64). */
  gradSums(dy: number, x: number, end: number, C: number, mean: number, sums: number): void;
  /** dx = p · g + q · x + r per channel in float64, rounded to float32 (dx may be g). */
  inputGrad(g: number, x: number, end: number, C: number, p: number, q: number, r: number, dx: number): void;
}

const { I32, V128, get, set, tee, i32c, add32, mul32, geU, ltU, block, loop, end, br, brIf, load, store, zero128, highHalf, lowHalves } = W;
const { f32x4Gt, v128And, demote, promote, f32x4Add, f32x4Mul, f32x4Max, f64x2Add, f64x2Sub, f64x2Mul } = W;

/**
 * A loop over rows and, inside, over groups of four channels: `perGroup` is the body for one
 * group with the data pointers advanced by the caller-given strides afterwards. `ptrs` are the
 * locals advanced by 16 bytes per group (float32 data), `chPtrs32` by 16 (float32 per-channel
 * arrays, reset per row), `chPtrs64` by 32 (float64 per-channel arrays, reset per row).
 */
function rowsAndGroups(o: {
  /** Local of the first data pointer, compared with `endLocal`. */
  first: number;
  endLocal: number;
  /** Local holding C · 4 (bytes per row of float32). */
  rowBytes: number;
  dataPtrs: number[];
  ch32: Array<[local: number, base: number]>;
  ch64: Array<[local: number, base: number]>;
  /** Local used as the row's end for the first data pointer. */
  rowEnd: number;
  body: number[];
}): number[] {
  const code: number[] = [];
  code.push(...block, ...loop);
  // if first >= end: exit
  code.push(...get(o.first), ...get(o.endLocal), ...geU, ...brIf(1));
  // rowEnd = first + rowBytes; reset the per-channel pointers
  code.push(...get(o.first), ...get(o.rowBytes), ...add32, ...set(o.rowEnd));
  for (const [l, base] of [...o.ch32, ...o.ch64]) code.push(...get(base), ...set(l));
  code.push(...loop);
  code.push(...o.body);
  for (const l of o.dataPtrs) code.push(...get(l), ...i32c(16), ...add32, ...set(l));
  for (const [l] of o.ch32) code.push(...get(l), ...i32c(16), ...add32, ...set(l));
  for (const [l] of o.ch64) code.push(...get(l), ...i32c(32), ...add32, ...set(l));
  code.push(...get(o.first), ...get(o.rowEnd), ...ltU, ...brIf(0));
  code.push(...end); // group loop
  code.push(...br(0), ...end, ...end); // row loop, block
  return code;
}

/** acc[at] += v (f64x2) with the accumulator address in local `ptr` plus `offset`; v on the stack is consumed via local `tmp`. */
function accumulate(ptr: number, offset: number, valueLocal: number): number[] {
  return [...get(ptr), ...get(ptr), ...load(offset), ...get(valueLocal), ...f64x2Add, ...store(offset)];
}

/** Local index helpers: parameters first, then i32 locals, then v128 locals. */
function buildFunctions(): WasmFunction[] {
  const fns: WasmFunction[] = [];

  // sums(x, end, C, sums) -- locals: 4 rowBytes, 5 rowEnd, 6 s (sum ptr), 7 q (sum of squares ptr) | 8 v, 9 lo, 10 hi
  {
    const [x, endL, C, sums, rowBytes, rowEnd, s, q, v, lo, hi] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10];
    const body = [
      ...get(x), ...load(), ...tee(v), ...promote, ...set(lo),
      ...get(v), ...get(v), ...highHalf, ...promote, ...set(hi),
      ...accumulate(s, 0, lo), ...accumulate(s, 16, hi),
      ...get(lo), ...get(lo), ...f64x2Mul, ...set(lo),
      ...get(hi), ...get(hi), ...f64x2Mul, ...set(hi),
      ...accumulate(q, 0, lo), ...accumulate(q, 16, hi),
    ];
    const qBase = 11; // i32 local: sums + 8C
    fns.push({
      name: 'sums',
      params: 4,
      locals: [[4, I32], [3, V128], [1, I32]],
      code: [
        ...get(C), ...i32c(4), ...mul32, ...set(rowBytes), // rowBytes = 4C
        ...get(sums), ...get(C), ...i32c(8), ...mul32, ...add32, ...set(qBase),
        ...rowsAndGroups({ first: x, endLocal: endL, rowBytes, dataPtrs: [x], ch32: [], ch64: [[s, sums], [q, qBase]], rowEnd, body }),
      ],
    });
  }

  // affine / affineRelu(x, end, C, a, b, y) -- locals: 6 rowBytes, 7 rowEnd, 8 ap, 9 bp
  for (const relu of [false, true]) {
    const [x, endL, C, a, b, y, rowBytes, rowEnd, ap, bp] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9];
    const body = [
      ...get(y),
      ...get(x), ...load(), ...get(ap), ...load(), ...f32x4Mul, ...get(bp), ...load(), ...f32x4Add,
      ...(relu ? [...zero128, ...f32x4Max] : []),
      ...store(),
    ];
    fns.push({
      name: relu ? 'affineRelu' : 'affine',
      params: 6,
      locals: [[4, I32]],
      code: [
        ...get(C), ...i32c(4), ...mul32, ...set(rowBytes),
        ...rowsAndGroups({ first: x, endLocal: endL, rowBytes, dataPtrs: [x, y], ch32: [[ap, a], [bp, b]], ch64: [], rowEnd, body }),
      ],
    });
  }

  // maskSums(dy, x, end, C, a, b, mean, sums, g) -- i32 locals 9 rowBytes, 10 rowEnd, 11 ap, 12 bp, 13 mp, 14 s, 15 q, 16 qBase
  //   v128 locals 17 gv, 18 xv, 19 glo, 20 ghi, 21 dlo, 22 dhi
  // gradSums(dy, x, end, C, mean, sums) shares the accumulation part.
  for (const masked of [true, false]) {
    const P = masked ? 9 : 6;
    const [dy, x, endL] = [0, 1, 2];
    const C = 3;
    const a = 4;
    const b = 5;
    const mean = masked ? 6 : 4;
    const sums = masked ? 7 : 5;
    const g = 8;
    const [rowBytes, rowEnd, ap, bp, mp, s, q, qBase] = [P, P + 1, P + 2, P + 3, P + 4, P + 5, P + 6, P + 7];
    const [gv, xv, glo, ghi, dlo, dhi] = [P + 8, P + 9, P + 10, P + 11, P + 12, P + 13];
    const gradient = masked
      ? [
          // gv = dy & (x·a + b > 0)
          ...get(x), ...load(), ...tee(xv), ...get(ap), ...load(), ...f32x4Mul, ...get(bp), ...load(), ...f32x4Add,
          ...zero128, ...f32x4Gt,
          ...get(dy), ...load(), ...v128And, ...set(gv),
          ...get(g), ...get(gv), ...store(),
        ]
      : [...get(dy), ...load(), ...set(gv), ...get(x), ...load(), ...set(xv)];
    const body = [
      ...gradient,
      ...get(gv), ...promote, ...set(glo),
      ...get(gv), ...get(gv), ...highHalf, ...promote, ...set(ghi),
      ...accumulate(s, 0, glo), ...accumulate(s, 16, ghi),
      // d = x − mean (float64)
      ...get(xv), ...promote, ...get(mp), ...load(), ...f64x2Sub, ...set(dlo),
      ...get(xv), ...get(xv), ...highHalf, ...promote, ...get(mp), ...load(16), ...f64x2Sub, ...set(dhi),
      ...get(glo), ...get(dlo), ...f64x2Mul, ...set(dlo),
      ...get(ghi), ...get(dhi), ...f64x2Mul, ...set(dhi),
      ...accumulate(q, 0, dlo), ...accumulate(q, 16, dhi),
    ];
    fns.push({
      name: masked ? 'maskSums' : 'gradSums',
      params: P,
      locals: [[8, I32], [6, V128]],
      code: [
        ...get(C), ...i32c(4), ...mul32, ...set(rowBytes),
        ...get(sums), ...get(C), ...i32c(8), ...mul32, ...add32, ...set(qBase),
        ...rowsAndGroups({
          first: x,
          endLocal: endL,
          rowBytes,
          dataPtrs: masked ? [x, dy, g] : [x, dy],
          ch32: masked ? [[ap, a], [bp, b]] : [],
          ch64: [[mp, mean], [s, sums], [q, qBase]],
          rowEnd,
          body,
        }),
      ],
    });
  }

  // inputGrad(g, x, end, C, p, q, r, dx) -- i32 locals 8 rowBytes, 9 rowEnd, 10 pp, 11 qp, 12 rp | v128 13 gv, 14 xv, 15 lo
  {
    const [g, x, endL, C, p, q, r, dx] = [0, 1, 2, 3, 4, 5, 6, 7];
    const [rowBytes, rowEnd, pp, qp, rp] = [8, 9, 10, 11, 12];
    const [gv, xv, lo] = [13, 14, 15];
    // (p · g + q · x) + r for one f64x2 half; `half` extracts the half from a f32x4 local.
    const half = (which: 'lo' | 'hi', offset: number) => {
      const h = (l: number) => (which === 'lo' ? [...get(l), ...promote] : [...get(l), ...get(l), ...highHalf, ...promote]);
      return [
        ...get(pp), ...load(offset), ...h(gv), ...f64x2Mul,
        ...get(qp), ...load(offset), ...h(xv), ...f64x2Mul, ...f64x2Add,
        ...get(rp), ...load(offset), ...f64x2Add, ...demote,
      ];
    };
    const body = [
      ...get(g), ...load(), ...set(gv), ...get(x), ...load(), ...set(xv),
      ...half('lo', 0), ...set(lo),
      ...get(dx), ...get(lo), ...half('hi', 16), ...lowHalves, ...store(),
    ];
    fns.push({
      name: 'inputGrad',
      params: 8,
      locals: [[5, I32], [3, V128]],
      code: [
        ...get(C), ...i32c(4), ...mul32, ...set(rowBytes),
        ...rowsAndGroups({ first: x, endLocal: endL, rowBytes, dataPtrs: [x, g, dx], ch32: [], ch64: [[pp, p], [qp, q], [rp, r]], rowEnd, body }),
      ],
    });
  }
  return fns;
}

/** The module's bytes. */
export function normSimdModuleBytes(): Uint8Array {
  return wasmModuleBytes(buildFunctions());
}

const instances = new WeakMap<WasmMemory, NormSimd | null>();

/**
 * The module instantiated on `memory` (cached per memory), or null where this JavaScript engine
 * has no WebAssembly SIMD (the caller then keeps the JavaScript loops).
 */
export function normSimdFor(memory: WasmMemory): NormSimd | null {
  return instanceOnMemory(instances, memory, normSimdModuleBytes);
}

/**
 * The SIMD loops bound to one kernel call's scratch space in the heap (`scratch`: at least
 * {@link scratchFloats}(C) float32 words, allocated by the caller before any view is taken),
 * with the signatures of the JavaScript loops: per-channel arrays are copied into the scratch
 * space, data arrays are passed by address (they must be views of the same heap).
 */
export class HeapNormLoops {
  private readonly f64: Float64Array;
  private readonly f32: Float32Array;
  private readonly base: number;

  constructor(
    private readonly simd: NormSimd,
    scratch: Float32Array,
    private readonly C: number,
  ) {
    // float64 needs 8-byte alignment: skip one word if the allocation is only 4-aligned.
    const off = scratch.byteOffset % 8 === 0 ? scratch.byteOffset : scratch.byteOffset + 4;
    this.base = off;
    this.f64 = new Float64Array(scratch.buffer, off, 6 * C);
    this.f32 = new Float32Array(scratch.buffer, off + 48 * C, 2 * C);
  }

  /** sums[c] = Σx, sums[C + c] = Σx² (as sumsOfXAndSquares). */
  sums(x: Float32Array, sums: Float64Array): void {
    const { C, f64 } = this;
    f64.fill(0, 0, 2 * C);
    this.simd.sums(x.byteOffset, x.byteOffset + 4 * x.length, C, this.base);
    for (let i = 0; i < 2 * C; i++) sums[i] = f64[i];
  }

  /** y = x · a + b, or its ReLU (as affine / affineRelu, for float32-exact a and b). */
  affine(x: Float32Array, y: Float32Array, a: Float64Array, b: Float64Array, relu: boolean): void {
    const { C, f32 } = this;
    f32.set(a, 0);
    f32.set(b, C);
    const fn = relu ? this.simd.affineRelu : this.simd.affine;
    fn(x.byteOffset, x.byteOffset + 4 * x.length, C, f32.byteOffset, f32.byteOffset + 4 * C, y.byteOffset);
  }

  /**
   * sums[c] = Σg, sums[C + c] = Σg·(x − mean) with g = dy (`a` null) or dy masked by the
   * forward's x · a + b > 0 and written to `g` (as maskByReluBits + gradientSums). `a` and `b`
   * are views of the heap.
   */
  gradientSums(dy: Float32Array, x: Float32Array, mean: Float64Array, sums: Float64Array, mask: { a: Float32Array; b: Float32Array; g: Float32Array } | null): void {
    const { C, f64, base } = this;
    f64.fill(0, 0, 2 * C);
    f64.set(mean, 2 * C);
    const end = x.byteOffset + 4 * x.length;
    if (mask) {
      this.simd.maskSums(dy.byteOffset, x.byteOffset, end, C, mask.a.byteOffset, mask.b.byteOffset, base + 16 * C, base, mask.g.byteOffset);
    } else {
      this.simd.gradSums(dy.byteOffset, x.byteOffset, end, C, base + 16 * C, base);
    }
    for (let i = 0; i < 2 * C; i++) sums[i] = f64[i];
  }

  /** dx = p · g + q · x + r (as inputGradient). */
  inputGradient(g: Float32Array, x: Float32Array, dx: Float32Array, p: Float64Array, q: Float64Array, r: Float64Array): void {
    const { C, f64, base } = this;
    f64.set(p, 3 * C);
    f64.set(q, 4 * C);
    f64.set(r, 5 * C);
    this.simd.inputGrad(g.byteOffset, x.byteOffset, x.byteOffset + 4 * x.length, C, base + 24 * C, base + 32 * C, base + 40 * C, dx.byteOffset);
  }
}

/** Float32 words of scratch a {@link HeapNormLoops} needs for C channels (alignment slack included). */
export function scratchFloats(C: number): number {
  return 14 * C + 1;
}
