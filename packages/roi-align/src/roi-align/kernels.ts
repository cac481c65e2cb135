/**
 * RoiAlign and RoiAlignGrad kernels for the `cpu` and `wasm` backends. Both run the same
 * typed-array loops (typed_impl.ts): on `cpu` over the backend's stored arrays, on `wasm`
 * directly over views of the WebAssembly heap, so nothing is copied.
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
import { type MapShape, roiAlignBackwardImpl, roiAlignForwardImpl } from './typed_impl';

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
}

function mapShape(shape: number[]): MapShape {
  return { batch: shape[0], height: shape[1], width: shape[2], channels: shape[3] };
}

function outShape(inputs: RoiAlignInputs, attrs: RoiAlignKernelAttrs): number[] {
  return [inputs.boxes.shape[0], attrs.pooledHeight, attrs.pooledWidth, inputs.x.shape[3]];
}

function cpuValues<T extends TypedArray>(backend: CpuBackendLike, info: TensorInfo): T {
  return backend.data.get(info.dataId).values as T;
}

const roiAlignCpu = ({ inputs, backend, attrs }: { inputs: unknown; backend: unknown; attrs?: unknown }) => {
  const ins = inputs as RoiAlignInputs;
  const a = attrs as RoiAlignKernelAttrs;
  const b = backend as CpuBackendLike;
  const shape = outShape(ins, a);
  const out = new Float32Array(shape.reduce((p, d) => p * d, 1));
  if (out.length > 0) {
    roiAlignForwardImpl(
      cpuValues<Float32Array>(b, ins.x),
      mapShape(ins.x.shape),
      cpuValues<Float32Array>(b, ins.boxes),
      cpuValues<Int32Array>(b, ins.boxIndices),
      a,
      out,
    );
  }
  return b.makeTensorInfo(shape, 'float32', out);
};

const roiAlignGradCpu = ({ inputs, backend, attrs }: { inputs: unknown; backend: unknown; attrs?: unknown }) => {
  const ins = inputs as RoiAlignGradInputs;
  const a = attrs as RoiAlignGradAttrs;
  const b = backend as CpuBackendLike;
  const shape = Array.from(a.inputShape);
  const dx = new Float32Array(shape.reduce((p, d) => p * d, 1));
  if (dx.length > 0 && ins.boxIndices.shape[0] > 0) {
    roiAlignBackwardImpl(
      cpuValues<Float32Array>(b, ins.dy),
      mapShape(shape),
      cpuValues<Float32Array>(b, ins.boxes),
      cpuValues<Int32Array>(b, ins.boxIndices),
      a,
      dx,
    );
  }
  return b.makeTensorInfo(shape, 'float32', dx);
};

const roiAlignWasm = ({ inputs, backend, attrs }: { inputs: unknown; backend: unknown; attrs?: unknown }) => {
  const ins = inputs as RoiAlignInputs;
  const a = attrs as RoiAlignKernelAttrs;
  const b = backend as WasmBackendLike;
  const shape = outShape(ins, a);
  // Allocate first: allocation may grow (and so detach) the heap that the input views look at.
  const out = b.makeOutput(shape, 'float32');
  if (shape.reduce((p, d) => p * d, 1) === 0) return out;
  const outValues = b.typedArrayFromHeap(out) as Float32Array;
  outValues.fill(0);
  roiAlignForwardImpl(
    b.typedArrayFromHeap(ins.x) as Float32Array,
    mapShape(ins.x.shape),
    b.typedArrayFromHeap(ins.boxes) as Float32Array,
    b.typedArrayFromHeap(ins.boxIndices) as Int32Array,
    a,
    outValues,
  );
  return out;
};

const roiAlignGradWasm = ({ inputs, backend, attrs }: { inputs: unknown; backend: unknown; attrs?: unknown }) => {
  const ins = inputs as RoiAlignGradInputs;
  const a = attrs as RoiAlignGradAttrs;
  const b = backend as WasmBackendLike;
  const shape = Array.from(a.inputShape);
  const dx = b.makeOutput(shape, 'float32');
  if (shape.reduce((p, d) => p * d, 1) === 0) return dx;
  const dxValues = b.typedArrayFromHeap(dx) as Float32Array;
  dxValues.fill(0);
  if (ins.boxIndices.shape[0] > 0) {
    roiAlignBackwardImpl(
      b.typedArrayFromHeap(ins.dy) as Float32Array,
      mapShape(shape),
      b.typedArrayFromHeap(ins.boxes) as Float32Array,
      b.typedArrayFromHeap(ins.boxIndices) as Int32Array,
      a,
      dxValues,
    );
  }
  return dx;
};

export const roiAlignKernelConfigs: KernelConfig[] = [
  { kernelName: RoiAlign, backendName: 'cpu', kernelFunc: roiAlignCpu as unknown as KernelFunc },
  { kernelName: RoiAlignGrad, backendName: 'cpu', kernelFunc: roiAlignGradCpu as unknown as KernelFunc },
  { kernelName: RoiAlign, backendName: 'wasm', kernelFunc: roiAlignWasm as unknown as KernelFunc },
  { kernelName: RoiAlignGrad, backendName: 'wasm', kernelFunc: roiAlignGradWasm as unknown as KernelFunc },
];
