import * as tf from '@tensorflow/tfjs-core';
import type { Module, NamedBuffer, NamedParameter } from '@scrl/models';
import { describeEachBackend, maxRelativeError } from '@scrl/testing';
import { globalNorm, Lars, onHost, SgdMomentum, setHostLoops, setOptimSimd, updateMomentum } from './index';
import { HeapUpdates } from './host-memory';

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

describeEachBackend('host loops of Lars, SgdMomentum, globalNorm and updateMomentum', (backend) => {
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

  it('give SgdMomentum bit-identical results (momentum, weight decay on weights only, scaled gradients)', () => {
    const once = (host: boolean) => {
      setHostLoops(host);
      try {
        const net = new Net(3);
        const sgd = new SgdMomentum(net.parameters(), { momentum: 0.9, weightDecay: 1e-4 });
        for (let k = 0; k < 4; k++) {
          const grads: tf.NamedTensorMap = {};
          // The last parameter gets no gradient: it must stay as it is.
          net.parameters().slice(0, -1).forEach((p, i) => {
            grads[p.variable.name] = tf.tensor(values(p.variable.size, 500 * k + i), p.variable.shape);
          });
          sgd.step(grads, 0.02 + 0.01 * k, k % 2 === 0 ? 1 : 0.37);
          tf.dispose(Object.values(grads));
        }
        const out = [...net.parameters().map((p) => Array.from(p.variable.dataSync())), ...sgd.buffers.map((b) => Array.from(b.dataSync()))];
        sgd.dispose();
        net.dispose();
        return out;
      } finally {
        setHostLoops(true);
      }
    };
    const host = once(true);
    const tensors = tf.memory().numTensors;
    expect(host).toEqual(once(false));
    expect(once(true)).toEqual(host);
    expect(tf.memory().numTensors).toBe(tensors);
    expect(host[3]).toEqual(Array.from({ length: 6 }, () => 0)); // zero.weight, no gradient
  });

  it('give globalNorm the tensor path\'s value to float32 rounding', () => {
    const tensors = [tf.tensor(values(300, 9), [3, 100]), tf.tensor(values(7, 10)), tf.tensor([3e-3, -4e-3])];
    const norm = (host: boolean) => {
      setHostLoops(host);
      try {
        return globalNorm(tensors);
      } finally {
        setHostLoops(true);
      }
    };
    let exact = 0;
    for (const t of tensors) for (const v of t.dataSync()) exact += v * v;
    expect(Math.abs(norm(true) - Math.sqrt(exact))).toBeLessThan(1e-12);
    expect(Math.abs(norm(false) - Math.sqrt(exact)) / Math.sqrt(exact)).toBeLessThan(1e-6);
    expect(globalNorm([])).toBe(0);
    tf.dispose(tensors);
  });

  it('refuse a gradient whose shape is not the parameter\'s (SgdMomentum), naming it', () => {
    const net = new Net(3);
    const sgd = new SgdMomentum(net.parameters(), { momentum: 0.9 });
    const g = tf.zeros([8, 3, 3, 4]);
    expect(() => sgd.step({ [net.params[0].variable.name]: g }, 0.1)).toThrow(
      "Error in SgdMomentum.step: gradient 0 ('conv.weight') has shape [8,3,3,4] but the parameter has shape [3,3,4,8].",
    );
    tf.dispose(g);
    sgd.dispose();
    net.dispose();
  });

  it('keep the tensor count flat', () => {
    run(true, 1);
    const before = tf.memory().numTensors;
    run(true, 3);
    expect(tf.memory().numTensors).toBe(before);
  });
});

