/**
 * Blocking collectives over SharedArrayBuffers for the replicas of the multi-thread step
 * (parallel.ts): a barrier, the all-reduce BatchNorm's statistics go through
 * (`BatchNormReducer` of `@scrl/models`), the gradient reduce-scatter (each replica sums the
 * share of the gradient whose parameters it updates) and the buffer through which the replicas
 * then exchange their updated parameters. Every sum runs over the replicas' slots in rank order,
 * so the result does not depend on which replica computes it. Pure JS (no TF.js).
 */
import * as fs from 'node:fs';
import { ScrlError } from '@scrl/util';

const COUNT = 0;
const GENERATION = 1;
const ABORT = 2;
const CONTROL_INTS = 4;
/** Per-replica scalars of the gradient all-reduce. */
export const STEP_SCALARS = 8;
/**
 * Polls of the generation before a replica sleeps in a barrier (a few microseconds): a peer that
 * is running on the other core usually arrives within that, and a futex wake-up costs more.
 */
const SPIN = 4000;
/** How long a replica sleeps in a barrier before it looks at the abort flag again (ms). */
const WAIT_SLICE_MS = 200;

/**
 * CPU time this thread has run (ns) and time it waited for a core while runnable (ns), from
 * Linux's /proc/thread-self/schedstat; null elsewhere. Unlike wall time, the first does not grow
 * when other processes take the cores, so it measures what a step costs on a loaded machine.
 * The kernel brings a running thread's count up to date only at scheduler events (ticks, sleeps),
 * so it lags by up to a tick: good for intervals of tens of milliseconds, not for one barrier.
 */
export function threadCpuTime(): { cpuNs: number; runQueueNs: number } | null {
  try {
    const [cpu, wait] = fs.readFileSync('/proc/thread-self/schedstat', 'utf8').trim().split(/\s+/).map(Number);
    return Number.isFinite(cpu) && Number.isFinite(wait) ? { cpuNs: cpu, runQueueNs: wait } : null;
  } catch {
    return null;
  }
}

/** What one replica's collectives did since the counters were last reset (for benchmarks). */
export interface CollectiveCounters {
  /** Barriers passed (each BatchNorm all-reduce and each gradient all-reduce has one). */
  barriers: number;
  /** Of those, the ones this replica reached last (it waited for no one). */
  arrivedLast: number;
  /** Barriers it had to sleep in (Atomics.wait) after spinning. */
  slept: number;
  /** Wall time inside barriers (ms): waiting for the peers. */
  waitMs: number;
  /** Of that, time spent spinning before sleeping (ms): CPU time burnt waiting, unless preempted meanwhile. */
  spinMs: number;
  /** BatchNorm all-reduces. */
  bnReductions: number;
  /** Bytes this replica wrote to and read from the shared buffers. */
  bytes: number;
}

function zeroCounters(): CollectiveCounters {
  return { barriers: 0, arrivedLast: 0, slept: 0, waitMs: 0, spinMs: 0, bnReductions: 0, bytes: 0 };
}

/** The shared buffers of one group of replicas (created by the parent, posted to every worker). */
export interface CollectiveBuffers {
  size: number;
  control: SharedArrayBuffer;
  /** Two halves (alternate calls) x `size` slots x `bnSlot` doubles. */
  bn: SharedArrayBuffer;
  bnSlot: number;
  /** `size` slots x `gradLength` floats. */
  grads: SharedArrayBuffer;
  gradLength: number;
  /** 2 x `gradLength` floats: the updated online parameters, then their target counterparts. */
  weights: SharedArrayBuffer;
  /** `size` slots x STEP_SCALARS doubles. */
  scalars: SharedArrayBuffer;
}

/** Thrown in a replica whose peer failed (the parent set the abort flag): it stops its step. */
export class CollectiveAborted extends Error {
  constructor() {
    super('a peer replica failed; this step was abandoned');
    this.name = 'CollectiveAborted';
  }
}

/** Buffers for `size` replicas, BatchNorm reductions of up to `bnSlot` values, `gradLength` gradient entries. */
export function createCollectiveBuffers(size: number, bnSlot: number, gradLength: number): CollectiveBuffers {
  return {
    size,
    control: new SharedArrayBuffer(CONTROL_INTS * 4),
    bn: new SharedArrayBuffer(2 * size * bnSlot * 8),
    bnSlot,
    grads: new SharedArrayBuffer(size * gradLength * 4),
    gradLength,
    weights: new SharedArrayBuffer(2 * gradLength * 4),
    scalars: new SharedArrayBuffer(size * STEP_SCALARS * 8),
  };
}

/** Sets the abort flag and wakes every replica waiting in a barrier (called by the parent when a worker fails). */
export function abortCollective(buffers: CollectiveBuffers): void {
  const control = new Int32Array(buffers.control);
  Atomics.store(control, ABORT, 1);
  Atomics.notify(control, GENERATION);
}

/** Clears the abort flag and the barrier count (the parent, with no replica inside a step). */
export function resetCollective(buffers: CollectiveBuffers): void {
  const control = new Int32Array(buffers.control);
  Atomics.store(control, COUNT, 0);
  Atomics.store(control, ABORT, 0);
}

/** `sum[i] = fround(sum[i] + other[i])`: a small function of its own, which V8 optimises once. */
function addInto(sum: Float32Array, other: Float32Array): void {
  for (let i = 0; i < sum.length; i++) sum[i] = Math.fround(sum[i] + other[i]);
}

