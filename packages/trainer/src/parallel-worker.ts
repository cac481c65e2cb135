/**
 * One replica of the multi-thread step (parallel.ts): its own TF.js backend, networks and LARS;
 * runs its shard of each micro-batch, reduce-scatters the weighted gradient sums with its peers,
 * updates its share of the parameters and exchanges the updated parameters with them.
 */
import { parentPort, workerData } from 'node:worker_threads';
import * as tf from '@tensorflow/tfjs-core';
import { fusedBatchNormAvailable, setBatchNormReducer } from '@scrl/models';
import type { BatchNormReducer } from '@scrl/models';
import { HeapUpdates } from '@scrl/optim';
import { initBackend } from '@scrl/roi-align';
import { Collective, CollectiveAborted, STEP_SCALARS, abortCollective, threadCpuTime } from './collective';
import { captureReplicaState, restoreReplicaState, updateShares } from './parallel';
import type { FromReplica, MicroPlan, ReplicaInit, ReplicaProfile, ToReplica, UpdateShare } from './parallel';
import { applyUpdate, createPretrainModel, microBatchGradients } from './step';
import type { PretrainBatch, PretrainModel, StepResult } from './step';

const init = workerData as ReplicaInit;
const port = parentPort;
if (!port) throw new Error('parallel-worker.js must run in a worker thread (it is started by @scrl/trainer).');
const collective = new Collective(init.buffers, init.rank);
collective.timing = init.profile === true;
let reductions = 0;
const reducer: BatchNormReducer = (partial) => {
  reductions += 1;
  collective.allReduceBn(partial);
};
let model: PretrainModel | null = null;

/** What this replica updates, and where every variable's values go in the exchange buffer. */
interface Ownership {
  share: UpdateShare;
  /** This replica's online variables (the EMA updates their target counterparts). */
  own: Set<tf.Variable>;
  /** Per online variable: its target counterpart (backbone, projector) or null (predictor). */
  targets: Array<tf.Variable | null>;
  /** Per online variable: its offset in the flat gradient and in each half of the exchange buffer. */
  offsets: number[];
}
let ownership: Ownership | null = null;

function ownershipOf(m: PretrainModel): Ownership {
  const vars = m.variables;
  const shares = updateShares(
    vars.map((v) => v.size),
    init.buffers.size,
  );
  const share = shares[init.rank];
  const byName = new Map<tf.Variable, tf.Variable>();
  for (const [t, o] of [
    [m.nets.target.backbone, m.nets.online.backbone],
    [m.nets.target.projector, m.nets.online.projector],
  ] as const) {
    const targetByName = new Map(t.parameters().map((p) => [p.name, p.variable]));
    for (const p of o.parameters()) {
      const tv = targetByName.get(p.name);
      if (tv) byName.set(p.variable, tv);
    }
  }
  const offsets: number[] = [];
  let offset = 0;
  for (const v of vars) {
    offsets.push(offset);
    offset += v.size;
  }
  return { share, own: new Set(vars.slice(share.first, share.end)), targets: vars.map((v) => byName.get(v) ?? null), offsets };
}

function post(msg: FromReplica): void {
  port!.postMessage(msg);
}

// The per-entry loops of a step, each its own small function: V8 optimises a small function
// once, where a loop inside runStep (called once per step) is recompiled again and again.

/** `acc[offset + i] = fround(acc[offset + i] + fround(w · data[i]))`. */
function addScaled(acc: Float32Array, offset: number, data: Float32Array, w: number): void {
  const f = Math.fround;
  for (let i = 0; i < data.length; i++) acc[offset + i] = f(acc[offset + i] + f(w * data[i]));
}

/** `sum[offset + i] / d` for i < n, rounded to float32. */
function quotient(sum: Float32Array, offset: number, n: number, d: number): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = sum[offset + i] / d;
  return out;
}

/** Box pairs (SCRL) or images (BYOL) of a shard: the count its loss is a mean over. */
function shardWeight(m: PretrainModel, batch: PretrainBatch): number {
  return m.method === 'scrl' ? batch.boxPairs.reduce((n, p) => n + p.length, 0) : batch.batchSize;
}

