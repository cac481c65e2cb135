/**
 * LARS (You et al., 2017) around SGD with momentum, in the form BYOL-style code uses, with
 * parameters excluded from adaptation and weight decay by role (not by name).
 */
import * as tf from '@tensorflow/tfjs-core';
import { isExcludedFromAdaptation } from '@scrl/models';
import type { NamedParameter } from '@scrl/models';
import { ScrlError } from '@scrl/util';
import { HeapUpdates } from './host-memory';

export interface LarsOptions {
  /** SGD momentum `m` (default 0.9). */
  momentum?: number;
  /** Weight decay `wd`, added to the gradient of adapted parameters (default 0). */
  weightDecay?: number;
  /** Trust coefficient `eta` (default 1e-3). */
  eta?: number;
  /**
   * Which parameters skip trust-ratio adaptation and weight decay. Default: every role but
   * `'weight'` (biases and BatchNorm affine parameters), as in the SCRL/BYOL papers.
   */
  exclude?: (param: NamedParameter) => boolean;
}

/** The plain-JSON part of the optimiser state; the momentum buffers are tensors. */
export interface LarsConfig {
  momentum: number;
  weightDecay: number;
  eta: number;
}

/** Everything needed to resume a {@link Lars}: settings, step count and momentum buffers. */
export interface LarsState {
  config: LarsConfig;
  /** Optimiser steps taken so far. */
  steps: number;
  /** Momentum buffer per parameter name, `[...param shape]` float32 in row-major order. */
  buffers: Record<string, { shape: number[]; data: Float32Array }>;
}

interface Slot {
  param: NamedParameter;
  excluded: boolean;
  velocity: tf.Variable;
}

let hostLoops = true;

// The host loops of Lars.stepOnHost, each its own small function: V8 optimises a small function
// once, where a loop inside a function called once per step is recompiled (on-stack
// replacement) again and again on a background thread.

/** `g + fround(w · wd)` per entry, in float32. */
function withWeightDecay(g: Float32Array, w: Float32Array, wd: number): Float32Array {
  const f = Math.fround;
  const gd = new Float32Array(g.length);
  for (let i = 0; i < g.length; i++) gd[i] = g[i] + f(w[i] * wd);
  return gd;
}

/** Σ x², summed in float64. */
function sumOfSquares(x: Float32Array): number {
  let s = 0;
  for (let i = 0; i < x.length; i++) s += x[i] * x[i];
  return s;
}

/**
 * v' = fround(fround(v · m) + fround(gd · scale)), w' = w − v' (float32). `nextW`/`nextV` may be
 * `w`/`v` themselves (an update in place): entry i is read before it is written.
 */
function momentumStep(w: Float32Array, v: Float32Array, gd: Float32Array, m: number, scale: number, nextW: Float32Array, nextV: Float32Array): void {
  const f = Math.fround;
  for (let i = 0; i < w.length; i++) {
    const vi = f(f(v[i] * m) + f(gd[i] * scale));
    nextV[i] = vi;
    nextW[i] = w[i] - vi;
  }
}

/**
 * Turns the host loops of {@link Lars} and `updateMomentum` on (the default) or off. Off, they
 * run as tensor operations on every backend: the reference path, kept for tests and
 * benchmarks, and what webgl/webgpu always use.
 */
export function setHostLoops(enabled: boolean): void {
  hostLoops = enabled;
}

/**
 * True where the optimisers update parameters in one JavaScript loop: host loops enabled and
 * a backend whose tensors live in host memory (cpu, wasm), so reading them costs a copy at most.
 */
export function onHost(): boolean {
  if (!hostLoops) return false;
  const backend = tf.getBackend();
  return backend === 'cpu' || backend === 'wasm';
}

function checkNumber(name: string, value: number, lo: number, hi: number): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < lo || value > hi) {
    throw new ScrlError(`Error in Lars: ${name} must be a number in [${lo}, ${hi}] but got ${value}.`);
  }
  return value;
}

/**
 * LARS over a fixed list of parameters. For each parameter `w` with gradient `g`:
 *
 * ```
 * adapted (role 'weight'):   g' = g + wd * w
 *                            trust = eta * ||w|| / ||g'||   if ||w|| > 0 and ||g'|| > 0, else 1
 * excluded (bias, BN):       g' = g,  trust = 1
 * both:                      v = m * v + lr * trust * g'
 *                            w = w - v
 * ```
 *
 * `v` starts at 0, so the first step is `w -= lr * trust * g'` (PyTorch SGD's first step).
 * Excluded parameters step by `lr`, not `lr^2` (a bug of the SCRL reference).
 */
export class Lars {
  readonly config: LarsConfig;
  private readonly slots: Slot[];
  private readonly byVariable = new Map<string, Slot>();
  private stepCount = 0;
  private disposed = false;