/** One replica's view of the collectives. */
export class Collective {
  private readonly control: Int32Array;
  private readonly bn: Float64Array;
  private readonly grads: Float32Array;
  private readonly scalars: Float64Array;
  /** The parameter exchange buffer (2 x gradLength floats): replicas write their shares, barrier, read the others'. */
  readonly weights: Float32Array;
  private bnCalls = 0;
  /** Counters since {@link resetCounters}; barrier CPU time only while `timing` is on. */
  counters: CollectiveCounters = zeroCounters();
  /** Measure the time spent in barriers (for benchmarks). */
  timing = false;

  constructor(
    private readonly buffers: CollectiveBuffers,
    readonly rank: number,
  ) {
    this.control = new Int32Array(buffers.control);
    this.bn = new Float64Array(buffers.bn);
    this.grads = new Float32Array(buffers.grads);
    this.scalars = new Float64Array(buffers.scalars);
    this.weights = new Float32Array(buffers.weights);
  }

  get size(): number {
    return this.buffers.size;
  }

  /** Zeroes {@link counters}. */
  resetCounters(): void {
    this.counters = zeroCounters();
  }

  /** Returns when every replica has called it; throws CollectiveAborted if the group was aborted. */
  barrier(): void {
    const k = this.counters;
    k.barriers += 1;
    const c = this.control;
    if (Atomics.load(c, ABORT) !== 0) throw new CollectiveAborted();
    const generation = Atomics.load(c, GENERATION);
    if (Atomics.add(c, COUNT, 1) === this.size - 1) {
      k.arrivedLast += 1;
      Atomics.store(c, COUNT, 0);
      Atomics.add(c, GENERATION, 1);
      Atomics.notify(c, GENERATION);
      return;
    }
    const t0 = this.timing ? performance.now() : 0;
    let passed = false;
    for (let i = 0; i < SPIN; i++) {
      if (Atomics.load(c, GENERATION) !== generation) {
        passed = true;
        break;
      }
    }
    const t1 = this.timing ? performance.now() : 0;
    if (!passed) {
      k.slept += 1;
      while (Atomics.load(c, GENERATION) === generation) {
        if (Atomics.load(c, ABORT) !== 0) throw new CollectiveAborted();
        Atomics.wait(c, GENERATION, generation, WAIT_SLICE_MS);
      }
    }
    if (this.timing) {
      k.spinMs += t1 - t0;
      k.waitMs += performance.now() - t0;
    }
  }

  /**
   * Replaces each entry of `partial` by its sum over the replicas (a `BatchNormReducer`). Calls
   * alternate between two halves of the buffer, so one barrier per call suffices: a replica
   * writes half h of call k + 1 only after the barrier of call k, which every replica passes
   * after it has read half h of call k - 1.
   */
  allReduceBn(partial: Float64Array): void {
    const L = this.buffers.bnSlot;
    if (partial.length > L) {
      throw new ScrlError(
        `Error in the BatchNorm all-reduce: ${partial.length} values exceed the ${L} reserved per replica. ` +
          'This is a bug in sizing the buffers (parallel.ts); please report it.',
      );
    }
    const half = this.bnCalls++ & 1;
    const base = half * this.size * L;
    this.bn.set(partial, base + this.rank * L);
    this.counters.bnReductions += 1;
    this.counters.bytes += 8 * partial.length * (1 + this.size);
    this.barrier();
    for (let i = 0; i < partial.length; i++) {
      let s = 0;
      for (let r = 0; r < this.size; r++) s += this.bn[base + r * L + i];
      partial[i] = s;
    }
  }

  /**
   * This replica's slot of the gradient buffer (`gradLength` floats), where it accumulates its
   * weighted gradient sum before {@link reduceScatterGrads}. It must not write the slot again
   * before every replica has returned from that call (the parent's round trip between steps
   * guarantees it).
   */
  gradSlot(): Float32Array {
    const G = this.buffers.gradLength;
    return this.grads.subarray(this.rank * G, (this.rank + 1) * G);
  }

  /**
   * Once every replica has filled its {@link gradSlot}: entries `[start, end)` of the sum over
   * the replicas, in rank order in float32 (each addition rounded, as a sum of float32 tensors
   * would be), and every replica's `scalars` (`[size][STEP_SCALARS]`).
   */
  reduceScatterGrads(start: number, end: number, scalars: Float64Array): { sum: Float32Array; scalars: Float64Array[] } {
    const G = this.buffers.gradLength;
    if (!(Number.isInteger(start) && Number.isInteger(end) && start >= 0 && start <= end && end <= G)) {
      throw new ScrlError(`Error in the gradient reduce-scatter: range [${start}, ${end}) is not within the ${G} gradient entries. This is a bug in parallel.ts; please report it.`);
    }
    this.scalars.set(scalars.subarray(0, STEP_SCALARS), this.rank * STEP_SCALARS);
    this.counters.bytes += 4 * G + 4 * (end - start) * this.size + 8 * STEP_SCALARS * (1 + this.size);
    this.barrier();
    const sum = this.grads.slice(start, end);
    for (let r = 1; r < this.size; r++) addInto(sum, this.grads.subarray(r * G + start, r * G + end));
    const all: Float64Array[] = [];
    for (let r = 0; r < this.size; r++) all.push(this.scalars.slice(r * STEP_SCALARS, (r + 1) * STEP_SCALARS));
    return { sum, scalars: all };
  }
}
