/**
 * `Tile` by block copies. BatchNorm's gradient in tfjs-core tiles a [1, 1, 1, C] vector to the
 * full [N, H, W, C] activation once per BatchNorm layer; both stock kernels compute every output
 * element's source index one at a time (cpu even allocates arrays per element), which took 15 %
 * of a wasm ResNet-18 step. Here each repetition is one `copyWithin` of a contiguous block.
 *
 * Layout: along dimension d the output holds reps[d] back-to-back copies of the input's
 * sub-block, so one repetition is a contiguous run of x.shape[d] * (output size inside d).
 */
import * as tf from '@tensorflow/tfjs-core';
import { allocate, view } from './kernel-utils';

export function tileByBlocks(args: {
  inputs: tf.NamedTensorInfoMap;
  backend: tf.KernelBackend;
  attrs: tf.NamedAttrMap;
}): tf.TensorInfo | null {
  const { inputs, backend } = args;
  const { reps } = args.attrs as unknown as tf.TileAttrs;
  const { x } = inputs as { x: tf.TensorInfo };
  // string and bool tensors go to the stock kernel.
  if (x.dtype !== 'float32' && x.dtype !== 'int32') return null;
  const rank = x.shape.length;
  if (reps.length !== rank) {
    throw new Error(`Error in Tile: reps [${reps}] must have one entry per dimension of x [${x.shape}].`);
  }
  const outShape = x.shape.map((d, i) => d * reps[i]);
  const out = allocate(backend, outShape, x.dtype);
  if (out.data.length === 0) return out.info;
  const src = view(backend, x);
  const dst = out.data;
  if (rank === 0) {
    dst[0] = src[0];
    return out.info;
  }
  const inStride = new Array<number>(rank);
  const outInner = new Array<number>(rank); // output elements inside one index of dimension d
  inStride[rank - 1] = 1;
  outInner[rank - 1] = 1;
  for (let d = rank - 2; d >= 0; d--) {
    inStride[d] = inStride[d + 1] * x.shape[d + 1];
    outInner[d] = outInner[d + 1] * outShape[d + 1];
  }
  const fill = (d: number, inOff: number, outOff: number): void => {
    const n = x.shape[d];
    if (d === rank - 1) {
      for (let i = 0; i < n; i++) dst[outOff + i] = src[inOff + i];
    } else {
      for (let i = 0; i < n; i++) fill(d + 1, inOff + i * inStride[d], outOff + i * outInner[d]);
    }
    const block = n * outInner[d];
    // Doubling copies: 1, 2, 4, ... repetitions already written.
    for (let done = 1; done < reps[d]; ) {
      const now = Math.min(done, reps[d] - done);
      dst.copyWithin(outOff + done * block, outOff, outOff + now * block);
      done += now;
    }
  };
  fill(0, 0, 0);
  return out.info;
}
