/**
 * RoiAlign and RoiAlignGrad kernels for the `cpu` and `wasm` backends. Both run the same
 * typed-array loops (typed_impl.ts). On `wasm` they work in place on the backend's heap (the
 * SIMD axpy is instantiated on that very memory, so nothing is copied); on `cpu`, with 8 or
 * more channels, the input is copied once into a scratch WebAssembly memory so that the SIMD
 * axpy applies there too (the copy costs far less than what SIMD saves).
 */
import type { DataType, KernelConfig, KernelFunc, TensorInfo } from '@tensorflow/tfjs-core';
import {
  RoiAlign,
  RoiAlignGrad,
  type RoiAlignGradAttrs,
  type RoiAlignGradInputs,
  type RoiAlignInputs,
  type RoiAlignKernelAttrs,
} from './kernel_names';
import { isWasmMemory, scratchMemory, simdAxpy, type WasmMemory } from './simd_axpy';
import { type Axpy, jsAxpy, type MapShape, roiAlignBackwardImpl, roiAlignForwardImpl } from './typed_impl';

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
  wasm?: { asm?: { memory?: unknown } };
}

/** Below this many channels a JS loop beats one call into WebAssembly per tap. */
export const SIMD_MIN_CHANNELS = 8;
/** Largest scratch memory the cpu kernels copy into for SIMD (byte offsets stay below 2^31). */
const MAX_SCRATCH_BYTES = 2 ** 31 - 2 ** 16;

type KernelArgs = { inputs: unknown; backend: unknown; attrs?: unknown };

function mapShape(shape: number[]): MapShape {
  return { batch: shape[0], height: shape[1], width: shape[2], channels: shape[3] };
}

const sizeOf = (shape: number[]) => shape.reduce((p, d) => p * d, 1);

function cpuValues<T extends TypedArray>(backend: CpuBackendLike, info: TensorInfo): T {
  return backend.data.get(info.dataId).values as T;
}

/**
 * Runs `body` with an axpy that accumulates into a new zeroed array of `dstLength` floats from
 * `src`, and returns that array. With enough channels both are placed in a scratch WebAssembly
 * memory so that the SIMD axpy can run; otherwise (or if that memory cannot grow) a JS loop.
 */
function accumulateOnCpu(dstLength: number, src: Float32Array, channels: number, body: (axpy: Axpy) => void): Float32Array {
  const bytes = (src.length + dstLength) * 4;
  if (channels >= SIMD_MIN_CHANNELS && bytes <= MAX_SCRATCH_BYTES) {
    let memory: WasmMemory | null = null;
    try {
      memory = scratchMemory(bytes);
    } catch {
      memory = null; // cannot grow that far: use the JS loop
    }
    const fn = memory && simdAxpy(memory);
    if (memory && fn) {
      const heap = new Float32Array(memory.buffer, 0, src.length + dstLength);
      heap.set(src, 0);
      heap.fill(0, src.length);
      const dstBase = src.length * 4;
      body((d, s, w, n) => fn(dstBase + 4 * d, 4 * s, w, n));
      return heap.slice(src.length);
    }
  }
  const dst = new Float32Array(dstLength);
  body(jsAxpy(dst, src));
  return dst;
}

function wasmMemoryOf(backend: WasmBackendLike): WasmMemory | null {
  const memory = backend.wasm?.asm?.memory;
  return isWasmMemory(memory) ? memory : null;
}

/**
 * Zeroes `dst` (just allocated on the wasm heap) and runs `body` with an axpy from `src` into
 * it: SIMD directly on the backend's heap when possible, else JS over heap views.
 */
function accumulateOnWasm(b: WasmBackendLike, dst: TensorInfo, src: TensorInfo, channels: number, body: (axpy: Axpy) => void): void {
  (b.typedArrayFromHeap(dst) as Float32Array).fill(0);
  const memory = wasmMemoryOf(b);
  const fn = memory && channels >= SIMD_MIN_CHANNELS ? simdAxpy(memory) : null;
  if (fn) {
    const dstBase = b.dataIdMap.get(dst.dataId).memoryOffset;
    const srcBase = b.dataIdMap.get(src.dataId).memoryOffset;
    body((d, s, w, n) => fn(dstBase + 4 * d, srcBase + 4 * s, w, n));
  } else {
    body(jsAxpy(b.typedArrayFromHeap(dst) as Float32Array, b.typedArrayFromHeap(src) as Float32Array));
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
      : accumulateOnCpu(sizeOf(shape), x, shape[3], (axpy) =>
          roiAlignForwardImpl(mapShape(ins.x.shape), boxes, boxIndices, a, axpy),
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
      : accumulateOnCpu(sizeOf(shape), dy, shape[3], (axpy) =>
          roiAlignBackwardImpl(mapShape(shape), boxes, boxIndices, a, axpy),
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
  accumulateOnWasm(b, out, ins.x, shape[3], (axpy) =>
    roiAlignForwardImpl(mapShape(ins.x.shape), boxes, boxIndices, a, axpy),
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
  accumulateOnWasm(b, dx, ins.dy, shape[3], (axpy) =>
    roiAlignBackwardImpl(mapShape(shape), boxes, boxIndices, a, axpy),
  );
  return dx;
};

export const roiAlignKernelConfigs: KernelConfig[] = [
  { kernelName: RoiAlign, backendName: 'cpu', kernelFunc: roiAlignCpu as unknown as KernelFunc },
  { kernelName: RoiAlignGrad, backendName: 'cpu', kernelFunc: roiAlignGradCpu as unknown as KernelFunc },
  { kernelName: RoiAlign, backendName: 'wasm', kernelFunc: roiAlignWasm as unknown as KernelFunc },
  { kernelName: RoiAlignGrad, backendName: 'wasm', kernelFunc: roiAlignGradWasm as unknown as KernelFunc },
];