  constructor(params: NamedParameter[], options: LarsOptions = {}) {
    if (!Array.isArray(params) || params.length === 0) {
      throw new ScrlError('Error in Lars: params must be a non-empty array of NamedParameter (module.parameters()).');
    }
    this.config = {
      momentum: checkNumber('momentum', options.momentum ?? 0.9, 0, 1),
      weightDecay: checkNumber('weightDecay', options.weightDecay ?? 0, 0, Infinity),
      eta: checkNumber('eta', options.eta ?? 1e-3, 0, Infinity),
    };
    const exclude = options.exclude ?? ((p: NamedParameter) => isExcludedFromAdaptation(p.role));
    const names = new Set<string>();
    this.slots = params.map((param) => {
      if (names.has(param.name)) {
        throw new ScrlError(`Error in Lars: parameter name '${param.name}' appears twice; names must be unique (prefix them per module).`);
      }
      names.add(param.name);
      const slot: Slot = {
        param,
        excluded: exclude(param),
        // Inside tidy, so only the variable outlives the zeros it starts from.
        velocity: tf.tidy(() => tf.variable(tf.zerosLike(param.variable), false)),
      };
      this.byVariable.set(param.variable.name, slot);
      return slot;
    });
  }

  /** Optimiser steps taken so far. */
  get steps(): number {
    return this.stepCount;
  }

  /** The parameters, in the order given to the constructor. */
  get parameters(): NamedParameter[] {
    return this.slots.map((s) => s.param);
  }

  /**
   * One update of every parameter that has a gradient in `grads`. Parameters without one are
   * left untouched, momentum included (as PyTorch skips `p.grad is None`).
   *
   * @param grads gradients keyed by `variable.name`, as `tf.variableGrads` returns them.
   * @param lr learning rate of this step (>= 0).
   */
  step(grads: tf.NamedTensorMap, lr: number): void {
    if (this.disposed) throw new ScrlError('Error in Lars.step: the optimiser was disposed.');
    if (typeof lr !== 'number' || !Number.isFinite(lr) || lr < 0) {
      throw new ScrlError(`Error in Lars.step: lr must be a finite number >= 0 but got ${lr}.`);
    }
    // Every gradient is checked before any parameter changes: a bad one leaves all as they were.
    for (const [key, g] of Object.entries(grads)) {
      const slot = this.byVariable.get(key);
      if (!slot) {
        throw new ScrlError(
          `Error in Lars.step: got a gradient for variable '${key}', which is not one of this optimiser's parameters.`,
        );
      }
      const w = slot.param.variable;
      if (g.shape.join(',') !== w.shape.join(',')) {
        throw new ScrlError(
          `Error in Lars.step: gradient of '${slot.param.name}' has shape [${g.shape}] but the parameter has shape [${w.shape}].`,
        );
      }
    }
    if (onHost()) {
      this.stepOnHost(grads, lr);
      this.stepCount += 1;
      return;
    }
    const { momentum, weightDecay, eta } = this.config;
    for (const slot of this.slots) {
      const g = grads[slot.param.variable.name];
      if (g === undefined) continue;
      const w = slot.param.variable;
      tf.tidy(() => {
        let update: tf.Tensor;
        if (slot.excluded) {
          update = tf.mul(g, lr);
        } else {
          const gd = weightDecay === 0 ? g : tf.add(g, tf.mul(w, weightDecay));
          const wNorm = tf.norm(w);
          const gNorm = tf.norm(gd);
          const bothPositive = tf.logicalAnd(tf.greater(wNorm, 0), tf.greater(gNorm, 0));
          // Divide by a safe denominator so the untaken branch never produces inf/NaN.
          const safeG = tf.where(bothPositive, gNorm, tf.onesLike(gNorm));
          const trust = tf.where(bothPositive, tf.div(tf.mul(wNorm, eta), safeG), tf.onesLike(gNorm));
          update = tf.mul(gd, tf.mul(trust, lr));
        }
        const v = tf.add(tf.mul(slot.velocity, momentum), update);
        slot.velocity.assign(v);
        w.assign(tf.sub(w, v));
      });
    }
    this.stepCount += 1;
  }

