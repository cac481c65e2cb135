/**
 * Broadcasting `Multiply`, `Add`, `Sub` and `RealDiv` for the `cpu` backend, float32 only.
 *
 * The stock cpu kernels handle a broadcast (operands of different shapes) by converting every
 * output index to coordinates and back, one element at a time. The gradient of `tf.sum` and
 * `tf.mean` is exactly such a broadcast (`dy` reshaped to `[1, 1, ..., 1]` times `ones(x.shape)`),
 * so `tf.grad(x => roiAlign(x, ...).sum())` spent 400 ms of its 510 ms in one `Multiply` at the
 * SCRL shape. Here the shapes are collapsed into as few dimensions as the broadcast allows and
 * the innermost dimension is a plain loop with a stride of 0 or 1 per operand.
 *
 * Each output element is the same float64 expression rounded to float32 as in the stock kernel
 * (`a * b`, `a + b`, `a - b`, `a / b`), so results are bit-identical. Operands of equal shape,
 * and any dtype but float32, go to the stock kernel (returns null).
 */
import * as tf from '@tensorflow/tfjs-core';
import { allocate, view } from './kernel-utils';

export type BinaryKernelName = 'Multiply' | 'Add' | 'Sub' | 'RealDiv';

type Loop = (out: Float32Array, o: number, a: ArrayLike<number>, ai: number, sa: number, b: ArrayLike<number>, bi: number, sb: number, n: number) => void;

// One loop per operation, so that the innermost loop has no call or branch on the operation;
// the two cases where one operand is constant along the inner dimension (the gradient of sum and
// mean, BatchNorm's per-channel vectors after collapsing) get loops of their own.
const LOOPS: Record<BinaryKernelName, Loop> = {
  Multiply: (out, o, a, ai, sa, b, bi, sb, n) => {
    if (sa === 0 && sb === 1) {
      const x = a[ai];
      for (let i = 0; i < n; i++) out[o + i] = x * b[bi + i];
    } else if (sa === 1 && sb === 0) {
      const y = b[bi];
      for (let i = 0; i < n; i++) out[o + i] = a[ai + i] * y;
    } else {
      for (let i = 0; i < n; i++, ai += sa, bi += sb) out[o + i] = a[ai] * b[bi];
    }
  },
  Add: (out, o, a, ai, sa, b, bi, sb, n) => {
    if (sa === 0 && sb === 1) {
      const x = a[ai];
      for (let i = 0; i < n; i++) out[o + i] = x + b[bi + i];
    } else if (sa === 1 && sb === 0) {
      const y = b[bi];
      for (let i = 0; i < n; i++) out[o + i] = a[ai + i] + y;
    } else {
      for (let i = 0; i < n; i++, ai += sa, bi += sb) out[o + i] = a[ai] + b[bi];
    }
  },
  Sub: (out, o, a, ai, sa, b, bi, sb, n) => {
    if (sa === 0 && sb === 1) {
      const x = a[ai];
      for (let i = 0; i < n; i++) out[o + i] = x - b[bi + i];
    } else if (sa === 1 && sb === 0) {
      const y = b[bi];
      for (let i = 0; i < n; i++) out[o + i] = a[ai + i] - y;
    } else {
      for (let i = 0; i < n; i++, ai += sa, bi += sb) out[o + i] = a[ai] - b[bi];
    }
  },
  RealDiv: (out, o, a, ai, sa, b, bi, sb, n) => {
    if (sa === 0 && sb === 1) {
      const x = a[ai];
      for (let i = 0; i < n; i++) out[o + i] = x / b[bi + i];
    } else if (sa === 1 && sb === 0) {
      const y = b[bi];
      for (let i = 0; i < n; i++) out[o + i] = a[ai + i] / y;
    } else {
      for (let i = 0; i < n; i++, ai += sa, bi += sb) out[o + i] = a[ai] / b[bi];
    }
  },
};

/**
 * The broadcast of `aShape` and `bShape` as a list of collapsed dimensions: sizes and, per
 * operand, the element stride along each (0 where the operand is broadcast). Adjacent
 * dimensions are merged when both operands are either contiguous across them or broadcast
 * along both; size-1 output dimensions are dropped.
 */
export function collapseBroadcast(aShape: number[], bShape: number[]): { outShape: number[]; sizes: number[]; aStrides: number[]; bStrides: number[] } {
  const outShape = tf.backend_util.assertAndGetBroadcastShape(aShape, bShape);
  const rank = outShape.length;
  const pad = (s: number[]) => [...new Array<number>(rank - s.length).fill(1), ...s];
  const a = pad(aShape);
  const b = pad(bShape);
  // Walk from the innermost dimension out, keeping each operand's running contiguous stride.
  const sizes: number[] = [];
  const aStrides: number[] = [];
  const bStrides: number[] = [];
  let aRun = 1;
  let bRun = 1;
  for (let d = rank - 1; d >= 0; d--) {
    const n = outShape[d];
    if (n === 1) continue;
    const sa = a[d] === 1 ? 0 : aRun;
    const sb = b[d] === 1 ? 0 : bRun;
    const last = sizes.length - 1;
    // Merge with the inner dimension when it continues both operands' patterns.
    if (
      last >= 0 &&
      (sa === 0 ? aStrides[last] === 0 : aStrides[last] !== 0 && sa === aStrides[last] * sizes[last]) &&
      (sb === 0 ? bStrides[last] === 0 : bStrides[last] !== 0 && sb === bStrides[last] * sizes[last])
    ) {
      sizes[last] *= n;
    } else {
      sizes.push(n);
      aStrides.push(sa);
      bStrides.push(sb);
    }
    aRun *= a[d];
    bRun *= b[d];
  }
  sizes.reverse();
  aStrides.reverse();
  bStrides.reverse();
  return { outShape, sizes, aStrides, bStrides };
}

export function broadcastBinaryCpu(
  kernelName: BinaryKernelName,
  args: { inputs: tf.NamedTensorInfoMap; backend: tf.KernelBackend; attrs: tf.NamedAttrMap },
): tf.TensorInfo | null {
  const { a, b } = args.inputs as { a: tf.TensorInfo; b: tf.TensorInfo };
  if (a.dtype !== 'float32' || b.dtype !== 'float32') return null;
  if (tf.util.arraysEqual(a.shape, b.shape)) return null; // the stock kernel's fast path
  const { outShape, sizes, aStrides, bStrides } = collapseBroadcast(a.shape, b.shape);
  const out = allocate(args.backend, outShape, 'float32');
  const dst = out.data;
  if (dst.length === 0) return out.info;
  const av = view(args.backend, a);
  const bv = view(args.backend, b);
  const loop = LOOPS[kernelName];
  const rank = sizes.length;
  if (rank === 0) {
    loop(dst, 0, av, 0, 0, bv, 0, 0, 1);
    return out.info;
  }
  const inner = sizes[rank - 1];
  const sa = aStrides[rank - 1];
  const sb = bStrides[rank - 1];
  // Odometer over the outer dimensions.
  const index = new Array<number>(rank).fill(0);
  let ai = 0;
  let bi = 0;
  for (let o = 0; o < dst.length; o += inner) {
    loop(dst, o, av, ai, sa, bv, bi, sb, inner);
    for (let d = rank - 2; d >= 0; d--) {
      ai += aStrides[d];
      bi += bStrides[d];
      if (++index[d] < sizes[d]) break;
      ai -= aStrides[d] * sizes[d];
      bi -= bStrides[d] * sizes[d];
      index[d] = 0;
    }
  }
  return out.info;
}
