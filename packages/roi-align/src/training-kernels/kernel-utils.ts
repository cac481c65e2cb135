/**
 * Small helpers shared by the training kernels: typed-array access to a backend's tensor data,
 * calls into the backend's own kernels (so XNNPACK does the arithmetic on wasm), and the
 * convolution geometry TF.js uses.
 *
 * A kernel function receives and returns `TensorInfo`s, not tensors. Anything a kernel makes in
 * between (the output of a nested kernel call, a scratch buffer) is invisible to the engine, so
 * the kernel disposes it itself with `release`.
 */
import * as tf from '@tensorflow/tfjs-core';

type TensorInfo = tf.TensorInfo;
type Backend = tf.KernelBackend;

/** What the wasm backend adds to `KernelBackend` that we use (see tfjs-backend-wasm's backend_wasm.ts). */
interface WasmBackendLike extends Backend {
  makeOutput(shape: number[], dtype: tf.DataType): TensorInfo;
  typedArrayFromHeap(info: TensorInfo): Float32Array | Int32Array | Uint8Array;
}

/** What the cpu backend adds to `KernelBackend` that we use (see tfjs-backend-cpu's backend_cpu.ts). */
interface CpuBackendLike extends Backend {
  makeTensorInfo(shape: number[], dtype: tf.DataType, values?: tf.backend_util.BackendValues): TensorInfo;
}

function isWasm(backend: Backend): backend is WasmBackendLike {
  return typeof (backend as Partial<WasmBackendLike>).typedArrayFromHeap === 'function';
}

/** The name a backend instance is registered under ('wasm' or 'cpu' here). */
export function backendNameOf(backend: Backend): string {
  return isWasm(backend) ? 'wasm' : 'cpu';
}

/**
 * Allocates a float32 or int32 tensor on `backend` and hands back a writable view of its
 * storage, zero-filled. On wasm the view points into the wasm heap: fill it before anything
 * else allocates (a heap growth detaches it).
 */
export function allocate<D extends 'float32' | 'int32'>(
  backend: Backend,
  shape: number[],
  dtype: D,
): { info: TensorInfo; data: D extends 'float32' ? Float32Array : Int32Array } {
  type Out = D extends 'float32' ? Float32Array : Int32Array;
  if (isWasm(backend)) {
    const info = backend.makeOutput(shape, dtype);
    const data = backend.typedArrayFromHeap(info) as Out;
    data.fill(0);
    return { info, data };
  }
  const size = shape.reduce((a, b) => a * b, 1);
  const data = (dtype === 'float32' ? new Float32Array(size) : new Int32Array(size)) as Out;
  const info = (backend as CpuBackendLike).makeTensorInfo(shape, dtype, data);
  return { info, data };
}

/**
 * Read access to a tensor's values without a copy where the backend allows it (wasm: a view of
 * the heap, valid until the next allocation; cpu: the stored array).
 */
export function view(backend: Backend, info: TensorInfo): Float32Array | Int32Array | Uint8Array {
  if (isWasm(backend)) return backend.typedArrayFromHeap(info);
  return backend.readSync(info.dataId) as Float32Array | Int32Array | Uint8Array;
}

/** Frees a tensor made inside a kernel (never one of the kernel's inputs). */
export function release(backend: Backend, info: TensorInfo): void {
  backend.disposeData(info.dataId);
}

/**
 * Runs the kernel currently registered as `kernelName` for this backend, outside the engine
 * (no tape, no tracking): the caller owns and must release the result.
 */
export function runBackendKernel(
  kernelName: string,
  backend: Backend,
  inputs: tf.NamedTensorInfoMap,
  attrs: tf.NamedAttrMap,
): TensorInfo {
  const name = backendNameOf(backend);
  const kernel = tf.getKernel(kernelName, name);
  if (kernel == null) {
    throw new Error(`training kernels: the ${name} backend has no '${kernelName}' kernel, which they build on.`);
  }
  const out = kernel.kernelFunc({ inputs, attrs, backend });
  return Array.isArray(out) ? out[0] : out;
}

/** Padding, strides and sizes of a 2-D convolution in NHWC, as TF.js computes them. */
export interface ConvGeometry {
  batch: number;
  inHeight: number;
  inWidth: number;
  inChannels: number;
  outHeight: number;
  outWidth: number;
  outChannels: number;
  filterHeight: number;
  filterWidth: number;
  strideHeight: number;
  strideWidth: number;
  padTop: number;
  padLeft: number;
}

/**
 * Resolves a conv2d's attributes (`pad` as 'same' | 'valid' | number | explicit NHWC pairs) into
 * numbers with TF.js's own rules, so our kernels agree with the forward op exactly.
 */
export function convGeometry(
  kernelName: string,
  xShape: number[],
  filterShape: number[],
  attrs: {
    strides: number | [number, number];
    pad: tf.backend_util.ExplicitPadding | 'same' | 'valid' | number;
    dataFormat?: 'NHWC' | 'NCHW';
    dimRoundingMode?: 'floor' | 'round' | 'ceil';
  },
): ConvGeometry {
  if (attrs.dataFormat === 'NCHW') {
    throw new Error(
      `Error in ${kernelName} (@scrl/roi-align training kernel): dataFormat 'NCHW' is not supported; ` +
        `use 'NHWC' (the layout every @scrl package uses).`,
    );
  }
  const info = tf.backend_util.computeConv2DInfo(
    xShape as [number, number, number, number],
    filterShape as [number, number, number, number],
    attrs.strides,
    1,
    attrs.pad,
    attrs.dimRoundingMode,
    false,
    'channelsLast',
  );
  return {
    batch: info.batchSize,
    inHeight: info.inHeight,
    inWidth: info.inWidth,
    inChannels: info.inChannels,
    outHeight: info.outHeight,
    outWidth: info.outWidth,
    outChannels: info.outChannels,
    filterHeight: info.filterHeight,
    filterWidth: info.filterWidth,
    strideHeight: info.strideHeight,
    strideWidth: info.strideWidth,
    padTop: info.padInfo.top,
    padLeft: info.padInfo.left,
  };
}
