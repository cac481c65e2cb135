/**
 * SGD with momentum and weight decay, PyTorch's `torch.optim.SGD` update (dampening 0, no
 * Nesterov): `g = grad * scale + weightDecay * p` (decay on parameters whose role is `weight`
 * only, as detectron2 does for norms and biases), `v = momentum * v + g`, `p = p - lr * v`.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { NamedParameter } from '@scrl/models';
import { ScrlError } from '@scrl/util';

export interface SgdOptions {
  /** Momentum factor (PyTorch `momentum`), in [0, 1). */
  momentum: number;
  /** L2 weight decay, added to the gradient of parameters with role `weight`. Default 0. */
  weightDecay?: number;
}

export class SgdMomentum {
  readonly momentum: number;
  readonly weightDecay: number;
  private readonly params: NamedParameter[];
  private readonly velocity: tf.Variable[];

  constructor(params: NamedParameter[], options: SgdOptions) {
    const fn = 'SgdMomentum';
    if (!Array.isArray(params)) throw new ScrlError(`Error in ${fn}: params must be an array of NamedParameter (module.parameters()).`);
    if (!(options.momentum >= 0 && options.momentum < 1)) {
      throw new ScrlError(`Error in ${fn}: options.momentum must be in [0, 1), got ${options.momentum}.`);
    }
    const wd = options.weightDecay ?? 0;
    if (!(wd >= 0)) throw new ScrlError(`Error in ${fn}: options.weightDecay must be >= 0, got ${options.weightDecay}.`);
    this.momentum = options.momentum;
    this.weightDecay = wd;
    this.params = params;
    this.velocity = params.map((p) => {
      const zeros = tf.zerosLike(p.variable);
      const m = tf.variable(zeros, false);
      zeros.dispose();
      return m;
    });
  }

  /**
   * One update with learning rate `lr` from gradients keyed by variable name (as
   * `tf.variableGrads` returns them), each multiplied by `scale` first (gradient clipping). A
   * parameter without a gradient (unreached by the loss) is left as it is.
   */
  step(grads: Record<string, tf.Tensor>, lr: number, scale = 1): void {
    tf.tidy(() => {
      this.params.forEach((p, i) => {
        if (grads[p.variable.name] === undefined) return;
        let g = tf.mul(grads[p.variable.name], scale);
        if (p.role === 'weight' && this.weightDecay > 0) g = tf.add(g, tf.mul(p.variable, this.weightDecay));
        const v = tf.add(tf.mul(this.velocity[i], this.momentum), g);
        this.velocity[i].assign(v);
        p.variable.assign(tf.sub(p.variable, tf.mul(v, lr)));
      });
    });
  }

  /**
   * The momentum buffers, one per parameter in the order given to the constructor (for
   * checkpoints: read them, or `assign` saved values to resume).
   */
  get buffers(): readonly tf.Variable[] {
    return this.velocity;
  }

  /** Frees the momentum buffers. */
  dispose(): void {
    this.velocity.forEach((v) => v.dispose());
  }
}
