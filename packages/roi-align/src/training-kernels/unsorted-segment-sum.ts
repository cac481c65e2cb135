/**
 * `UnsortedSegmentSum` for the wasm backend, which lacks it; `tf.gather`'s gradient uses it.
 *
 * out[k, ...] = sum over i with segmentIds[i] == k of x[i, ...], for k in [0, numSegments);
 * ids outside that range are dropped, as in TensorFlow. `segmentIds` is 1-D (tf.unsortedSegmentSum
 * requires it; a higher rank that prefixes x's shape also works here); the output shape is
 * [numSegments, ...x.shape.slice(rank of segmentIds)], with x's dtype.
 */
import * as tf from '@tensorflow/tfjs-core';
import { allocate, view } from './kernel-utils';

export function unsortedSegmentSumTypedArray(args: {
  inputs: tf.NamedTensorInfoMap;
  backend: tf.KernelBackend;
  attrs: tf.NamedAttrMap;
}): tf.TensorInfo {
  const { inputs, backend } = args;
  const { numSegments } = args.attrs as unknown as tf.UnsortedSegmentSumAttrs;
  const { x, segmentIds } = inputs as { x: tf.TensorInfo; segmentIds: tf.TensorInfo };
  const idRank = segmentIds.shape.length;
  if (idRank === 0 || idRank > x.shape.length || segmentIds.shape.some((d, i) => d !== x.shape[i])) {
    throw new Error(
      `Error in UnsortedSegmentSum: segmentIds shape [${segmentIds.shape}] must be a non-empty prefix of ` +
        `x shape [${x.shape}].`,
    );
  }
  if (!Number.isInteger(numSegments) || numSegments < 0) {
    throw new Error(`Error in UnsortedSegmentSum: numSegments must be a non-negative integer, got ${numSegments}.`);
  }
  if (x.dtype !== 'float32' && x.dtype !== 'int32') {
    throw new Error(`Error in UnsortedSegmentSum: x must be float32 or int32, got ${x.dtype}.`);
  }
  const inner = x.shape.slice(idRank).reduce((a, b) => a * b, 1);
  const count = segmentIds.shape.reduce((a, b) => a * b, 1);
  const out = allocate(backend, [numSegments, ...x.shape.slice(idRank)], x.dtype);
  const values = view(backend, x);
  const ids = view(backend, segmentIds);
  const o = out.data;
  for (let i = 0; i < count; i++) {
    const k = ids[i];
    if (k < 0 || k >= numSegments) continue;
    const src = i * inner;
    const dst = k * inner;
    for (let j = 0; j < inner; j++) o[dst + j] += values[src + j];
  }
  return out.info;
}