describeEachBackend('optimiser updates in the wasm heap', (backend) => {
  /**
   * LARS, SgdMomentum and EMA steps on fresh networks. With `share`, every variable and momentum
   * buffer has a clone alive during each step (a clone shares memory on cpu and wasm), which must
   * keep the values it had and send the update down the copying path.
   */
  const once = (share: boolean) => {
    const online = new Net(1);
    const target = new Net(100);
    const other = new Net(5);
    const lars = new Lars(online.parameters(), { momentum: 0.9, weightDecay: 1e-2, eta: 1e-3 });
    const sgd = new SgdMomentum(other.parameters(), { momentum: 0.9, weightDecay: 1e-4 });
    const vars = [...online.parameters(), ...target.parameters(), ...other.parameters()].map((p) => p.variable);
    let momentumInPlace = true;
    for (let k = 0; k < 3; k++) {
      const clones = share ? [...vars, ...sgd.buffers].map((v) => tf.clone(v)) : [];
      const before = clones.map((c) => Array.from(c.dataSync()));
      const ids = sgd.buffers.map((v) => v.dataId);
      const gradsOf = (net: Net, seed: number) => {
        const grads: tf.NamedTensorMap = {};
        net.parameters().forEach((p, i) => (grads[p.variable.name] = tf.tensor(values(p.variable.size, seed + i), p.variable.shape)));
        return grads;
      };
      const g1 = gradsOf(online, 300 * k);
      const g2 = gradsOf(other, 300 * k + 50);
      lars.step(g1, 0.1 + 0.05 * k);
      sgd.step(g2, 0.02, 0.5);
      updateMomentum(target, online, 0.99 - 0.01 * k);
      tf.dispose([...Object.values(g1), ...Object.values(g2)]);
      momentumInPlace = momentumInPlace && sgd.buffers.every((v, i) => v.dataId === ids[i]);
      clones.forEach((c, i) => expect(Array.from(c.dataSync())).toEqual(before[i]));
      tf.dispose(clones);
    }
    const out = [...vars, ...sgd.buffers].map((v) => Array.from(v.dataSync()));
    lars.dispose();
    sgd.dispose();
    [online, target, other].forEach((n) => n.dispose());
    return { out, momentumInPlace };
  };

  it('work in the heap on wasm, bit-identical to the copying path, and leave memory shared with a clone alone', () => {
    const start = tf.memory().numTensors;
    const alone = once(false);
    const shared = once(true);
    expect(alone.momentumInPlace).toBe(backend === 'wasm');
    expect(shared.momentumInPlace).toBe(false);
    expect(alone.out).toEqual(shared.out);
    expect(tf.memory().numTensors).toBe(start);
  });

  it('give the same values with the SIMD loops as with the JavaScript loops (entries past a multiple of four included)', () => {
    const heap = HeapUpdates.open();
    expect(heap !== null && heap.loops !== null).toBe(backend === 'wasm');
    heap?.close();
    setOptimSimd(false);
    try {
      const js = once(false);
      setOptimSimd(true);
      expect(once(false).out).toEqual(js.out);
    } finally {
      setOptimSimd(true);
    }
  });

  it('give convolutions the new weights (the wasm Conv2D caches a packed filter per tensor id)', () => {
    const net = new Net(11);
    const target = new Net(12);
    const conv = net.params[0].variable as tf.Variable<tf.Rank.R4>;
    const targetConv = target.params[0].variable as tf.Variable<tf.Rank.R4>;
    const x = tf.tensor4d(values(2 * 5 * 5 * 4, 13), [2, 5, 5, 4]);
    const fresh = (w: tf.Variable<tf.Rank.R4>) => tf.tidy(() => Array.from(tf.conv2d(x, tf.tensor4d(w.dataSync(), w.shape), 1, 'same').dataSync()));
    const viaVariable = (w: tf.Variable<tf.Rank.R4>) => tf.tidy(() => Array.from(tf.conv2d(x, w, 1, 'same').dataSync()));
    const lars = new Lars(net.parameters(), { momentum: 0.9, eta: 1 });
    const sgd = new SgdMomentum(net.parameters(), { momentum: 0.9 });
    const updates: Array<[string, () => void]> = [
      ['Lars', () => lars.step({ [conv.name]: tf.onesLike(conv) }, 0.5)],
      ['SgdMomentum', () => sgd.step({ [conv.name]: tf.onesLike(conv) }, 0.5)],
      ['updateMomentum', () => updateMomentum(target, net, 0.5)],
    ];
    for (const [name, update] of updates) {
      const w = name === 'updateMomentum' ? targetConv : conv;
      const before = viaVariable(w); // leaves the backend's cached operator for this filter
      tf.tidy(update);
      const after = viaVariable(w);
      expect([name, after]).toEqual([name, fresh(w)]);
      expect(after).not.toEqual(before);
    }
    lars.dispose();
    sgd.dispose();
    tf.dispose(x);
    net.dispose();
    target.dispose();
  });
});
