/**
 * `BatchMatMul` on wasm for transposed operands and batches.
 *
 * The stock wasm kernel sends one case to XNNPACK's fully-connected operator: a single matrix
 * product (batch 1) with neither operand transposed. Every other case (`transposeA`,
 * `transposeB`, or a batch of products) runs a plain blocked loop at about 1 GFLOP/s, 10 to 30
 * times slower. The backward pass of every dense layer uses exactly those cases (dx = dy Wᵀ,
 * dW = xᵀ dy), which made BatchMatMul the largest kernel of an SCRL step (box rows through the
 * projector and predictor).
 *
 * Here a transposed operand is first transposed explicitly with the backend's own `Transpose`
 * kernel (a memory-bound copy, O(size), against the product's O(M N K)), and a batch is split
 * into batch-1 products whose inputs are copied out of the batched tensors; each product then
 * goes to the stock kernel's fast path. The arithmetic is XNNPACK's in every case, so results
 * equal the stock fast path's, and they differ from the stock slow loop only by float32
 * summation order.
 */
import * as tf from '@tensorflow/tfjs-core';
import { allocate, release, runBackendKernel, view } from './kernel-utils';

type KernelArgs = { inputs: tf.NamedTensorInfoMap; backend: tf.KernelBackend; attrs: tf.NamedAttrMap };
type StockKernel = (args: KernelArgs) => tf.TensorInfo;

/** A matrix `[rows, cols]` of a batch, as a new float32 tensor (the caller releases it). */
function matrixOf(backend: tf.KernelBackend, x: tf.TensorInfo, batch: number, index: number, rows: number, cols: number): tf.TensorInfo {
  const size = rows * cols;
  const out = allocate(backend, [rows, cols], 'float32'); // allocate before taking the input's view
  const src = view(backend, x);
  const offset = batch === 1 ? 0 : index * size;
  out.data.set(src.subarray(offset, offset + size) as Float32Array);
  return out.info;
}

/** `m` (a matrix we own) transposed when `transpose`; `m` is released if replaced. */
function upright(backend: tf.KernelBackend, m: tf.TensorInfo, transpose: boolean): tf.TensorInfo {
  if (!transpose) return m;
  const t = runBackendKernel('Transpose', backend, { x: m }, { perm: [1, 0] } as unknown as tf.NamedAttrMap);
  release(backend, m);
  return t;
}

/**
 * Our wasm `BatchMatMul`, or null for the case the stock kernel already runs on XNNPACK
 * (batch 1, no transpose) and for non-float32 inputs (the stock kernel's error).
 */
export function batchMatMulWasm(args: KernelArgs, stock: StockKernel): tf.TensorInfo | null {
  const { a, b } = args.inputs as { a: tf.TensorInfo; b: tf.TensorInfo };
  const { transposeA, transposeB } = args.attrs as unknown as tf.BatchMatMulAttrs;
  if (a.dtype !== 'float32' || b.dtype !== 'float32') return null;
  const ra = a.shape.length;
  const rb = b.shape.length;
  if (ra < 2 || rb < 2) return null;
  const batchA = tf.util.sizeFromShape(a.shape.slice(0, -2));
  const batchB = tf.util.sizeFromShape(b.shape.slice(0, -2));
  if (batchA === 1 && batchB === 1 && !transposeA && !transposeB) return null;
  const outerDims = tf.backend_util.assertAndGetBroadcastShape(a.shape.slice(0, -2), b.shape.slice(0, -2));
  const batch = tf.util.sizeFromShape(outerDims);
  // TF.js broadcasts batch dimensions only as a whole (one side a single matrix).
  if ((batchA !== 1 && batchA !== batch) || (batchB !== 1 && batchB !== batch)) return null;
  const [aRows, aCols] = a.shape.slice(-2);
  const [bRows, bCols] = b.shape.slice(-2);
  const m = transposeA ? aCols : aRows;
  const k = transposeA ? aRows : aCols;
  const kb = transposeB ? bCols : bRows;
  const n = transposeB ? bRows : bCols;
  if (k !== kb) {
    throw new Error(
      `Error in matMul: inner shapes (${k}) and (${kb}) of Tensors with shapes ${a.shape} and ${b.shape} and ` +
        `transposeA=${transposeA} and transposeB=${transposeB} must match.`,
    );
  }
  const outShape = [...outerDims, m, n];
  // An empty sum (k = 0) is 0; XNNPACK would leave such an output unwritten.
  if (batch * m * n === 0 || k === 0) return allocate(args.backend, outShape, 'float32').info;
  const noTranspose = { transposeA: false, transposeB: false } as unknown as tf.NamedAttrMap;
  if (batch === 1) {
    // Views of the same data as rank-2 matrices: a reshape shares the buffer, so copy only to transpose.
    const a2 = transposeA ? upright(args.backend, matrixOf(args.backend, a, 1, 0, aRows, aCols), true) : a;
    const b2 = transposeB ? upright(args.backend, matrixOf(args.backend, b, 1, 0, bRows, bCols), true) : b;
    try {
      const out = stock({ inputs: { a: a2, b: b2 }, backend: args.backend, attrs: noTranspose });
      out.shape = outShape;
      return out;
    } finally {
      if (a2 !== a) release(args.backend, a2);
      if (b2 !== b) release(args.backend, b2);
    }
  }
  const result = allocate(args.backend, outShape, 'float32');
  // b shared by every product: transpose it once.
  const shared = batchB === 1 ? upright(args.backend, matrixOf(args.backend, b, 1, 0, bRows, bCols), transposeB) : null;
  try {
    for (let i = 0; i < batch; i++) {
      const ai = upright(args.backend, matrixOf(args.backend, a, batchA, i, aRows, aCols), transposeA);
      const bi = shared ?? upright(args.backend, matrixOf(args.backend, b, batchB, i, bRows, bCols), transposeB);
      try {
        const prod = stock({ inputs: { a: ai, b: bi }, backend: args.backend, attrs: noTranspose });
        // Views after every allocation: a heap growth detaches earlier ones.
        const dst = view(args.backend, result.info) as Float32Array;
        dst.set(view(args.backend, prod) as Float32Array, i * m * n);
        release(args.backend, prod);
      } finally {
        release(args.backend, ai);
        if (bi !== shared) release(args.backend, bi);
      }
    }
  } finally {
    if (shared) release(args.backend, shared);
  }
  return result.info;
}
