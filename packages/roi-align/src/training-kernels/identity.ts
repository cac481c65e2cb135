/**
 * `Identity` on wasm without a copy. TF.js's engine clones (Identity) every tensor a gradient
 * saves for the backward pass: in a training step that is most of the activations (154 calls per
 * BYOL step of the `cpu` preset). The stock wasm kernel copies each one into a new heap buffer;
 * tensors are immutable, so the output can share the input's buffer under a reference count, as
 * the wasm `Reshape` and the cpu backend's `Identity` already do. String tensors keep the stock
 * kernel.
 */
import * as tf from '@tensorflow/tfjs-core';

export function identitySharing(args: { inputs: tf.NamedTensorInfoMap; backend: tf.KernelBackend }): tf.TensorInfo | null {
  const { x } = args.inputs as { x: tf.TensorInfo };
  if (x.dtype === 'string') return null;
  args.backend.incRef(x.dataId);
  return { dataId: x.dataId, shape: x.shape.slice(), dtype: x.dtype };
}
