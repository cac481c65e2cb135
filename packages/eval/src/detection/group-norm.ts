/**
 * PyTorch's `GroupNorm` on NHWC tensors, with its gradient.
 *
 * Two implementations of one definition. On the cpu and wasm backends with @scrl/optim's host
 * loops on (`onHost()`), forward and backward are one kernel call each (@scrl/models'
 * `fusedGroupNorm`: statistics summed in float64 over views of the backend's memory); for the
 * FCOS head's largest shape ([16, 32, 32, 32], 32 groups) on wasm, forward+backward went from
 * 32 ms and 86 kernel calls as tensor ops to about 3 ms. On webgl/webgpu the data should not
 * leave the device, so there GroupNorm is written with tensor ops and TF.js derives the gradient.
 */
import * as tf from '@tensorflow/tfjs-core';
import { fusedGroupNorm, fusedGroupNormAvailable } from '@scrl/models';
import { onHost } from '@scrl/optim';

const EPS = 1e-5;

function checkGroups(c: number, groups: number): void {
  if (!Number.isInteger(groups) || groups < 1 || c % groups !== 0) {
    throw new Error(`groupNorm: groups must be a positive divisor of the ${c} channels, got ${groups}.`);
  }
}

/** The tensor-op definition (TF.js differentiates it). */
export function groupNormOps(x: tf.Tensor4D, groups: number, weight: tf.Tensor1D, bias: tf.Tensor1D): tf.Tensor4D {
  const [n, h, w, c] = x.shape;
  checkGroups(c, groups);
  return tf.tidy(() => {
    const g = tf.reshape(x, [n, h, w, groups, c / groups]);
    const { mean, variance } = tf.moments(g, [1, 2, 4], true);
    const y = tf.reshape(tf.mul(tf.sub(g, mean), tf.rsqrt(tf.add(variance, EPS))), [n, h, w, c]);
    return tf.add(tf.mul(y, weight), bias) as tf.Tensor4D;
  });
}

/**
 * The fused implementation: @scrl/models' GroupNorm kernels (one forward and one backward
 * kernel call, float64 sums over views of the backend's memory); cpu and wasm only. Exported for
 * tests.
 */
export function groupNormHost(x: tf.Tensor4D, groups: number, weight: tf.Tensor1D, bias: tf.Tensor1D): tf.Tensor4D {
  checkGroups(x.shape[3], groups);
  return fusedGroupNorm(x, groups, weight, bias, EPS);
}

/**
 * PyTorch's `GroupNorm` on NHWC input: each image's channels split into `groups` consecutive
 * groups, each normalised by its mean and biased variance over (H, W, channels of the group),
 * eps 1e-5, then the per-channel affine `weight`, `bias`.
 */
export function groupNorm(x: tf.Tensor4D, groups: number, weight: tf.Tensor1D, bias: tf.Tensor1D): tf.Tensor4D {
  checkGroups(x.shape[3], groups);
  if (x.dtype !== 'float32' || !onHost() || !fusedGroupNormAvailable()) return groupNormOps(x, groups, weight, bias);
  return groupNormHost(x, groups, weight, bias);
}
