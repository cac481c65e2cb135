/**
 * The multi-thread optimiser step (`train({ threads: N })`, `scrl pretrain --threads N`):
 * data parallelism over N worker threads, each with its own TF.js backend and a replica of the
 * online and target networks and of LARS (parallel-worker.ts). Each micro-batch is split into N
 * contiguous shards of images (with their box pairs); every replica computes its shard's loss
 * and gradients, weighted by its box pairs (SCRL) or images (BYOL) as the one-thread step
 * weights micro-batches, the weighted sums are all-reduced over a SharedArrayBuffer
 * (collective.ts) as a reduce-scatter: each replica owns a contiguous share of the parameters
 * (`updateShares`, balanced by size), sums only that share of the gradient, applies LARS and the
 * EMA update to it alone, and writes the updated parameters (online and target) to shared
 * memory, from which every replica copies the other shares. The update arithmetic is the
 * one-thread step's per parameter, so the replicas stay bit-identical to each other; LARS's
 * momentum of a parameter lives in its owner (`pullState` gathers it). BatchNorm layers
 * reduce their statistics through the reducer installed with `setBatchNormReducer` when the
 * BatchNorm implementation calls it; otherwise each replica normalises with the statistics of
 * its own shard (as PyTorch's DDP without SyncBatchNorm); `batchNormSynchronised` says which.
 *
 * This thread keeps the `PretrainModel` the hooks and checkpoints read; `pullState` copies
 * replica 0's networks and optimiser state into it.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Worker } from 'node:worker_threads';
import * as tf from '@tensorflow/tfjs-core';
import type { TensorDict } from '@scrl/models';
import type { LarsState } from '@scrl/optim';
import { ScrlError } from '@scrl/util';
import { abortCollective, createCollectiveBuffers, resetCollective } from './collective';
import type { CollectiveBuffers, CollectiveCounters } from './collective';
import type { TrainConfig } from './config';
import { batchNormCounters, networkTensors, onlineParameters, restoreNetworks } from './networks';
import { NonFiniteStepError } from './step';
import type { PretrainBatch, PretrainModel, StepOptions, StepResult } from './step';

/** Everything a replica needs to continue a run: both networks, BatchNorm counters, LARS. */
export interface ReplicaState {
  tensors: TensorDict;
  counters: Record<string, number[]>;
  lars: LarsState;
}

/** The state of `model` (copies of its tensors). */
export async function captureReplicaState(model: PretrainModel): Promise<ReplicaState> {
  return { tensors: await networkTensors(model.nets), counters: batchNormCounters(model.nets), lars: await model.lars.getState() };
}

/** Restores `model` from {@link captureReplicaState} output. */
export function restoreReplicaState(model: PretrainModel, state: ReplicaState): void {
  restoreNetworks(model.nets, state.tensors, state.counters);
  model.lars.setState(state.lars);
}

/** How one replica takes part in one micro-batch. */
export type MicroPlan =
  /** Nothing to train on (no box pairs, or < 2 images): every replica skips it. */
  | { mode: 'skip' }
  /** Too small to split: replica 0 runs it whole, with local BatchNorm statistics (exactly the one-thread step). */
  | { mode: 'solo'; batch: PretrainBatch | null }
  /** This replica's shard; every replica has one. `weight`: box pairs (SCRL) or images (BYOL) of the whole micro-batch. */
  | { mode: 'split'; batch: PretrainBatch; weight: number };

/** Messages to a replica. */
export type ToReplica =
  | { type: 'step'; id: number; plans: MicroPlan[]; lr: number; momentum: number }
  /** Its state; with `larsOnly`, only LARS's (the other fields empty): what replicas > 0 add to replica 0's. */
  | { type: 'state'; id: number; larsOnly?: boolean }
  | { type: 'close' };

/**
 * One replica's costs in one step, by part: forward and backward of its shards (with the
 * BatchNorm all-reduces inside them), copying its gradients out of the backend and accumulating
 * them, the gradient all-reduce, and LARS + EMA. CPU times are the replica thread's own
 * (Linux only), so they hold on a loaded machine where wall times do not.
 */
