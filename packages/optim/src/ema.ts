/**
 * The BYOL/SCRL target update, usable on any pair of modules with matching parameter names.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { Module } from '@scrl/models';
import { ScrlError } from '@scrl/util';
import { HeapUpdates } from './host-memory';
import { onHost } from './lars';

function pairUp(fn: string, target: Module, online: Module, withBuffers: boolean) {
  const pairs: Array<[tf.Variable, tf.Variable, string]> = [];
  const lists: Array<[Array<{ name: string; variable: tf.Variable }>, Array<{ name: string; variable: tf.Variable }>]> = [
    [target.parameters(), online.parameters()],
  ];
  if (withBuffers) lists.push([target.buffers(), online.buffers()]);
  for (const [t, o] of lists) {
    const byName = new Map(o.map((p) => [p.name, p.variable]));
    if (t.length !== o.length) {
      throw new ScrlError(
        `Error in ${fn}: target has ${t.length} entries but online has ${o.length}; both must be built with the same architecture.`,
      );
    }
    for (const p of t) {
      const src = byName.get(p.name);
      if (!src) throw new ScrlError(`Error in ${fn}: online has no parameter or buffer named '${p.name}' (target has it).`);
      if (src.shape.join(',') !== p.variable.shape.join(',')) {
        throw new ScrlError(
          `Error in ${fn}: '${p.name}' has shape [${p.variable.shape}] in target but [${src.shape}] in online.`,
        );
      }
      pairs.push([p.variable, src, p.name]);
    }
  }
  return pairs;
}

/**
 * `fround(t · a) + fround(o · b)` per entry, rounded to float32: its own small function, which V8
 * optimises once (a loop inline in a function called once per step is recompiled every few steps).
 */
function blend(t: Float32Array, o: Float32Array, a: number, b: number, out: Float32Array = new Float32Array(t.length)): Float32Array {
  const f = Math.fround;
  for (let i = 0; i < out.length; i++) out[i] = f(t[i] * a) + f(o[i] * b);
  return out;
}

/**
 * `target <- m * target + (1 - m) * online` for every parameter, in place (Lightly's
 * `update_momentum`, with the target first). Parameters are matched by name. BatchNorm
 * running statistics (buffers) are not touched: the target keeps its own, as in BYOL and SCRL.
 *
 * @param target the EMA (target) network, updated in place.
 * @param online the network trained by gradient descent, read only.
 * @param m momentum in [0, 1]; 1 leaves the target unchanged, 0 copies the online parameters.
 * @param options.only update only the target parameters whose online counterpart is in this set
 *   (replicas of a multi-thread step each update their share of the parameters).
 */
export function updateMomentum(target: Module, online: Module, m: number, options: { only?: ReadonlySet<tf.Variable> } = {}): void {
  if (typeof m !== 'number' || !(m >= 0 && m <= 1)) {
    throw new ScrlError(`Error in updateMomentum: m must be a number in [0, 1] but got ${m}.`);
  }
  const only = options.only;
  const pairs = pairUp('updateMomentum', target, online, false).filter(([, o]) => !only || only.has(o));
  if (onHost()) {
    // One JavaScript loop per parameter instead of three kernel calls: the same float32
    // operations (each product and the sum rounded to float32), so the result is bit-identical.
    const a = Math.fround(m);
    const b = Math.fround(1 - m);
    // On wasm the blend reads the heap and writes new heap memory (see host-memory.ts), in SIMD
    // where the engine has it.
    const copied: Array<[tf.Variable, Float32Array]> = [];
    const heap = HeapUpdates.open();
    try {
      for (const [t, o] of pairs) {
        if (heap?.canReplace(t, [o])) {
          const loops = heap.loops;
          heap.replace(t, (out, view) => (loops ? loops.blend(view(t), view(o), a, b, out) : blend(view(t), view(o), a, b, out)));
        } else {
          copied.push([t, blend(t.dataSync() as Float32Array, o.dataSync() as Float32Array, a, b)]);
        }
      }
    } finally {
      heap?.close();
    }
    tf.tidy(() => copied.forEach(([t, next]) => t.assign(tf.tensor(next, t.shape, 'float32'))));
    return;
  }
  tf.tidy(() => {
    for (const [t, o] of pairs) t.assign(tf.add(tf.mul(t, m), tf.mul(o, 1 - m)));
  });
}

/**
 * Copies every parameter and buffer of `online` into `target` (the "target starts as a copy"
 * option; the SCRL reference instead initialises the target independently).
 */
export function copyModuleState(target: Module, online: Module): void {
  const pairs = pairUp('copyModuleState', target, online, true);
  tf.tidy(() => {
    for (const [t, o] of pairs) t.assign(o);
  });
}
