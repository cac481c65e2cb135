/**
 * `axpy` in WebAssembly SIMD: `dst[0..n) += w * src[0..n)` over float32 in a WebAssembly memory.
 *
 * RoIAlign spends its time adding a weighted pixel vector (C contiguous channels in NHWC) into
 * an output bin, and the backward the reverse. Plain JS does that one float at a time; this
 * 4-lane loop is several times faster. The module is tiny, so it is assembled here byte by byte
 * (no toolchain, nothing to download) and instantiated on the memory it works on: the wasm
 * backend's own heap (no copy at all), or a scratch memory for the cpu backend.
 *
 * (func $axpy (param $dst i32) (param $src i32) (param $w f32) (param $n i32)
 *   ;; byte offsets; 4 lanes at a time up to n & ~3, then one at a time)
 * (func $axpyTaps (param $taps i32) (param $count i32) (param $n i32)
 *   ;; the same for `count` (dst i32, src i32, w f32) triples stored at byte offset $taps:
 *   ;; one call per batch of taps instead of one per tap)
 */

import { isWasmMemory, wasmApi as WA, type WasmMemory } from '../runtime/wasm';
import { section, uleb as leb128 } from '../runtime/wasm-encode';

export { isWasmMemory };
export type { WasmMemory };

const name = (s: string) => [s.length, ...Array.from(s, (c) => c.charCodeAt(0))];

// Opcodes used below.
const LOCAL_GET = 0x20;
const LOCAL_SET = 0x21;
const I32_CONST = 0x41;
const BLOCK = 0x02;
const LOOP = 0x03;
const VOID = 0x40;
const BR = 0x0c;
const BR_IF = 0x0d;
const END = 0x0b;
const I32_EQZ = 0x45;
const I32_GE_U = 0x4f;
const I32_ADD = 0x6a;
const I32_SUB = 0x6b;
const I32_AND = 0x71;
const LOCAL_TEE = 0x22;
const I32_LOAD = 0x28;
const F32_LOAD_AT = (offset: number) => [0x2a, 0x02, offset];
const I32_SHL = 0x74;
const F32_LOAD = [0x2a, 0x02, 0x00];
const F32_STORE = [0x38, 0x02, 0x00];
const F32_ADD = 0x92;
const F32_MUL = 0x94;
const V128_LOAD = [0xfd, 0x00, 0x04, 0x00];
const V128_STORE = [0xfd, 0x0b, 0x04, 0x00];
const F32X4_SPLAT = [0xfd, 0x13];
const F32X4_ADD = [0xfd, 0xe4, 0x01];
const F32X4_MUL = [0xfd, 0xe6, 0x01];

// Locals: 0 dst, 1 src, 2 w, 3 n (params); 4 end (i32), 5 wv (v128).
const get = (i: number) => [LOCAL_GET, i];
const set = (i: number) => [LOCAL_SET, i];
const i32 = (v: number) => [I32_CONST, v & 0x7f]; // small constants only: -4, 1, 2, 3, 4, 16

const advance = (local: number, bytes: number) => [...get(local), ...i32(bytes), I32_ADD, ...set(local)];

const BODY = [
  0x02, 0x01, 0x7f, 0x01, 0x7b, // locals: one i32, one v128
  ...get(2), ...F32X4_SPLAT, ...set(5),
  // end = dst + (n & ~3) * 4
  ...get(0), ...get(3), ...i32(-4), I32_AND, ...i32(2), I32_SHL, I32_ADD, ...set(4),
  BLOCK, VOID, LOOP, VOID,
  ...get(0), ...get(4), I32_GE_U, BR_IF, 1,
  ...get(0), ...get(0), ...V128_LOAD, ...get(1), ...V128_LOAD, ...get(5), ...F32X4_MUL, ...F32X4_ADD, ...V128_STORE,
  ...advance(0, 16), ...advance(1, 16),
  BR, 0, END, END,
  // the n & 3 remaining floats
  ...get(3), ...i32(3), I32_AND, ...set(3),
  BLOCK, VOID, LOOP, VOID,
  ...get(3), I32_EQZ, BR_IF, 1,
  ...get(0), ...get(0), ...F32_LOAD, ...get(1), ...F32_LOAD, ...get(2), F32_MUL, F32_ADD, ...F32_STORE,
  ...advance(0, 4), ...advance(1, 4), ...get(3), ...i32(1), I32_SUB, ...set(3),
  BR, 0, END, END,
  END,
];

