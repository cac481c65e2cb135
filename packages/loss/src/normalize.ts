/**
 * L2 normalisation along the last axis, as PyTorch's `F.normalize(x, dim=-1, eps)`:
 * `x / max(||x||, eps)`.
 */
import * as tf from '@tensorflow/tfjs-core';
import { ScrlError } from '@scrl/util';

/** Default eps of `F.normalize` and of the SCRL/BYOL loss. */
export const NORMALIZE_EPS = 1e-12;

/**
 * Divides every row of `x` by its L2 norm, clamped below by `eps`.
 *
 * The gradient is written out rather than derived through `sqrt`, so an all-zero row gets
 * the same finite gradient as in PyTorch (`g / eps`) instead of `NaN` from `sqrt'(0)`.
 *
 * @param x `[..., D]` float tensor.
 * @param eps lower bound of the norm (default 1e-12).
 * @returns `[..., D]`, rows of unit length (or `x / eps` for rows with norm below `eps`).
 */
export function l2Normalize(x: tf.Tensor, eps = NORMALIZE_EPS): tf.Tensor {
  if (!(x instanceof tf.Tensor)) {
    throw new ScrlError(`Error in l2Normalize: x must be a tf.Tensor but got ${typeof x}.`);
  }
  if (x.rank < 1) {
    throw new ScrlError(`Error in l2Normalize: x must have rank >= 1 but had shape [${x.shape}].`);
  }
  if (!(eps > 0)) {
    throw new ScrlError(`Error in l2Normalize: eps must be > 0 but got ${eps}.`);
  }
  const op = tf.customGrad(((input: tf.Tensor, save: tf.GradSaveFunc) => {
    const norm = tf.sqrt(tf.sum(tf.square(input), -1, true));
    const denom = tf.maximum(norm, eps);
    const value = tf.div(input, denom);
    save([value, norm, denom]);
    return {
      value,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [y, n, d] = saved;
        // Where ||x|| > eps: (dy - y * <y, dy>) / ||x||; elsewhere the denominator is the
        // constant eps and the gradient is dy / eps.
        // A 0/1 float mask broadcast by multiplication (no tile of a bool tensor).
        const above = tf.cast(tf.greater(n, eps), 'float32');
        const radial = tf.mul(y, tf.mul(tf.sum(tf.mul(y, dy), -1, true), above));
        return tf.div(tf.sub(dy, radial), d);
      },
    };
  }) as unknown as Parameters<typeof tf.customGrad>[0]);
  return op(x);
}
