/**
 * A minimal WebAssembly encoder for the hand-written SIMD kernels that are built in memory (no
 * toolchain, nothing downloaded): LEB128, sections, the instructions those kernels use, and a
 * module of i32-only functions that imports one memory (`env.memory`, e.g. the wasm backend's
 * heap). Exported through `@scrl/roi-align/wasm`.
 */

export function uleb(n: number): number[] {
  const out: number[] = [];
  do {
    let byte = n & 0x7f;
    n >>>= 7;
    if (n !== 0) byte |= 0x80;
    out.push(byte);
  } while (n !== 0);
  return out;
}

export function sleb(n: number): number[] {
  const out: number[] = [];
  for (;;) {
    const byte = n & 0x7f;
    n >>= 7;
    if ((n === 0 && (byte & 0x40) === 0) || (n === -1 && (byte & 0x40) !== 0)) {
      out.push(byte);
      return out;
    }
    out.push(byte | 0x80);
  }
}

const str = (s: string) => [...uleb(s.length), ...Array.from(s, (ch) => ch.charCodeAt(0))];
/** A module section: id, byte length (LEB128), body. */
export const section = (id: number, body: number[]) => [id, ...uleb(body.length), ...body];
const vec = (items: number[][]) => [...uleb(items.length), ...items.flat()];

/** SIMD instruction: prefix 0xfd, opcode as unsigned LEB128, then immediates. */
const simd = (op: number, ...imm: number[]) => [0xfd, ...uleb(op), ...imm];

/** Value types and instructions (memory operands: alignment hint 0, the given offset). */
export const W = {
  I32: 0x7f,
  V128: 0x7b,
  get: (i: number) => [0x20, ...uleb(i)],
  set: (i: number) => [0x21, ...uleb(i)],
  tee: (i: number) => [0x22, ...uleb(i)],
  i32c: (v: number) => [0x41, ...sleb(v)],
  add32: [0x6a],
  mul32: [0x6c],
  geU: [0x4f],
  ltU: [0x49],
  block: [0x02, 0x40],
  loop: [0x03, 0x40],
  end: [0x0b],
  br: (l: number) => [0x0c, ...uleb(l)],
  brIf: (l: number) => [0x0d, ...uleb(l)],
  load: (offset = 0) => simd(0x00, 0, ...uleb(offset)),
  /** v128.load32_splat: one float32 in all four lanes. */
  loadSplat: (offset = 0) => simd(0x09, 0, ...uleb(offset)),
  store: (offset = 0) => simd(0x0b, 0, ...uleb(offset)),
  zero128: simd(0x0c, ...new Array(16).fill(0)),
  /** The upper two float32 lanes of the first operand moved down (the second operand's lanes unused). */
  highHalf: simd(0x0d, 8, 9, 10, 11, 12, 13, 14, 15, 0, 1, 2, 3, 4, 5, 6, 7),
  /** Low two lanes of each operand: [a0, a1, b0, b1] (for two demoted f64x2). */
  lowHalves: simd(0x0d, 0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23),
  f32x4Gt: simd(0x44),
  v128And: simd(0x4e),
  /** f32x4.demote_f64x2_zero */
  demote: simd(0x5e),
  /** f64x2.promote_low_f32x4 */
  promote: simd(0x5f),
  f32x4Add: simd(0xe4),
  f32x4Mul: simd(0xe6),
  f32x4Max: simd(0xe9),
  f64x2Add: simd(0xf0),
  f64x2Sub: simd(0xf1),
  f64x2Mul: simd(0xf2),
};

/** One function of i32 parameters and no result. */
export interface WasmFunction {
  name: string;
  params: number;
  /** Extra locals, in runs of [count, value type]; their indices follow the parameters. */
  locals: Array<[number, number]>;
  code: number[];
}

/** The bytes of a module that imports `env.memory` and exports `fns` under their names. */
export function wasmModuleBytes(fns: WasmFunction[]): Uint8Array {
  const arities = [...new Set(fns.map((f) => f.params))];
  const types = arities.map((n) => [0x60, ...uleb(n), ...new Array(n).fill(W.I32), 0]);
  const imports = [[...str('env'), ...str('memory'), 0x02, 0x00, 0x00]];
  const funcs = fns.map((f) => uleb(arities.indexOf(f.params)));
  const exportEntries = fns.map((f, i) => [...str(f.name), 0x00, ...uleb(i)]);
  const bodies = fns.map((f) => {
    const body = [...vec(f.locals.map(([count, type]) => [...uleb(count), type])), ...f.code, ...W.end];
    return [...uleb(body.length), ...body];
  });
  return Uint8Array.from([
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
    ...section(1, vec(types)),
    ...section(2, vec(imports)),
    ...section(3, vec(funcs)),
    ...section(7, vec(exportEntries)),
    ...section(10, vec(bodies)),
  ]);
}
