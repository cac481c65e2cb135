/**
 * The slice of the WebAssembly JS API our hand-made wasm kernels use (roi-align's SIMD axpy,
 * augment's resampling and colour kernels), in one place. Our TS lib settings do not declare
 * WebAssembly. No TF.js here: importable from worker threads as `@scrl/roi-align/wasm`.
 */

/** A WebAssembly.Memory, as far as we use it. */
export interface WasmMemory {
  readonly buffer: ArrayBuffer;
  grow(pages: number): number;
}

export interface WasmApi {
  validate(bytes: Uint8Array): boolean;
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object, imports: object) => { exports: Record<string, unknown> };
  Memory: new (descriptor: { initial: number }) => WasmMemory;
}

/** The runtime's WebAssembly object, or undefined where there is none. */
export const wasmApi: WasmApi | undefined = (globalThis as unknown as { WebAssembly?: WasmApi }).WebAssembly;

/** Whether `value` is a WebAssembly.Memory. */
export function isWasmMemory(value: unknown): value is WasmMemory {
  return wasmApi !== undefined && value instanceof wasmApi.Memory;
}

/**
 * Synchronous instantiation of a small module given as base64 (works in worker threads): its
 * exports, or null where it cannot be compiled (no WebAssembly, or no SIMD).
 */
export function instantiateWasm<T>(base64: string, imports: object = {}): T | null {
  if (wasmApi === undefined) return null;
  try {
    const bytes = decodeBase64(base64);
    return new wasmApi.Instance(new wasmApi.Module(bytes), imports).exports as T;
  } catch {
    return null;
  }
}

/** Bytes of a base64 string: Node's Buffer where there is one, else `atob` (browsers). */
export function decodeBase64(base64: string): Uint8Array {
  const g = globalThis as { Buffer?: { from(s: string, enc: string): Uint8Array }; atob?: (s: string) => string };
  if (g.Buffer) return g.Buffer.from(base64, 'base64');
  if (!g.atob) throw new Error('Error in decodeBase64: this runtime has neither Buffer nor atob.');
  const text = g.atob(base64);
  const bytes = new Uint8Array(text.length);
  for (let i = 0; i < text.length; i++) bytes[i] = text.charCodeAt(i);
  return bytes;
}

/**
 * A module built in memory, instantiated once per `memory` it imports (`env.memory`, e.g. the
 * wasm backend's heap) and cached in `cache`: its exports, or null where this engine cannot
 * validate it (no WebAssembly, or no SIMD).
 */
export function instanceOnMemory<T>(cache: WeakMap<WasmMemory, T | null>, memory: WasmMemory, bytes: () => Uint8Array): T | null {
  if (cache.has(memory)) return cache.get(memory) ?? null;
  const b = bytes();
  // Not named `exports`: compiled to CommonJS, that name would shadow the module's own exports.
  const instance = wasmApi !== undefined && wasmApi.validate(b) ? (new wasmApi.Instance(new wasmApi.Module(b), { env: { memory } }).exports as T) : null;
  cache.set(memory, instance);
  return instance;
}

/** Grows `memory` so that it holds at least `bytes`. */
export function ensureWasmMemory(memory: WasmMemory, bytes: number): void {
  const need = bytes - memory.buffer.byteLength;
  if (need > 0) memory.grow(Math.ceil(need / 65536));
}
export { sleb, uleb, W, wasmModuleBytes, type WasmFunction } from './wasm-encode';