export interface ReplicaProfile {
  wallMs: { compute: number; gather: number; allReduce: number; update: number };
  cpuMs: { compute: number; gather: number; allReduce: number; update: number };
  /** Time the replica was runnable but waited for a core (another process had it). */
  runQueueMs: number;
  collective: CollectiveCounters;
}

/** Replies of a replica. */
export type FromReplica =
  | { type: 'ready' }
  | {
      type: 'done';
      id: number;
      result: StepResult;
      nonFinite: { value: number; microBatch: number } | null;
      numTensors: number;
      batchNormReductions: number;
      /** Forward and backward of its shards, waiting for and summing the gradients, LARS and EMA. */
      milliseconds: { compute: number; allReduce: number; update: number };
      /** Null where thread CPU time cannot be read. */
      profile: ReplicaProfile | null;
    }
  | { type: 'state'; id: number; state: ReplicaState }
  | { type: 'aborted'; id: number }
  | { type: 'error'; id: number; message: string; name: string };

/** Data sent to a replica when it starts. */
export interface ReplicaInit {
  config: TrainConfig;
  backend: string;
  rank: number;
  buffers: CollectiveBuffers;
  state: ReplicaState;
  syncBatchNorm: boolean;
  /** Time the barriers too (see ParallelStepperOptions.profile). */
  profile: boolean;
}

export interface ParallelStepperOptions {
  /**
   * Install the BatchNorm all-reduce in every replica (default true): BatchNorm layers that call
   * it normalise with the statistics of the whole micro-batch. False keeps them per replica.
   */
  syncBatchNorm?: boolean;
  /** Also measure the wall and CPU time spent in every barrier (benchmarks; default false). */
  profile?: boolean;
}

/** The built worker script (jest runs the sources, whose workers load the build). */
export function replicaWorkerFile(): string {
  const candidates = __filename.endsWith('.ts')
    ? [path.join(__dirname, '..', 'dist', 'parallel-worker.js')]
    : [path.join(__dirname, 'parallel-worker.js'), path.join(__dirname, '..', 'dist', 'parallel-worker.js')];
  for (const c of candidates) if (fs.existsSync(c)) return c;
  throw new ScrlError(
    `Error in train: --threads: the worker script is not built (looked for ${candidates.join(', ')}). Run \`npm run build\`, or use --threads 1.`,
  );
}

/** The parameters one replica updates: variables `[first, end)` of `model.variables`, entries `[start, stop)` of the flat gradient. */
export interface UpdateShare {
  first: number;
  end: number;
  start: number;
  stop: number;
}

/**
 * Splits variables of `sizes` entries into `n` contiguous shares of about equal entry counts
 * (whole variables: LARS's trust ratio is per parameter). A share may be empty.
 */
export function updateShares(sizes: readonly number[], n: number): UpdateShare[] {
  const total = sizes.reduce((a, b) => a + b, 0);
  const shares: UpdateShare[] = [];
  let v = 0;
  let offset = 0;
  for (let r = 0; r < n; r++) {
    const first = v;
    const start = offset;
    const target = ((r + 1) * total) / n;
    // Take variables while the share's end is closer to the target with them than without.
    while (v < sizes.length && (r === n - 1 || Math.abs(offset + sizes[v] - target) <= Math.abs(offset - target))) {
      offset += sizes[v];
      v += 1;
    }
    shares.push({ first, end: v, start, stop: offset });
  }
  return shares;
}

/** One micro-batch's images `[start, end)` with their box pairs. */
function shardOf(batch: PretrainBatch, start: number, end: number): PretrainBatch {
  const per = batch.size * batch.size * 3;
  return {
    view1: batch.view1.slice(start * per, end * per),
    view2: batch.view2.slice(start * per, end * per),
    size: batch.size,
    batchSize: end - start,
    boxPairs: batch.boxPairs.slice(start, end),
  };
}

