/**
 * InfoNCE (van den Oord et al., 2018) with in-batch negatives, as used by SimCLR/MoCo-style
 * methods; here to show that the normalisation above serves other contrastive losses.
 */
import * as tf from '@tensorflow/tfjs-core';
import { l2Normalize, NORMALIZE_EPS } from './normalize';
import { ScrlError } from '@scrl/util';

/**
 * `mean_i -log( exp(s_ii / T) / sum_j exp(s_ij / T) )` with `s_ij = cos(q_i, k_j)`.
 *
 * Row `i` of `k` is the positive of `q[i]`; every other row of `k` is a negative. This is
 * cross-entropy over the `[N, N]` similarity logits with target `i` for row `i`.
 *
 * @param q `[N, D]` queries.
 * @param k `[N, D]` keys, `k[i]` the positive of `q[i]`.
 * @param temperature `T > 0` (default 0.1).
 * @returns scalar.
 */
export function infoNce(q: tf.Tensor, k: tf.Tensor, temperature = 0.1): tf.Scalar {
  for (const [name, t] of [['q', q], ['k', k]] as const) {
    if (!(t instanceof tf.Tensor) || t.rank !== 2) {
      const got = t instanceof tf.Tensor ? `shape [${t.shape}]` : typeof t;
      throw new ScrlError(`Error in infoNce: ${name} must be a [N, D] tf.Tensor but got ${got}.`);
    }
  }
  if (q.shape[0] !== k.shape[0] || q.shape[1] !== k.shape[1]) {
    throw new ScrlError(`Error in infoNce: q [${q.shape}] and k [${k.shape}] must have the same shape.`);
  }
  if (q.shape[0] < 1) {
    throw new ScrlError('Error in infoNce: needs at least one row (q and k had 0 rows).');
  }
  if (!(temperature > 0) || !Number.isFinite(temperature)) {
    throw new ScrlError(`Error in infoNce: temperature must be a finite number > 0 but got ${temperature}.`);
  }
  const n = q.shape[0];
  return tf.tidy(() => {
    const logits = tf.div(
      tf.matMul(l2Normalize(q, NORMALIZE_EPS), l2Normalize(k, NORMALIZE_EPS), false, true),
      temperature,
    );
    const logProb = tf.logSoftmax(logits, -1);
    const positive = tf.sum(tf.mul(logProb, tf.eye(n)), -1);
    return tf.neg(tf.mean(positive)) as tf.Scalar;
  });
}
