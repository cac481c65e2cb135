/** Synchronous instantiation of our small wasm kernels (works in worker threads). */

// The ES2022 + node typings in use here do not declare WebAssembly: the little we use.
export interface WasmMemory {
  readonly buffer: ArrayBuffer;
  grow(pages: number): number;
}
declare const WebAssembly: {
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object, imports: object) => { exports: unknown };
};

/** The module's exports, or null where it cannot be compiled (e.g. no wasm SIMD). */
export function instantiate<T>(base64: string): T | null {
  try {
    const bytes = Buffer.from(base64, 'base64');
    return new WebAssembly.Instance(new WebAssembly.Module(bytes), {}).exports as T;
  } catch {
    return null;
  }
}

/** Grows `memory` so that it holds at least `bytes`. */
export function ensureMemory(memory: WasmMemory, bytes: number): void {
  const need = bytes - memory.buffer.byteLength;
  if (need > 0) memory.grow(Math.ceil(need / 65536));
}