/**
 * Splits a micro-batch over `n` replicas: `n` contiguous shards of about equal image counts,
 * each with at least one box pair (SCRL) or one image (BYOL); if equal image counts leave a
 * shard without box pairs, boundaries that balance box pairs instead. Returns the plan per
 * replica, or 'skip' / 'solo' plans when the micro-batch cannot be used / split.
 */
export function planMicroBatch(batch: PretrainBatch, n: number, method: TrainConfig['method']): MicroPlan[] {
  const B = batch.batchSize;
  const pairs = batch.boxPairs.map((p) => p.length);
  const P = pairs.reduce((a, b) => a + b, 0);
  if (method === 'scrl' ? P === 0 : B < 2) return Array.from({ length: n }, () => ({ mode: 'skip' as const }));
  const solo = (): MicroPlan[] => Array.from({ length: n }, (_, r) => ({ mode: 'solo' as const, batch: r === 0 ? batch : null }));
  if (B < n) return solo();
  const valid = (bounds: number[]) => {
    for (let r = 0; r < n; r++) {
      if (bounds[r + 1] <= bounds[r]) return false;
      if (method === 'scrl' && pairs.slice(bounds[r], bounds[r + 1]).reduce((a, b) => a + b, 0) === 0) return false;
    }
    return true;
  };
  let bounds = Array.from({ length: n + 1 }, (_, r) => Math.round((r * B) / n));
  if (!valid(bounds)) {
    // Boundaries at equal shares of the box pairs.
    bounds = [0];
    let seen = 0;
    let r = 1;
    for (let i = 0; i < B && r < n; i++) {
      seen += pairs[i];
      if (seen >= (r * P) / n && i + 1 > bounds[r - 1]) {
        bounds.push(i + 1);
        r += 1;
      }
    }
    bounds.push(B);
    if (bounds.length !== n + 1 || !valid(bounds)) return solo();
  }
  const weight = method === 'scrl' ? P : B;
  return Array.from({ length: n }, (_, r) => ({ mode: 'split' as const, batch: shardOf(batch, bounds[r], bounds[r + 1]), weight }));
}

/** The `initBackend` choice that gives a worker the backend this thread runs. */
function backendChoice(name: string): string {
  if (name === 'tensorflow') return 'node';
  return name;
}

/** The most values one BatchNorm all-reduce carries: 2 sums per channel and a count, or more. */
function bnSlotLength(model: PretrainModel): number {
  let channels = 1;
  const n = model.nets;
  for (const mod of [n.online.backbone, n.online.projector, n.online.predictor, n.target.backbone, n.target.projector]) {
    for (const b of mod.batchNorms()) channels = Math.max(channels, b.numFeatures);
  }
  return 4 * channels + 8;
}

interface Replica {
  worker: Worker;
  rank: number;
  exited: boolean;
}

/** A group of replicas running the multi-thread step. */
export class ParallelStepper {
  /** True once a step showed that BatchNorm reduced its statistics across replicas; false if it did not; null before. */
  batchNormSynchronised: boolean | null = null;
  /** Tensors alive in each replica after the last step (for leak checks). */
  replicaTensors: number[] = [];
  /** Each replica's time in the parts of the last step (ms), for benchmarks. */
  replicaMilliseconds: Array<{ compute: number; allReduce: number; update: number }> = [];
  /** Each replica's costs in the last step (empty where thread CPU time cannot be read). */
  replicaProfiles: ReplicaProfile[] = [];
  private readonly replicas: Replica[] = [];
  private nextId = 1;
  private pending: {
    id: number;
    replies: Map<number, FromReplica>;
    expect: number;
    resolve: (r: Map<number, FromReplica>) => void;
    reject: (e: Error) => void;
  } | null = null;
  private fatal: Error | null = null;
  private closed = false;

  private constructor(
    readonly threads: number,
    private readonly method: TrainConfig['method'],
    private readonly buffers: CollectiveBuffers,
  ) {}