/** This replica's part of one step; the same sequence of collectives on every replica. */
async function runStep(m: PretrainModel, plans: MicroPlan[], lr: number, momentum: number): Promise<Extract<FromReplica, { type: 'done' }>> {
  const vars = m.variables;
  const own = ownership ?? (ownership = ownershipOf(m));
  // Float32 arithmetic, as GradientAccumulator's tensors do it: with the same shards, the same
  // sums. Accumulated straight into this replica's slot of the shared gradient buffer.
  const acc = collective.gradSlot();
  acc.fill(0);
  let lossSum = 0;
  let weightSum = 0;
  let pairs = 0;
  let badMicro = 0;
  let badValue = 0;
  reductions = 0;
  collective.resetCounters();
  let gatherMs = 0;
  let gatherCpu = 0;
  const cpu = () => threadCpuTime()?.cpuNs ?? NaN;
  const c0 = threadCpuTime();
  const t0 = performance.now();
  for (let micro = 0; micro < plans.length; micro++) {
    const plan = plans[micro];
    if (plan.mode === 'skip' || plan.batch === null) continue;
    // Only the fused BatchNorm kernels (cpu, wasm) use the reducer; the op path refuses one.
    setBatchNormReducer(plan.mode === 'split' && init.syncBatchNorm && fusedBatchNormAvailable() ? reducer : null);
    const before = reductions;
    // With synchronised BatchNorm (the forward called the reducer) the shards' losses are not
    // independent: each replica differentiates its share of the micro-batch's loss, mean x
    // (its pairs / all pairs), so that BatchNorm's backward sums consistent gradients across
    // replicas; the shares then add up to the micro-batch's gradient. Without it, the shard's
    // own mean, weighted by its pairs below, as the one-thread step weights micro-batches.
    const total = plan.mode === 'split' ? plan.weight : 0;
    const lossScale = () => (reductions > before && total > 0 ? shardWeight(m, plan.batch!) / total : 1);
    let r;
    try {
      r = await microBatchGradients(m, plan.batch, lossScale);
    } finally {
      setBatchNormReducer(null);
    }
    if (r === null) {
      throw new Error(`micro-batch ${micro + 1}: its shard had nothing to train on although the split checked it (a bug in planMicroBatch).`);
    }
    if (!Number.isFinite(r.value)) {
      if (badMicro === 0) {
        badMicro = micro + 1;
        badValue = r.value;
      }
    } else {
      const g0 = performance.now();
      const gc0 = cpu();
      // The gradient of (share x loss) times the micro-batch's count equals count x gradient of the shard's mean.
      const w = r.scale === 1 ? r.weight : total;
      let offset = 0;
      // On wasm the gradients are read where they lie in the heap (dataSync would copy them).
      const heap = HeapUpdates.open();
      try {
        for (const v of vars) {
          const g = r.grads[v.name];
          const data = heap?.view(g) ?? (g.dataSync() as Float32Array);
          addScaled(acc, offset, data, w);
          offset += data.length;
        }
      } finally {
        heap?.close();
      }
      lossSum += r.value * r.weight;
      weightSum += r.weight;
      pairs += r.pairs;
      gatherMs += performance.now() - g0;
      gatherCpu += cpu() - gc0;
    }
    tf.dispose(Object.values(r.grads));
  }
  const scalars = new Float64Array(STEP_SCALARS);
  scalars.set([lossSum, weightSum, pairs, badMicro, badValue]);
  const t1 = performance.now();
  const c1 = cpu();
  const { share } = own;
  const reduced = collective.reduceScatterGrads(share.start, share.stop, scalars);
  const t2 = performance.now();
  const c2 = cpu();
  let totalLoss = 0;
  let totalWeight = 0;
  let totalPairs = 0;
  let nonFinite: { value: number; microBatch: number } | null = null;
  for (const s of reduced.scalars) {
    totalLoss += s[0];
    totalWeight += s[1];
    totalPairs += s[2];
    if (s[3] > 0 && (nonFinite === null || s[3] < nonFinite.microBatch)) nonFinite = { value: s[4], microBatch: s[3] };
  }
  let result: StepResult = { loss: 0, boxPairs: totalPairs, skipped: true };
  if (nonFinite === null && totalWeight > 0) {
    // This replica's share: the mean gradient, LARS, the EMA of the target counterparts.
    const grads: tf.NamedTensorMap = {};
    for (let k = share.first; k < share.end; k++) {
      const v = vars[k];
      const offset = own.offsets[k] - share.start;
      grads[v.name] = tf.tensor(quotient(reduced.sum, offset, v.size, totalWeight), v.shape, 'float32');
    }
    applyUpdate(m, grads, { lr, momentum }, own.own);
    tf.dispose(Object.values(grads));
    // Exchange: write the updated share, wait for the others', copy theirs in.
    const W = collective.weights;
    const G = init.buffers.gradLength;
    let moved = 0;
    for (let k = 0; k < vars.length; k++) moved += vars[k].size * (own.targets[k] ? 2 : 1);
    // On wasm, read from and write into the heap directly (no copy out, no tensor copied in).
    const heap = HeapUpdates.open();
    try {
      for (let k = share.first; k < share.end; k++) {
        W.set(heap?.view(vars[k]) ?? (vars[k].dataSync() as Float32Array), own.offsets[k]);
        const t = own.targets[k];
        if (t) W.set(heap?.view(t) ?? (t.dataSync() as Float32Array), G + own.offsets[k]);
      }
      // Its share written, the others' read: every online and target parameter once.
      collective.counters.bytes += 4 * moved;
      collective.barrier();
      const copyIn = (v: tf.Variable, from: number) => {
        if (heap?.canReplace(v, [])) heap.replace(v, (out) => out.set(W.subarray(from, from + v.size)));
        // Copies (slice): the cpu backend would keep a view of the shared buffer.
        else tf.tidy(() => v.assign(tf.tensor(W.slice(from, from + v.size), v.shape, 'float32')));
      };
      for (let k = 0; k < vars.length; k++) {
        if (k >= share.first && k < share.end) continue;
        copyIn(vars[k], own.offsets[k]);
        const t = own.targets[k];
        if (t) copyIn(t, G + own.offsets[k]);
      }
    } finally {
      heap?.close();
    }
    result = { loss: totalLoss / totalWeight, boxPairs: totalPairs, skipped: false };
  }
  const t3 = performance.now();
  const c3 = threadCpuTime();
  const milliseconds = { compute: t1 - t0, allReduce: t2 - t1, update: t3 - t2 };
  const profile: ReplicaProfile | null =
    c0 && c3
      ? {
          wallMs: { compute: t1 - t0 - gatherMs, gather: gatherMs, allReduce: t2 - t1, update: t3 - t2 },
          cpuMs: {
            compute: (c1 - c0.cpuNs - gatherCpu) / 1e6,
            gather: gatherCpu / 1e6,
            allReduce: (c2 - c1) / 1e6,
            update: (c3.cpuNs - c2) / 1e6,
          },
          runQueueMs: (c3.runQueueNs - c0.runQueueNs) / 1e6,
          collective: { ...collective.counters },
        }
      : null;
  return { type: 'done', id: 0, result, nonFinite, numTensors: tf.memory().numTensors, batchNormReductions: reductions, milliseconds, profile };
}

