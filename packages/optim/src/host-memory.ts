/**
 * The optimisers' host loops on the wasm backend, working in the wasm heap itself: gradients and
 * parameters are read where they lie (`dataSync` copies them out on wasm), and a parameter's new
 * value is written straight into fresh heap memory (instead of a JavaScript array copied in by
 * `tf.tensor`).
 *
 * A parameter's new value must be new memory, never the old memory overwritten: the wasm
 * backend's Conv2D (XNNPACK) caches an operator holding a packed copy of its filter, keyed by the
 * filter tensor's id and dropped only when that tensor is disposed. An update in place would keep
 * the id, and convolutions would go on with the old weights. Momentum buffers feed no kernel, so
 * they are updated in place.
 */
import * as tf from '@tensorflow/tfjs-core';
import { isWasmMemory } from '@scrl/roi-align/wasm';
import { HeapOptimLoops } from './optim-simd';

/** The part of @tensorflow/tfjs-backend-wasm's BackendWasm used here. */
interface WasmBackendLike {
  makeOutput(shape: number[], dtype: 'float32'): tf.TensorInfo;
  typedArrayFromHeap(info: tf.TensorInfo): ArrayLike<number>;
  dataIdMap: { has(dataId: object): boolean };
  refCount(dataId: object): number;
  disposeData(dataId: object, force?: boolean): boolean;
}

function wasmBackend(): WasmBackendLike | null {
  if (tf.getBackend() !== 'wasm') return null;
  const b = tf.backend() as unknown as Partial<WasmBackendLike>;
  const fns = [b.makeOutput, b.typedArrayFromHeap, b.refCount, b.disposeData];
  if (fns.some((fn) => typeof fn !== 'function') || !b.dataIdMap) return null;
  return b as WasmBackendLike;
}

function onHeap(b: WasmBackendLike, t: tf.Tensor): boolean {
  return t.dtype === 'float32' && b.dataIdMap.has(t.dataId);
}

/** Views of tensors in the heap, valid inside one {@link HeapUpdates.replace} callback. */
export type HeapView = (t: tf.Tensor) => Float32Array;

/** The part of the backend's Emscripten module used for the SIMD loops. */
interface WasmModuleLike {
  wasm?: { asm?: { memory?: unknown } };
}

/** Float32 words of scratch memory: 128 bytes of constants and sums, plus 16 to align them. */
const SCRATCH_FLOATS = 36;

/**
 * One optimiser step's updates in the wasm heap ({@link HeapUpdates.open} returns null on any
 * other backend): new parameter values written straight into new heap memory, read from the
 * heap where the tensors lie, with the SIMD loops of optim-simd.ts where the engine has
 * WebAssembly SIMD. `close()` frees its scratch memory.
 */
export class HeapUpdates {
  private constructor(
    private readonly b: WasmBackendLike,
    private readonly scratch: tf.TensorInfo,
    /** The SIMD loops, or null (no WebAssembly SIMD): then the callers' JavaScript loops. */
    readonly loops: HeapOptimLoops | null,
  ) {}

  /** Null off the wasm backend. */
  static open(): HeapUpdates | null {
    const b = wasmBackend();
    if (!b) return null;
    const scratch = b.makeOutput([SCRATCH_FLOATS], 'float32');
    const memory = (b as unknown as WasmModuleLike).wasm?.asm?.memory;
    let loops: HeapOptimLoops | null = null;
    if (simdLoops && isWasmMemory(memory)) {
      const at = (b.typedArrayFromHeap(scratch) as Float32Array).byteOffset;
      loops = HeapOptimLoops.create(memory, Math.ceil(at / 16) * 16);
    }
    return new HeapUpdates(b, scratch, loops);
  }

  /**
   * True where {@link replace} can update `variable` from `read` (read only) and `inPlace`
   * (written in place): float32 tensors all in the heap, and nothing else sharing the memory of
   * the tensors written in place (a clone or a reshape of them would change too).
   */
  canReplace(variable: tf.Variable, read: tf.Tensor[], inPlace: tf.Variable[] = []): boolean {
    const b = this.b;
    if (!onHeap(b, variable) || !read.every((t) => onHeap(b, t))) return false;
    return inPlace.every((t) => onHeap(b, t) && b.refCount(t.dataId) === 1);
  }

  /**
   * Gives `variable` a new value computed in the heap: allocates its memory, calls `fill` with a
   * view of it and a function that views other tensors (take views inside `fill`, after the
   * allocation: a growing heap detaches earlier ones), then makes it the variable's value (the
   * old value is disposed, with anything a kernel cached for it). Check {@link canReplace} first.
   */
  replace(variable: tf.Variable, fill: (out: Float32Array, view: HeapView) => void): void {
    const b = this.b;
    const info = b.makeOutput([...variable.shape], 'float32');
    try {
      const out = b.typedArrayFromHeap(info) as Float32Array;
      const view: HeapView = (t) => {
        if (!onHeap(b, t)) throw new Error('HeapUpdates.replace: a tensor is not a float32 tensor in the wasm heap');
        return b.typedArrayFromHeap(t as unknown as tf.TensorInfo) as Float32Array;
      };
      fill(out, view);
    } catch (err) {
      b.disposeData(info.dataId, true);
      throw err;
    }
    const next = tf.engine().makeTensorFromTensorInfo(info);
    variable.assign(next);
    next.dispose();
  }

  /**
   * A view of `t`'s values in the heap (no copy), or null where `t` is not a float32 tensor in
   * it. Valid until the next allocation on the backend (a growing heap detaches it).
   */
  view(t: tf.Tensor): Float32Array | null {
    return onHeap(this.b, t) ? (this.b.typedArrayFromHeap(t as unknown as tf.TensorInfo) as Float32Array) : null;
  }

  /** Frees the scratch memory. */
  close(): void {
    this.b.disposeData(this.scratch.dataId, true);
  }
}

let simdLoops = true;

/**
 * Turns the SIMD loops of the optimisers' heap updates on (the default) or off (then the
 * JavaScript loops run on the heap views): for tests and benchmarks.
 */
export function setOptimSimd(enabled: boolean): void {
  simdLoops = enabled;
}