  /**
   * Starts `threads` replicas of `model` (its current weights and optimiser state) on the
   * backend this thread uses, and resolves when all are ready.
   */
  static async start(model: PretrainModel, config: TrainConfig, threads: number, options: ParallelStepperOptions = {}): Promise<ParallelStepper> {
    if (!Number.isInteger(threads) || threads < 2) {
      throw new ScrlError(`Error in ParallelStepper.start: threads must be an integer >= 2 but got ${threads}; use the one-thread step for 1.`);
    }
    const gradLength = onlineParameters(model.nets.online).reduce((n, p) => n + p.variable.size, 0);
    const buffers = createCollectiveBuffers(threads, bnSlotLength(model), gradLength);
    const stepper = new ParallelStepper(threads, config.method, buffers);
    const state = await captureReplicaState(model);
    const file = replicaWorkerFile();
    const backend = backendChoice(tf.getBackend());
    const ready: Array<Promise<void>> = [];
    for (let rank = 0; rank < threads; rank++) {
      const init: ReplicaInit = { config, backend, rank, buffers, state, syncBatchNorm: options.syncBatchNorm ?? true, profile: options.profile === true };
      const worker = new Worker(file, { workerData: init });
      const replica: Replica = { worker, rank, exited: false };
      stepper.replicas.push(replica);
      ready.push(
        new Promise<void>((resolve, reject) => {
          const onReady = (msg: FromReplica) => {
            if (msg.type === 'ready') {
              worker.off('message', onReady);
              resolve();
            } else if (msg.type === 'error') {
              reject(new ScrlError(`Error in train: --threads ${threads}: replica ${rank} could not start: ${msg.message}`));
            }
          };
          worker.on('message', onReady);
          worker.once('exit', () => reject(stepper.fatal ?? new ScrlError(`Error in train: --threads ${threads}: replica ${rank} exited while starting.`)));
        }),
      );
      worker.on('message', (msg: FromReplica) => stepper.onMessage(rank, msg));
      worker.on('error', (err) => stepper.onFatal(rank, `crashed: ${err.message}`));
      worker.on('exit', (code) => {
        replica.exited = true;
        if (!stepper.closed) stepper.onFatal(rank, `exited unexpectedly (code ${code})`);
      });
    }
    try {
      await Promise.all(ready);
    } catch (err) {
      await stepper.close();
      throw err;
    }
    for (const r of stepper.replicas) r.worker.unref();
    return stepper;
  }

  /** Replicas whose threads are still running (0 after close()). */
  get liveReplicas(): number {
    return this.replicas.filter((r) => !r.exited).length;
  }

  private onFatal(rank: number, what: string): void {
    if (this.fatal) return;
    this.fatal = new ScrlError(`Error in train: --threads ${this.threads}: replica ${rank} ${what}. Rerun with --threads 1 to see the error in this thread.`);
    abortCollective(this.buffers);
    this.pending?.reject(this.fatal);
    this.pending = null;
  }

  private onMessage(rank: number, msg: FromReplica): void {
    const p = this.pending;
    if (msg.type === 'ready' || !p || msg.id !== p.id) return;
    p.replies.set(rank, msg);
    if (p.replies.size === p.expect) {
      this.pending = null;
      for (const r of this.replicas) r.worker.unref();
      p.resolve(p.replies);
    }
  }

  /** Posts `messages[r]` to replica r (those given) and resolves with their replies. */
  private request(messages: Map<number, ToReplica & { id: number }>): Promise<Map<number, FromReplica>> {
    if (this.closed) return Promise.reject(new ScrlError('Error in ParallelStepper: the replicas were closed.'));
    if (this.fatal) return Promise.reject(this.fatal);
    return new Promise((resolve, reject) => {
      const id = [...messages.values()][0].id;
      this.pending = { id, replies: new Map(), expect: messages.size, resolve, reject };
      for (const [rank, msg] of messages) {
        const w = this.replicas[rank].worker;
        w.ref();
        const transfer: ArrayBuffer[] = [];
        if (msg.type === 'step') {
          for (const plan of msg.plans) {
            if (plan.mode !== 'skip' && plan.batch && plan.mode === 'split') transfer.push(plan.batch.view1.buffer as ArrayBuffer, plan.batch.view2.buffer as ArrayBuffer);
          }
        }
        w.postMessage(msg, transfer);
      }
    });
  }

