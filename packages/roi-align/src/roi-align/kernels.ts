/**
 * RoiAlign and RoiAlignGrad kernels for the `cpu` and `wasm` backends. Both enumerate the same
 * taps (typed-impl.ts) and, with 8 or more channels, apply them with the WebAssembly SIMD
 * module (simd-axpy.ts) in batches. On `wasm` that module is instantiated on the backend's own
 * heap, so the kernels work in place; on `cpu` the input is copied once into a scratch
 * WebAssembly memory (the copy costs far less than what SIMD saves).
 */
import type { DataType, KernelConfig, KernelFunc, TensorInfo } from '@tensorflow/tfjs-core';
import {
  RoiAlign,
  RoiAlignGrad,
  type RoiAlignGradAttrs,
  type RoiAlignGradInputs,
  type RoiAlignInputs,
  type RoiAlignKernelAttrs,
} from './kernel-names';
import { isWasmMemory, scratchMemory, type SimdKernels, simdKernels, TAP_BYTES, type WasmMemory } from './simd-axpy';
import { jsSink, type MapShape, roiAlignBackwardImpl, roiAlignForwardImpl, type TapSink } from './typed-impl';

type TypedArray = Float32Array | Int32Array | Uint8Array;

/** The part of @tensorflow/tfjs-backend-cpu's MathBackendCPU these kernels use. */
interface CpuBackendLike {
  data: { get(dataId: object): { values?: unknown } };
  makeTensorInfo(shape: number[], dtype: DataType, values?: TypedArray): TensorInfo;
}

/** The part of @tensorflow/tfjs-backend-wasm's BackendWasm these kernels use. */
interface WasmBackendLike {
  makeOutput(shape: number[], dtype: DataType): TensorInfo;
  typedArrayFromHeap(info: TensorInfo): TypedArray;
  dataIdMap: { get(dataId: object): { memoryOffset: number } };
  wasm?: { asm?: { memory?: unknown }; _malloc?: (bytes: number) => number; _free?: (ptr: number) => void };
}

/** Below this many channels SIMD gains little, and the kernels use the plain JS loop. */
export const SIMD_MIN_CHANNELS = 8;
/** Largest scratch memory the cpu kernels copy into for SIMD (byte offsets stay below 2^31). */
const MAX_SCRATCH_BYTES = 2 ** 31 - 2 ** 16;
/** Taps per call into WebAssembly. */
const TAP_BATCH = 4096;
const TAP_BUFFER_BYTES = TAP_BATCH * TAP_BYTES;

type KernelArgs = { inputs: unknown; backend: unknown; attrs?: unknown };

function mapShape(shape: number[]): MapShape {
  return { batch: shape[0], height: shape[1], width: shape[2], channels: shape[3] };
}

const sizeOf = (shape: number[]) => shape.reduce((p, d) => p * d, 1);

function cpuValues<T extends TypedArray>(backend: CpuBackendLike, info: TensorInfo): T {
  return backend.data.get(info.dataId).values as T;
}

/**
 * A sink that stores taps as (dst, src, w) triples in `memory` from byte `buffer` and applies
 * them TAP_BATCH at a time with the SIMD `axpyTaps`. `dstBase`/`srcBase` are the byte offsets
 * of the two arrays in `memory`. Create it after the last allocation in `memory` (its views
 * would not survive the memory growing).
 */
function simdSink(memory: WasmMemory, simd: SimdKernels, buffer: number, dstBase: number, srcBase: number, n: number): TapSink {
  const ints = new Int32Array(memory.buffer, buffer, 3 * TAP_BATCH);
  const floats = new Float32Array(memory.buffer, buffer, 3 * TAP_BATCH);
  let count = 0;
  const flush = () => {
    if (count > 0) simd.axpyTaps(buffer, count, n);
    count = 0;
  };
  return {
    tap: (d, s, w) => {
      const j = 3 * count;
      ints[j] = dstBase + 4 * d;
      ints[j + 1] = srcBase + 4 * s;
      floats[j + 2] = w;
      if (++count === TAP_BATCH) flush();
    },
    flush,
  };
}

/**
 * Runs `body` with a sink that accumulates into a new zeroed array of `dstLength` floats from
 * `src`, and returns that array. With enough channels, `src`, the result and a tap buffer are
 * placed in a scratch WebAssembly memory so that SIMD can run; otherwise (or if that memory
 * cannot grow) a JS loop.
 */
function accumulateOnCpu(dstLength: number, src: Float32Array, channels: number, body: (sink: TapSink) => void): Float32Array {
  const bytes = (src.length + dstLength) * 4 + TAP_BUFFER_BYTES;
  if (channels >= SIMD_MIN_CHANNELS && bytes <= MAX_SCRATCH_BYTES) {
    let memory: WasmMemory | null = null;
    try {
      memory = scratchMemory(bytes);
    } catch {
      memory = null; // cannot grow that far: use the JS loop
    }
    const simd = memory && simdKernels(memory);
    if (memory && simd) {
      const heap = new Float32Array(memory.buffer, 0, src.length + dstLength);
      heap.set(src, 0);
      heap.fill(0, src.length);
      const dstBase = src.length * 4;
      body(simdSink(memory, simd, dstBase + dstLength * 4, dstBase, 0, channels));
      return heap.slice(src.length);
    }
  }
  const dst = new Float32Array(dstLength);
  body(jsSink(dst, src, channels));
  return dst;
}

function wasmMemoryOf(backend: WasmBackendLike): WasmMemory | null {
  const memory = backend.wasm?.asm?.memory;
  return isWasmMemory(memory) ? memory : null;
}

