import * as tf from '@tensorflow/tfjs-core';
import type { Module, NamedBuffer, NamedParameter } from '@scrl/models';
import { describeEachBackend, maxRelativeError } from '@scrl/testing';
import { Lars, onHost, setHostLoops, updateMomentum } from './index';

/** Deterministic values in [-1, 1) (an LCG), the same on every run. */
function values(n: number, seed: number): Float32Array {
  const out = new Float32Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = (s / 2 ** 31) - 1;
  }
  return out;
}

class Net implements Module {
  readonly params: NamedParameter[];
  constructor(seed: number) {
    this.params = tf.tidy(() => [
      { name: 'conv.weight', variable: tf.variable(tf.tensor(values(3 * 3 * 4 * 8, seed), [3, 3, 4, 8])), role: 'weight' as const },
      { name: 'bn.weight', variable: tf.variable(tf.tensor(values(8, seed + 1), [8])), role: 'bn-weight' },
      { name: 'fc.bias', variable: tf.variable(tf.tensor(values(5, seed + 2), [5])), role: 'bias' },
      { name: 'zero.weight', variable: tf.variable(tf.zeros([6])), role: 'weight' }, // ||w|| = 0: trust 1
    ]);
  }
  parameters(): NamedParameter[] {
    return this.params;
  }
  buffers(): NamedBuffer[] {
    return [];
  }
  dispose(): void {
    tf.dispose(this.params.map((p) => p.variable));
  }
}

/** Runs `steps` LARS steps then EMA updates with host loops on or off; returns every value. */
function run(host: boolean, steps: number): { online: Float32Array[]; target: Float32Array[] } {
  setHostLoops(host);
  try {
    const online = new Net(1);
    const target = new Net(100);
    const lars = new Lars(online.parameters(), { momentum: 0.9, weightDecay: 1e-2, eta: 1e-3 });
    for (let k = 0; k < steps; k++) {
      const grads: tf.NamedTensorMap = {};
      online.parameters().forEach((p, i) => {
        grads[p.variable.name] = tf.tensor(values(p.variable.size, 1000 * k + i), p.variable.shape);
      });
      lars.step(grads, 0.1 + 0.05 * k);
      tf.dispose(Object.values(grads));
      updateMomentum(target, online, 0.99 - 0.01 * k);
    }
    const out = {
      online: online.parameters().map((p) => p.variable.dataSync() as Float32Array),
      target: target.parameters().map((p) => p.variable.dataSync() as Float32Array),
    };
    lars.dispose();
    online.dispose();
    target.dispose();
    return out;
  } finally {
    setHostLoops(true);
  }
}

describeEachBackend('host loops of Lars and updateMomentum', (backend) => {
  it('run on this backend', () => {
    expect(onHost()).toBe(backend === 'cpu' || backend === 'wasm');
    setHostLoops(false);
    expect(onHost()).toBe(false);
    setHostLoops(true);
  });

  it('give the tensor path the same parameters (LARS within float32 rounding of its norms)', () => {
    const ref = run(false, 5);
    const ours = run(true, 5);
    ours.online.forEach((v, i) => expect(maxRelativeError(v, ref.online[i], 1e-6)).toBeLessThan(2e-6));
    ours.target.forEach((v, i) => expect(maxRelativeError(v, ref.target[i], 1e-6)).toBeLessThan(2e-6));
  });

  it('give updateMomentum bit-identical results', () => {
    const once = (host: boolean) => {
      setHostLoops(host);
      try {
        const online = new Net(1);
        const target = new Net(7);
        updateMomentum(target, online, 0.996);
        updateMomentum(target, online, 0.3);
        const out = target.parameters().map((p) => Array.from(p.variable.dataSync()));
        online.dispose();
        target.dispose();
        return out;
      } finally {
        setHostLoops(true);
      }
    };
    expect(once(true)).toEqual(once(false));
  });

  it('keep the tensor count flat', () => {
    run(true, 1);
    const before = tf.memory().numTensors;
    run(true, 3);
    expect(tf.memory().numTensors).toBe(before);
  });
});