  /**
   * The same update on the cpu and wasm backends, whose tensors live in host memory: every
   * parameter, gradient and momentum buffer is read once, updated in one JavaScript loop and
   * written back, instead of about 16 kernel calls per parameter (1,100 per step of the cpu
   * preset). On wasm the loop reads the heap itself and writes each new parameter into new heap
   * memory (see host-memory.ts), without copies out or in, in WebAssembly SIMD where the engine
   * has it (optim-simd.ts: the same float32 operations, four entries at a time). Each element follows the tensor
   * path's float32 operations exactly (`fround` after each one); only the two norms are summed in
   * float64 rather than float32, so the trust ratio can differ from the tensor path's in its last
   * bits.
   */
  private stepOnHost(grads: tf.NamedTensorMap, lr: number): void {
    const { weightDecay } = this.config;
    const f = Math.fround;
    const m = f(this.config.momentum);
    const wd = f(weightDecay);
    const eta = f(this.config.eta);
    const lr32 = f(lr);
    const updates: Array<[tf.Variable, Float32Array]> = [];
    const heap = HeapUpdates.open();
    try {
      for (const slot of this.slots) {
        const gt = grads[slot.param.variable.name];
        if (gt === undefined) continue;
        const wv = slot.param.variable;
        const velocity = slot.velocity;
        const excluded = slot.excluded;
        /** trust · lr, as the tensor path's float32 scalar, from the two sums of squares. */
        const scaleOf = ([wSq, gSq]: [number, number]) => {
          if (excluded) return lr32;
          const wNorm = f(Math.sqrt(wSq));
          const gNorm = f(Math.sqrt(gSq));
          const trust = wNorm > 0 && gNorm > 0 ? f(f(wNorm * eta) / gNorm) : 1;
          return f(trust * lr32);
        };
        if (heap?.canReplace(wv, [gt], [velocity])) {
          // wasm: read in the heap, the new parameter into new heap memory, the momentum in place.
          const loops = heap.loops;
          heap.replace(wv, (nextW, view) => {
            const w = view(wv);
            const g = view(gt);
            const v = view(velocity);
            const decay = weightDecay !== 0 ? wd : null;
            if (loops) {
              loops.lars(w, g, v, excluded ? null : decay, m, scaleOf(excluded ? [0, 0] : loops.norms(w, g, decay)), nextW);
            } else {
              const gd = excluded || weightDecay === 0 ? g : withWeightDecay(g, w, wd);
              momentumStep(w, v, gd, m, scaleOf(excluded ? [0, 0] : [sumOfSquares(w), sumOfSquares(gd)]), nextW, v);
            }
          });
          continue;
        }
        const w = wv.dataSync() as Float32Array;
        const g = gt.dataSync() as Float32Array;
        const v = velocity.dataSync() as Float32Array;
        const nextV = new Float32Array(w.length);
        const nextW = new Float32Array(w.length);
        const gd = excluded || weightDecay === 0 ? g : withWeightDecay(g, w, wd);
        momentumStep(w, v, gd, m, scaleOf(excluded ? [0, 0] : [sumOfSquares(w), sumOfSquares(gd)]), nextW, nextV);
        updates.push([velocity, nextV], [wv, nextW]);
      }
    } finally {
      heap?.close();
    }
    tf.tidy(() => {
      for (const [variable, values] of updates) variable.assign(tf.tensor(values, variable.shape, 'float32'));
    });
  }

  /** A copy of the state (reads tensors back from the backend). */
  async getState(): Promise<LarsState> {
    const buffers: LarsState['buffers'] = {};
    for (const slot of this.slots) {
      buffers[slot.param.name] = {
        shape: [...slot.velocity.shape],
        data: new Float32Array(await slot.velocity.data()),
      };
    }
    return { config: { ...this.config }, steps: this.stepCount, buffers };
  }

  /**
   * Restores a state from {@link getState} (e.g. a checkpoint). Settings must match this
   * optimiser's; every parameter must have a buffer of its shape.
   */
  setState(state: LarsState): void {
    for (const key of ['momentum', 'weightDecay', 'eta'] as const) {
      if (state.config[key] !== this.config[key]) {
        throw new ScrlError(
          `Error in Lars.setState: saved ${key} is ${state.config[key]} but this optimiser has ${this.config[key]}. ` +
            'Build the optimiser with the saved settings.',
        );
      }
    }
    for (const slot of this.slots) {
      const saved = state.buffers[slot.param.name];
      if (!saved) {
        throw new ScrlError(`Error in Lars.setState: no momentum buffer for parameter '${slot.param.name}' in the saved state.`);
      }
      if (saved.shape.join(',') !== slot.velocity.shape.join(',')) {
        throw new ScrlError(
          `Error in Lars.setState: buffer of '${slot.param.name}' has shape [${saved.shape}] but the parameter has shape [${slot.velocity.shape}].`,
        );
      }
    }
    for (const slot of this.slots) {
      const saved = state.buffers[slot.param.name];
      tf.tidy(() => slot.velocity.assign(tf.tensor(saved.data, saved.shape, 'float32')));
    }
    this.stepCount = state.steps;
  }

  /** Frees the momentum buffers (not the parameters). */
  dispose(): void {
    if (this.disposed) return;
    for (const slot of this.slots) slot.velocity.dispose();
    this.disposed = true;
  }
}
