/**
 * BYOL's regression loss and its SCRL (box pairs) and BYOL (images) symmetric forms.
 */
import * as tf from '@tensorflow/tfjs-core';
import { l2Normalize, NORMALIZE_EPS } from './normalize';
import { ScrlError } from '@scrl/util';

function checkMatrix(fn: string, name: string, t: tf.Tensor): void {
  if (!(t instanceof tf.Tensor)) {
    throw new ScrlError(`Error in ${fn}: ${name} must be a tf.Tensor but got ${typeof t}.`);
  }
  if (t.rank !== 2) {
    throw new ScrlError(`Error in ${fn}: ${name} must have shape [N, D] but had shape [${t.shape}].`);
  }
  if (t.dtype !== 'float32') {
    throw new ScrlError(`Error in ${fn}: ${name} must be float32 but was ${t.dtype}.`);
  }
}

function checkSameShape(fn: string, names: string[], ts: tf.Tensor[]): void {
  for (let i = 0; i < ts.length; i++) checkMatrix(fn, names[i], ts[i]);
  for (let i = 1; i < ts.length; i++) {
    if (ts[i].shape[0] !== ts[0].shape[0] || ts[i].shape[1] !== ts[0].shape[1]) {
      throw new ScrlError(
        `Error in ${fn}: ${names[i]} must have the shape of ${names[0]} [${ts[0].shape}] ` +
          `but had shape [${ts[i].shape}]. Rows are matched by index.`,
      );
    }
  }
}

/**
 * `2 - 2 cos(q, z)` per row, with both inputs L2-normalised as `F.normalize(x, dim=-1,
 * eps=1e-12)`. This is BYOL's loss; it equals `||q/|q| - z/|z|||^2`.
 *
 * Gradients flow into both inputs: compute `z` outside the gradient scope (or wrap it in
 * your own stop-gradient) when it is a target.
 *
 * @param q `[N, D]` online predictions.
 * @param z `[N, D]` target projections, row `i` matched with `q[i]`.
 * @returns `[N]`, values in `[0, 4]`.
 */
export function regressionLoss(q: tf.Tensor, z: tf.Tensor): tf.Tensor1D {
  checkSameShape('regressionLoss', ['q', 'z'], [q, z]);
  return tf.tidy(() => {
    const cos = tf.sum(tf.mul(l2Normalize(q, NORMALIZE_EPS), l2Normalize(z, NORMALIZE_EPS)), -1);
    return tf.sub(2, tf.mul(2, cos)) as tf.Tensor1D;
  });
}

function symmetric(fn: string, q1: tf.Tensor, q2: tf.Tensor, z1: tf.Tensor, z2: tf.Tensor): tf.Scalar {
  checkSameShape(fn, ['q1', 'q2', 'z1', 'z2'], [q1, q2, z1, z2]);
  const n = q1.shape[0];
  return tf.tidy(() => {
    if (n === 0) {
      // No rows: 0 rather than 0/0 = NaN, still connected to every input so gradients are
      // (empty) zeros. A reduction over an empty tensor is not used: the wasm backend returns
      // uninitialised memory for it.
      const parts = [q1, q2, z1, z2].map((t) => tf.reshape(t, [-1]));
      return tf.sum(tf.mul(tf.concat([...parts, tf.zeros([1])]), 0)) as tf.Scalar;
    }
    const perRow = tf.add(regressionLoss(q1, z2), regressionLoss(q2, z1));
    return tf.mean(perRow) as tf.Scalar;
  });
}

/**
 * SCRL's loss over matched box pairs (Roh et al., CVPR 2021, eq. 2):
 * `mean_i [ l(q1_i, z2_i) + l(q2_i, z1_i) ]` with `l` = {@link regressionLoss}.
 *
 * Row `i` of every input belongs to box pair `i`: `q1`/`z1` come from the pair's view-1 box,
 * `q2`/`z2` from its view-2 box. A batch whose images yielded no pairs (`P = 0`) gives a loss
 * of 0 with a zero gradient, not `NaN`.
 *
 * @param q1 `[P, D]` online predictions of the view-1 boxes.
 * @param q2 `[P, D]` online predictions of the view-2 boxes.
 * @param z1 `[P, D]` target projections of the view-1 boxes.
 * @param z2 `[P, D]` target projections of the view-2 boxes.
 * @returns scalar, in `[0, 8]`.
 */
export function scrlLoss(q1: tf.Tensor, q2: tf.Tensor, z1: tf.Tensor, z2: tf.Tensor): tf.Scalar {
  return symmetric('scrlLoss', q1, q2, z1, z2);
}

/**
 * BYOL's symmetric loss over images (Grill et al., NeurIPS 2020):
 * `mean_b [ l(q1_b, z2_b) + l(q2_b, z1_b) ]`, the same formula as {@link scrlLoss} applied to
 * projections of globally pooled features.
 *
 * @param q1 `[B, D]` online predictions of view 1.
 * @param q2 `[B, D]` online predictions of view 2.
 * @param z1 `[B, D]` target projections of view 1.
 * @param z2 `[B, D]` target projections of view 2.
 * @returns scalar, in `[0, 8]`.
 */
export function byolLoss(q1: tf.Tensor, q2: tf.Tensor, z1: tf.Tensor, z2: tf.Tensor): tf.Scalar {
  return symmetric('byolLoss', q1, q2, z1, z2);
}
