/**
 * SGD with momentum and weight decay, PyTorch's `torch.optim.SGD` update (dampening 0, no
 * Nesterov): `g = grad * scale + weightDecay * p` (decay on parameters whose role is `weight`
 * only, as detectron2 does for norms and biases), `v = momentum * v + g`, `p = p - lr * v`.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { NamedParameter } from '@scrl/models';
import { ScrlError } from '@scrl/util';
import { HeapUpdates } from './host-memory';
import { onHost } from './lars';

export interface SgdOptions {
  /** Momentum factor (PyTorch `momentum`), in [0, 1). */
  momentum: number;
  /** L2 weight decay, added to the gradient of parameters with role `weight`. Default 0. */
  weightDecay?: number;
}

/**
 * One parameter's SGD update in float32 (`fround` after each operation): momentum `v`, parameter
 * `w`, gradient `g` times `scale`, plus `wd · w` where `decay`. `nextV` may be `v` itself (entry i
 * is read before it is written).
 */
function sgdUpdate(
  w: Float32Array,
  g: Float32Array,
  v: Float32Array,
  scale: number,
  decay: boolean,
  wd: number,
  m: number,
  lr: number,
  nextW: Float32Array,
  nextV: Float32Array,
): void {
  const f = Math.fround;
  for (let i = 0; i < w.length; i++) {
    let gi = f(g[i] * scale);
    if (decay) gi = f(gi + f(w[i] * wd));
    const vi = f(f(v[i] * m) + gi);
    nextV[i] = vi;
    nextW[i] = w[i] - f(vi * lr);
  }
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
    for (const [i, p] of this.params.entries()) {
      const g = grads[p.variable.name];
      if (g !== undefined && g.shape.join(',') !== p.variable.shape.join(',')) {
        throw new ScrlError(
          `Error in SgdMomentum.step: gradient ${i} ('${p.name}') has shape [${g.shape}] but the parameter has shape [${p.variable.shape}].`,
        );
      }
    }
    if (onHost()) {
      this.stepOnHost(grads, lr, scale);
      return;
    }
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
   * The same update on the cpu and wasm backends (see `onHost`): each parameter, gradient and
   * momentum buffer is read once and updated in one JavaScript loop, instead of five to seven
   * kernel calls per parameter (about 540 per detection step). Every element follows the tensor
   * path's float32 operations (`fround` after each one), so the results are bit-identical.
   */
  private stepOnHost(grads: Record<string, tf.Tensor>, lr: number, scale: number): void {
    const f = Math.fround;
    const s32 = f(scale);
    const m = f(this.momentum);
    const wd = f(this.weightDecay);
    const lr32 = f(lr);
    const updates: Array<[tf.Variable, Float32Array]> = [];
    const heap = HeapUpdates.open();
    try {
      this.params.forEach((p, k) => {
        const gt = grads[p.variable.name];
        if (gt === undefined) return;
        const velocity = this.velocity[k];
        const decay = p.role === 'weight' && this.weightDecay > 0;
        if (heap?.canReplace(p.variable, [gt], [velocity])) {
          // wasm: read in the heap, the new parameter into new heap memory, the momentum in place
          // (see host-memory.ts), in SIMD where the engine has it.
          const loops = heap.loops;
          heap.replace(p.variable, (nextW, view) => {
            const w = view(p.variable);
            const g = view(gt);
            const v = view(velocity);
            if (loops) loops.sgd(w, g, v, s32, decay ? wd : null, m, lr32, nextW);
            else sgdUpdate(w, g, v, s32, decay, wd, m, lr32, nextW, v);
          });
          return;
        }
        const w = p.variable.dataSync() as Float32Array;
        const nextV = new Float32Array(w.length);
        const nextW = new Float32Array(w.length);
        sgdUpdate(w, gt.dataSync() as Float32Array, velocity.dataSync() as Float32Array, s32, decay, wd, m, lr32, nextW, nextV);
        updates.push([velocity, nextV], [p.variable, nextW]);
      });
    } finally {
      heap?.close();
    }
    tf.tidy(() => {
      for (const [variable, values] of updates) variable.assign(tf.tensor(values, variable.shape, 'float32'));
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

/**
 * The global L2 norm of `tensors` (`sqrt(Σ ||t||²)`), what gradient clipping by norm compares
 * with its threshold (PyTorch's `clip_grad_norm_` with norm type 2). On the cpu and wasm backends
 * (see `onHost`) one JavaScript loop sums the squares in float64 instead of two kernel calls per
 * tensor; elsewhere it runs as tensor operations in float32. The two agree to float32 rounding.
 */
export function globalNorm(tensors: tf.Tensor[]): number {
  if (tensors.length === 0) return 0;
  if (onHost()) {
    let sum = 0;
    for (const t of tensors) {
      const a = t.dataSync();
      for (let i = 0; i < a.length; i++) sum += a[i] * a[i];
    }
    return Math.sqrt(sum);
  }
  return tf.tidy(() => tf.sqrt(tf.addN(tensors.map((t) => tf.sum(tf.square(t))))).dataSync()[0]);
}