  /** One optimiser step over `batches` (the micro-batches of one effective batch); as `pretrainStep`. */
  async step(batches: PretrainBatch[], options: StepOptions, label = 'train'): Promise<StepResult> {
    const n = this.threads;
    const perMicro = batches.map((b) => planMicroBatch(b, n, this.method));
    const id = this.nextId++;
    const messages = new Map<number, ToReplica & { id: number }>();
    for (let r = 0; r < n; r++) {
      messages.set(r, { type: 'step', id, plans: perMicro.map((plans) => plans[r]), lr: options.lr, momentum: options.momentum });
    }
    const replies = await this.request(messages);
    const errors = [...replies.entries()].filter(([, m]) => m.type === 'error').sort((a, b) => a[0] - b[0]);
    if (errors.length > 0) {
      const [rank, m] = errors[0] as [number, Extract<FromReplica, { type: 'error' }>];
      this.fatal = new ScrlError(`Error in ${label}: --threads ${n}: replica ${rank} failed: ${m.message}`);
      throw this.fatal;
    }
    const first = replies.get(0);
    if (!first || first.type !== 'done') throw new ScrlError(`Error in ${label}: --threads ${n}: replica 0 gave no result.`);
    const done = [...replies.entries()].sort((a, b) => a[0] - b[0]).map(([, m]) => m as Extract<FromReplica, { type: 'done' }>);
    this.replicaTensors = done.map((m) => m.numTensors);
    this.replicaMilliseconds = done.map((m) => m.milliseconds);
    this.replicaProfiles = done.every((m) => m.profile) ? done.map((m) => m.profile!) : [];
    if (perMicro.some((plans) => plans[0].mode === 'split')) this.batchNormSynchronised = first.batchNormReductions > 0;
    if (first.nonFinite) {
      const { value, microBatch } = first.nonFinite;
      throw new NonFiniteStepError(
        `Error in ${label}: the loss became ${value} in micro-batch ${microBatch} of ${batches.length}; no update was made. ` +
          'Lower the learning rate or check the data.',
        value,
        microBatch,
        batches.length,
      );
    }
    return first.result;
  }

  /**
   * Copies replica 0's networks and BatchNorm counters into `model`, and LARS's state with each
   * parameter's momentum from the replica that updates it.
   */
  async pullState(model: PretrainModel): Promise<void> {
    const id = this.nextId++;
    const messages = new Map<number, ToReplica & { id: number }>();
    for (let r = 0; r < this.threads; r++) messages.set(r, { type: 'state', id, larsOnly: r > 0 });
    const replies = await this.request(messages);
    const states: ReplicaState[] = [];
    for (let r = 0; r < this.threads; r++) {
      const m = replies.get(r);
      if (!m || m.type !== 'state') {
        throw new ScrlError(`Error in train: --threads ${this.threads}: replica ${r} did not send its state${m?.type === 'error' ? `: ${m.message}` : ''}.`);
      }
      states.push(m.state);
    }
    const params = onlineParameters(model.nets.online);
    const shares = updateShares(params.map((p) => p.variable.size), this.threads);
    const lars = states[0].lars;
    shares.forEach((share, r) => {
      for (let k = share.first; k < share.end; k++) lars.buffers[params[k].name] = states[r].lars.buffers[params[k].name];
    });
    restoreReplicaState(model, { ...states[0], lars });
  }

  /** Stops every replica (also after a failure); safe to call twice. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    abortCollective(this.buffers);
    this.pending?.reject(new ScrlError('Error in train: the replicas were closed during a step.'));
    this.pending = null;
    await Promise.all(
      this.replicas.map(async (r) => {
        if (!r.exited) await r.worker.terminate();
        r.exited = true;
      }),
    );
    resetCollective(this.buffers);
  }
}