/**
 * Zeroes `dst` (just allocated on the wasm heap) and runs `body` with a sink from `src` into
 * it: SIMD directly on the backend's heap (tap buffer from its allocator) when possible, else
 * JS over heap views.
 */
function accumulateOnWasm(b: WasmBackendLike, dst: TensorInfo, src: TensorInfo, channels: number, body: (sink: TapSink) => void): void {
  const memory = wasmMemoryOf(b);
  const simd = memory && channels >= SIMD_MIN_CHANNELS ? simdKernels(memory) : null;
  const malloc = b.wasm?._malloc;
  const free = b.wasm?._free;
  if (memory && simd && malloc && free) {
    const buffer = malloc(TAP_BUFFER_BYTES); // may grow the heap: before any view is taken
    try {
      (b.typedArrayFromHeap(dst) as Float32Array).fill(0);
      const dstBase = b.dataIdMap.get(dst.dataId).memoryOffset;
      const srcBase = b.dataIdMap.get(src.dataId).memoryOffset;
      body(simdSink(memory, simd, buffer, dstBase, srcBase, channels));
    } finally {
      free(buffer);
    }
  } else {
    const out = b.typedArrayFromHeap(dst) as Float32Array;
    out.fill(0);
    body(jsSink(out, b.typedArrayFromHeap(src) as Float32Array, channels));
  }
}

function forwardShape(inputs: RoiAlignInputs, attrs: RoiAlignKernelAttrs): number[] {
  return [inputs.boxes.shape[0], attrs.pooledHeight, attrs.pooledWidth, inputs.x.shape[3]];
}

const roiAlignCpu = ({ inputs, backend, attrs }: KernelArgs) => {
  const ins = inputs as RoiAlignInputs;
  const a = attrs as RoiAlignKernelAttrs;
  const b = backend as CpuBackendLike;
  const shape = forwardShape(ins, a);
  const boxes = cpuValues<Float32Array>(b, ins.boxes);
  const boxIndices = cpuValues<Int32Array>(b, ins.boxIndices);
  const x = cpuValues<Float32Array>(b, ins.x);
  const out =
    sizeOf(shape) === 0
      ? new Float32Array(0)
      : accumulateOnCpu(sizeOf(shape), x, shape[3], (sink) =>
          roiAlignForwardImpl(mapShape(ins.x.shape), boxes, boxIndices, a, sink),
        );
  return b.makeTensorInfo(shape, 'float32', out);
};

const roiAlignGradCpu = ({ inputs, backend, attrs }: KernelArgs) => {
  const ins = inputs as RoiAlignGradInputs;
  const a = attrs as RoiAlignGradAttrs;
  const b = backend as CpuBackendLike;
  const shape = Array.from(a.inputShape);
  const boxes = cpuValues<Float32Array>(b, ins.boxes);
  const boxIndices = cpuValues<Int32Array>(b, ins.boxIndices);
  const dy = cpuValues<Float32Array>(b, ins.dy);
  const dx =
    sizeOf(shape) === 0
      ? new Float32Array(0)
      : accumulateOnCpu(sizeOf(shape), dy, shape[3], (sink) =>
          roiAlignBackwardImpl(mapShape(shape), boxes, boxIndices, a, sink),
        );
  return b.makeTensorInfo(shape, 'float32', dx);
};

const roiAlignWasm = ({ inputs, backend, attrs }: KernelArgs) => {
  const ins = inputs as RoiAlignInputs;
  const a = attrs as RoiAlignKernelAttrs;
  const b = backend as WasmBackendLike;
  const shape = forwardShape(ins, a);
  // Allocate first: allocation may grow (and so detach) the heap that any earlier view looks at.
  const out = b.makeOutput(shape, 'float32');
  if (sizeOf(shape) === 0) return out;
  const boxes = Float32Array.from(b.typedArrayFromHeap(ins.boxes));
  const boxIndices = Int32Array.from(b.typedArrayFromHeap(ins.boxIndices));
  accumulateOnWasm(b, out, ins.x, shape[3], (sink) =>
    roiAlignForwardImpl(mapShape(ins.x.shape), boxes, boxIndices, a, sink),
  );
  return out;
};

const roiAlignGradWasm = ({ inputs, backend, attrs }: KernelArgs) => {
  const ins = inputs as RoiAlignGradInputs;
  const a = attrs as RoiAlignGradAttrs;
  const b = backend as WasmBackendLike;
  const shape = Array.from(a.inputShape);
  const dx = b.makeOutput(shape, 'float32');
  if (sizeOf(shape) === 0) return dx;
  const boxes = Float32Array.from(b.typedArrayFromHeap(ins.boxes));
  const boxIndices = Int32Array.from(b.typedArrayFromHeap(ins.boxIndices));
  accumulateOnWasm(b, dx, ins.dy, shape[3], (sink) =>
    roiAlignBackwardImpl(mapShape(shape), boxes, boxIndices, a, sink),
  );
  return dx;
};

export const roiAlignKernelConfigs: KernelConfig[] = [
  { kernelName: RoiAlign, backendName: 'cpu', kernelFunc: roiAlignCpu as unknown as KernelFunc },
  { kernelName: RoiAlignGrad, backendName: 'cpu', kernelFunc: roiAlignGradCpu as unknown as KernelFunc },
  { kernelName: RoiAlign, backendName: 'wasm', kernelFunc: roiAlignWasm as unknown as KernelFunc },
  { kernelName: RoiAlignGrad, backendName: 'wasm', kernelFunc: roiAlignGradWasm as unknown as KernelFunc },
];