async function handle(msg: ToReplica): Promise<void> {
  if (msg.type === 'close') {
    process.exit(0);
  }
  try {
    if (!model) throw new Error('the replica is not ready');
    if (msg.type === 'step') {
      const done = await runStep(model, msg.plans, msg.lr, msg.momentum);
      post({ ...done, id: msg.id });
    } else if (msg.type === 'state') {
      const state = msg.larsOnly ? { tensors: {}, counters: {}, lars: await model.lars.getState() } : await captureReplicaState(model);
      post({ type: 'state', id: msg.id, state });
    }
  } catch (err) {
    if (err instanceof CollectiveAborted) {
      post({ type: 'aborted', id: msg.id });
      return;
    }
    // Wake the peers blocked in a collective before reporting.
    abortCollective(init.buffers);
    const e = err as Error;
    post({ type: 'error', id: msg.id, message: e?.message ?? String(err), name: e?.name ?? 'Error' });
  }
}

async function main(): Promise<void> {
  try {
    await initBackend({ backend: init.backend, log: null });
    model = createPretrainModel(init.config);
    restoreReplicaState(model, init.state);
  } catch (err) {
    post({ type: 'error', id: 0, message: (err as Error)?.message ?? String(err), name: 'Error' });
    return;
  }
  // Messages are handled one at a time, in order.
  let chain = Promise.resolve();
  port!.on('message', (msg: ToReplica) => {
    chain = chain.then(() => handle(msg));
  });
  post({ type: 'ready' });
}

void main();
