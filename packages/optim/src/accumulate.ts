/**
 * Gradient accumulation: many micro-batches, one optimiser step.
 */
import * as tf from '@tensorflow/tfjs-core';
import { ScrlError } from '@scrl/util';

/**
 * Sums weighted gradients over micro-batches and returns their weighted mean.
 *
 * With per-micro-batch mean losses `L_i` over `n_i` items (box pairs for SCRL, images for
 * BYOL), `add(grads_i, n_i)` for each and `mean()` gives the gradient of the mean loss over
 * all `sum n_i` items, i.e. what one big batch would give, except that BatchNorm sees each
 * micro-batch's own statistics. Micro-batches with weight 0 (no box pairs) add nothing; if
 * every weight is 0, `mean()` returns zeros.
 */
export class GradientAccumulator {
  private sums = new Map<string, tf.Tensor>();
  private totalWeight = 0;
  private count = 0;

  /** Micro-batches added since the last `mean()`/`reset()`. */
  get microBatches(): number {
    return this.count;
  }

  /** Sum of weights added since the last `mean()`/`reset()`. */
  get weight(): number {
    return this.totalWeight;
  }

  /**
   * Adds one micro-batch's gradients (keyed by variable name, as `tf.variableGrads` returns
   * them). The caller keeps ownership of `grads` and may dispose them right after.
   *
   * @param weight items the micro-batch's loss was averaged over (default 1).
   */
  add(grads: tf.NamedTensorMap, weight = 1): void {
    if (typeof weight !== 'number' || !Number.isFinite(weight) || weight < 0) {
      throw new ScrlError(`Error in GradientAccumulator.add: weight must be a finite number >= 0 but got ${weight}.`);
    }
    if (this.count > 0) {
      const have = [...this.sums.keys()].sort().join(',');
      const got = Object.keys(grads).sort().join(',');
      if (have !== got) {
        throw new ScrlError(
          'Error in GradientAccumulator.add: every micro-batch must have gradients for the same variables ' +
            `(first had [${have}], this one [${got}]).`,
        );
      }
    }
    for (const [name, g] of Object.entries(grads)) {
      const prev = this.sums.get(name);
      const next = tf.tidy(() => {
        const weighted = tf.mul(g, weight);
        return prev ? tf.add(prev, weighted) : tf.keep(weighted);
      });
      prev?.dispose();
      this.sums.set(name, next);
    }
    this.totalWeight += weight;
    this.count += 1;
  }

  /**
   * The weighted mean of the added gradients (new tensors the caller disposes), and a reset.
   */
  mean(): tf.NamedTensorMap {
    if (this.count === 0) {
      throw new ScrlError('Error in GradientAccumulator.mean: no micro-batch was added since the last mean() or reset().');
    }
    const out: tf.NamedTensorMap = {};
    const w = this.totalWeight;
    for (const [name, sum] of this.sums) {
      out[name] = tf.tidy(() => (w > 0 ? tf.div(sum, w) : tf.zerosLike(sum)));
    }
    this.reset();
    return out;
  }

  /** Drops what was added. */
  reset(): void {
    for (const t of this.sums.values()) t.dispose();
    this.sums.clear();
    this.totalWeight = 0;
    this.count = 0;
  }
}