// axpyTaps locals: 0 taps, 1 count, 2 n (params); 3 end, 4 dst, 5 src, 6 rest (i32); 7 w (f32);
// 8 wv (v128).
const TAPS_BODY = [
  0x03, 0x04, 0x7f, 0x01, 0x7d, 0x01, 0x7b, // locals: four i32, one f32, one v128
  BLOCK, VOID,
  ...get(1), I32_EQZ, BR_IF, 0,
  LOOP, VOID,
  ...get(0), I32_LOAD, 0x02, 0x00, ...set(4),
  ...get(0), I32_LOAD, 0x02, 0x04, ...set(5),
  ...get(0), ...F32_LOAD_AT(8), ...set(7),
  ...get(7), ...F32X4_SPLAT, ...set(8),
  ...get(4), ...get(2), ...i32(-4), I32_AND, ...i32(2), I32_SHL, I32_ADD, ...set(3),
  BLOCK, VOID, LOOP, VOID,
  ...get(4), ...get(3), I32_GE_U, BR_IF, 1,
  ...get(4), ...get(4), ...V128_LOAD, ...get(5), ...V128_LOAD, ...get(8), ...F32X4_MUL, ...F32X4_ADD, ...V128_STORE,
  ...advance(4, 16), ...advance(5, 16),
  BR, 0, END, END,
  ...get(2), ...i32(3), I32_AND, ...set(6),
  BLOCK, VOID, LOOP, VOID,
  ...get(6), I32_EQZ, BR_IF, 1,
  ...get(4), ...get(4), ...F32_LOAD, ...get(5), ...F32_LOAD, ...get(7), F32_MUL, F32_ADD, ...F32_STORE,
  ...advance(4, 4), ...advance(5, 4), ...get(6), ...i32(1), I32_SUB, ...set(6),
  BR, 0, END, END,
  ...advance(0, 12),
  ...get(1), ...i32(1), I32_SUB, LOCAL_TEE, 1, BR_IF, 0,
  END, // loop
  END, // block
  END,
];

const MODULE_BYTES = new Uint8Array([
  0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
  // types: 0 = (i32 i32 f32 i32) -> (), 1 = (i32 i32 i32) -> ()
  ...section(1, [2, 0x60, 4, 0x7f, 0x7f, 0x7d, 0x7f, 0, 0x60, 3, 0x7f, 0x7f, 0x7f, 0]),
  ...section(2, [1, ...name('env'), ...name('memory'), 0x02, 0x00, 0x00]), // import memory, min 0
  ...section(3, [2, 0, 1]),
  ...section(7, [2, ...name('axpy'), 0x00, 0, ...name('axpyTaps'), 0x00, 1]),
  ...section(10, [2, ...leb128(BODY.length), ...BODY, ...leb128(TAPS_BODY.length), ...TAPS_BODY]),
]);

/** Bytes per tap in an axpyTaps batch: dst (i32 byte offset), src (i32 byte offset), w (f32). */
export const TAP_BYTES = 12;

/** The module's two functions, bound to one memory. Offsets are bytes. */
export interface SimdKernels {
  /** `dst += w * src` over `n` floats. */
  axpy(dst: number, src: number, w: number, n: number): void;
  /** The same for `count` taps of `TAP_BYTES` each stored from byte `taps`. */
  axpyTaps(taps: number, count: number, n: number): void;
}

let compiled: object | null | undefined;

function simdModule(): object | null {
  if (compiled === undefined) {
    try {
      compiled = WA !== undefined && WA.validate(MODULE_BYTES) ? new WA.Module(MODULE_BYTES) : null;
    } catch {
      compiled = null; // no WebAssembly SIMD here: the kernels use plain JS loops
    }
  }
  return compiled;
}

const instances = new WeakMap<WasmMemory, SimdKernels>();

/** The SIMD functions bound to `memory`, or null where WebAssembly SIMD is unavailable. */
export function simdKernels(memory: WasmMemory): SimdKernels | null {
  const cached = instances.get(memory);
  if (cached) return cached;
  const mod = simdModule();
  if (mod === null || WA === undefined) return null;
  const kernels = new WA.Instance(mod, { env: { memory } }).exports as unknown as SimdKernels;
  instances.set(memory, kernels);
  return kernels;
}

let scratch: WasmMemory | null = null;

/**
 * A memory of at least `bytes` bytes for kernels whose data live outside WebAssembly (cpu
 * backend). Kept between calls, and grown (never shrunk) to the largest request.
 */
export function scratchMemory(bytes: number): WasmMemory | null {
  if (WA === undefined) return null;
  const pages = Math.ceil(bytes / 65536);
  if (scratch === null) {
    scratch = new WA.Memory({ initial: pages });
  } else if (scratch.buffer.byteLength < bytes) {
    scratch.grow(pages - scratch.buffer.byteLength / 65536);
  }
  return scratch;
}
