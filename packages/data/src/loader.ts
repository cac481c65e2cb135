/**
 * The prefetching view-pair loader: batches of SCRL view pairs with their geometry and matched
 * box pairs, built in worker threads, delivered in order from a bounded queue.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Worker } from 'node:worker_threads';
import { createRng, type BoxPair, type BoxPairOptions, type ViewGeometry, type ViewPipelineOptions } from '@scrl/augment';
import { defaultWarn, SkipLog, type SkippedFile, type WarnFn } from './errors';
import { isImageSource, type ImageSource } from './image-source';
import { createBatchBuilder, type BatchBuilder, type BatchConfig, type BatchJob, type BatchResult, type ReadImage } from './loader-batch';
import { ScrlError } from '@scrl/util';

/** One batch, as the trainer consumes it (`boxPairBatch(batch.boxPairs)` from @scrl/augment makes the RoI tensors). */
export interface ViewPairBatch {
  /** View-1 pixels, `batchSize * size * size * 3`, NHWC, normalised. */
  view1: Float32Array;
  /** View-2 pixels, same layout. */
  view2: Float32Array;
  /** View side S. */
  size: number;
  /** Images in this batch (fewer than `options.batchSize` if some were unreadable, or in a last partial batch). */
  batchSize: number;
  /** Per image: the two views' geometry in original-image pixels. */
  geometry: Array<[ViewGeometry, ViewGeometry]>;
  /** Per image: its matched boxes (0 or `boxesPerImage` pairs), in view pixels. */
  boxPairs: BoxPair[][];
  /** Per image: its index in the source list. */
  indices: number[];
  epoch: number;
  /** Position of this batch in its epoch, from 0. */
  step: number;
}

/**
 * Where the loader reads images from: a list of files, anything with `files` or `images[].file`
 * (an ImageFolder, a DetectionDataset), or an {@link ImageSource} (read in the calling thread).
 */
export type ViewPairSource =
  | readonly string[]
  | { readonly files: readonly string[] }
  | { readonly images: ReadonlyArray<{ file: string }> }
  | ImageSource;

export interface ViewPairLoaderOptions {
  /** Images per batch. Required. */
  batchSize: number;
  /**
   * Worker threads (default `min(2, cores)`); 0 builds batches in this thread (for debugging).
   * An ImageSource is always read in this thread (its `read` cannot cross threads): 0 then.
   */
  workers?: number;
  /** Most batches being built or waiting to be taken, at once (default `max(2, workers)`). */
  prefetch?: number;
  /** Reshuffle the images every epoch (default true); false keeps source order. */
  shuffle?: boolean;
  /** Seed of every random draw (shuffle, views, boxes). Default 0. */
  seed?: number | string;
  /** Drop the last partial batch of an epoch (default true: BatchNorm wants full batches). */
  dropLast?: boolean;
  /** View side S (default 224). Applies to the views and the box sampler. */
  viewSize?: number;
  /** View pipeline settings (`createViewPipeline` of @scrl/augment), except `viewSize`. */
  pipeline?: Omit<ViewPipelineOptions, 'viewSize'>;
  /** Box-pair settings (`sampleBoxPairs`: minSize, boxesPerImage, iouThreshold, maxTries, jitter), except `viewSize`. */
  boxPairs?: Omit<BoxPairOptions, 'viewSize'>;
  /** Where warnings about unreadable images go (default: a line on stderr); `null` for silence. */
  warn?: WarnFn;
}

/** Counters for diagnostics (is the loader keeping up?) and for tests of the bounded queue. */
export interface LoaderStats {
  /** Batches being built right now. */
  inFlight: number;
  /** Batches built and waiting to be taken. */
  ready: number;
  /** Largest `inFlight + ready` seen so far (never above `prefetch`). */
  highWater: number;
  /** Batches sent to workers / handed to the consumer, since creation. */
  dispatched: number;
  emitted: number;
  /** Live worker threads. */
  workers: number;
}

function sourceFiles(source: ViewPairSource): readonly string[] {
  if (Array.isArray(source)) return source as readonly string[];
  // Names for logs only: the source's read() gets the index.
  if (isImageSource(source)) return Array.from({ length: source.length }, (_, i) => `${source.description}[${i}]`);
  const s = source as { files?: readonly string[]; images?: ReadonlyArray<{ file: string }> };
  if (s.files) return s.files;
  if (s.images) return s.images.map((im) => im.file);
  throw new TypeError('Error in createViewPairLoader: source must be a list of files, an ImageFolder, or a DetectionDataset.');
}

/**
 * The compiled worker script. From `dist/loader.js` it is `dist/loader-worker.js`; when this
 * module runs from its TypeScript source (jest), it is the package's `dist/` build of it.
 */
export function loaderWorkerFile(): string {
  const candidates = __filename.endsWith('.ts')
    ? [path.join(__dirname, '..', 'dist', 'loader-worker.js')]
    : [path.join(__dirname, 'loader-worker.js'), path.join(__dirname, '..', 'dist', 'loader-worker.js')];
  for (const c of candidates) if (fs.existsSync(c)) return c;
  throw new ScrlError(
    `Error in createViewPairLoader: the worker script is not built (looked for ${candidates.join(', ')}). ` +
      'Run `npm run build` (or `npx tsc -b packages/data`), or pass workers: 0.',
  );
}

interface Slot {
  worker: Worker | null;
  busy: boolean;
  jobId: number;
}

interface Run {
  generation: number;
  epoch: number;
  steps: number;
  nextDispatch: number;
  nextEmit: number;
  ready: Map<number, ViewPairBatch>;
  failed: Error | null;
  wake: (() => void) | null;
  skippedThisEpoch: number;
  done: boolean;
}

/**
 * Arrays from a worker are built in this thread's main realm; under jest (a vm context) they
 * fail `instanceof Float32Array`, which TF.js uses. A view in this module's realm fixes that
 * without copying.
 */
function localFloat32(a: Float32Array): Float32Array {
  if (a instanceof Float32Array) return a;
  const foreign = a as { buffer: ArrayBuffer; byteOffset: number; length: number };
  return new Float32Array(foreign.buffer, foreign.byteOffset, foreign.length);
}

/** Fisher-Yates with the epoch's own stream: the same (seed, epoch) gives the same order. */
function epochOrder(n: number, seed: number | string, epoch: number, shuffle: boolean): Int32Array {
  const order = new Int32Array(n);
  for (let i = 0; i < n; i++) order[i] = i;
  if (!shuffle) return order;
  const rng = createRng(seed).fork('shuffle').fork(epoch);
  for (let i = n - 1; i > 0; i--) {
    const j = rng.int(0, i);
    const t = order[i];
    order[i] = order[j];
    order[j] = t;
  }
  return order;
}

/**
 * Batches of SCRL view pairs for an image list. Create with `createViewPairLoader`, iterate an
 * epoch with `for await (const batch of loader.epoch(e))`, and `await loader.close()` at the end.
 */
export class ViewPairLoader {
  readonly files: readonly string[];
  readonly batchSize: number;
  readonly viewSize: number;
  readonly workerCount: number;
  readonly prefetch: number;
  readonly shuffle: boolean;
  readonly seed: number | string;
  readonly dropLast: boolean;
  /** Batches per epoch. */
  readonly stepsPerEpoch: number;

  private readonly config: BatchConfig;
  private readonly slots: Slot[] = [];
  private local: BatchBuilder | null = null;
  private readonly log: SkipLog;
  private readonly warn: WarnFn;
  private run: Run | null = null;
  private generation = 0;
  private jobCounter = 0;
  private readonly jobs = new Map<number, { generation: number; step: number; slot: Slot | null }>();
  private order: { epoch: number; order: Int32Array } | null = null;
  private closed = false;
  private fatal: Error | null = null;
  private counters = { highWater: 0, dispatched: 0, emitted: 0 };

  constructor(source: ViewPairSource, options: ViewPairLoaderOptions) {
    const fail = (name: string, got: unknown, want: string): never => {
      throw new RangeError(`Error in createViewPairLoader: ${name} must be ${want}, got ${JSON.stringify(got)}.`);
    };
    this.files = sourceFiles(source);
    if (this.files.length === 0) fail('source', '(no files)', 'a non-empty list of image files');
    if (!Number.isInteger(options.batchSize) || options.batchSize < 1) fail('batchSize', options.batchSize, 'a positive integer');
    this.batchSize = options.batchSize;
    const imageSource = isImageSource(source) ? source : null;
    this.workerCount = imageSource ? 0 : options.workers ?? Math.min(2, os.availableParallelism());
    if (!Number.isInteger(this.workerCount) || this.workerCount < 0) fail('workers', options.workers, 'a non-negative integer');
    this.prefetch = options.prefetch ?? Math.max(2, this.workerCount);
    if (!Number.isInteger(this.prefetch) || this.prefetch < 1) fail('prefetch', options.prefetch, 'a positive integer');
    this.shuffle = options.shuffle ?? true;
    this.seed = options.seed ?? 0;
    this.dropLast = options.dropLast ?? true;
    this.viewSize = options.viewSize ?? 224;
    if (!Number.isInteger(this.viewSize) || this.viewSize < 8) fail('viewSize', options.viewSize, 'an integer >= 8');
    const n = this.files.length;
    this.stepsPerEpoch = this.dropLast ? Math.floor(n / this.batchSize) : Math.ceil(n / this.batchSize);
    if (this.stepsPerEpoch === 0) {
      fail('batchSize', options.batchSize, `at most the number of images (${n}) when dropLast is true`);
    }
    this.config = { seed: this.seed, viewSize: this.viewSize, pipeline: options.pipeline ?? {}, boxPairs: options.boxPairs ?? {} };
    // Fail now, in the caller's thread, on bad pipeline or box settings rather than in a worker.
    createBatchBuilder(this.config);
    const read: ReadImage | undefined = imageSource ? (index) => imageSource.read(index) : undefined;
    this.warn = options.warn === undefined ? defaultWarn : options.warn;
    this.log = new SkipLog(this.warn);
    if (this.workerCount > 0) {
      const file = loaderWorkerFile();
      for (let i = 0; i < this.workerCount; i++) this.slots.push(this.startWorker(file));
    } else {
      this.local = createBatchBuilder(this.config, read);
    }
  }

  private startWorker(file: string): Slot {
    const slot: Slot = { worker: null, busy: false, jobId: -1 };
    const worker = new Worker(file, { workerData: this.config });
    // A worker only keeps the process alive while it has a job: a forgotten close() never hangs.
    worker.unref();
    worker.on('message', (msg: { ok: true; result: BatchResult } | { ok: false; jobId: number; message: string; stack?: string }) => {
      slot.busy = false;
      worker.unref();
      if (msg.ok) this.onResult(msg.result);
      else this.onJobError(msg.jobId, new Error(`view-pair loader worker: ${msg.message}`));
    });
    worker.on('error', (err) => this.onFatal(new Error(`view-pair loader worker crashed: ${err.message}`)));
    worker.on('exit', (code) => {
      slot.worker = null;
      if (!this.closed) this.onFatal(new Error(`view-pair loader worker exited unexpectedly (code ${code}).`));
    });
    slot.worker = worker;
    return slot;
  }

  /** Indices (into `files`) of the images batch `step` of `epoch` holds, before any are skipped. */
  batchIndices(epoch: number, step: number): number[] {
    this.checkPosition(epoch, step, 'batchIndices');
    const order = this.orderOf(epoch);
    const start = step * this.batchSize;
    return Array.from(order.subarray(start, Math.min(start + this.batchSize, this.files.length)));
  }

  /** Where to resume after `batch`: the next step, or step 0 of the next epoch. */
  positionAfter(batch: { epoch: number; step: number }): { epoch: number; step: number } {
    return batch.step + 1 >= this.stepsPerEpoch ? { epoch: batch.epoch + 1, step: 0 } : { epoch: batch.epoch, step: batch.step + 1 };
  }

  /** Files that failed to decode so far (each warned about once). */
  get skipped(): readonly SkippedFile[] {
    return this.log.list;
  }

  stats(): LoaderStats {
    const inFlight = [...this.jobs.values()].filter((j) => j.generation === this.run?.generation).length;
    return {
      inFlight,
      ready: this.run ? this.run.ready.size : 0,
      highWater: this.counters.highWater,
      dispatched: this.counters.dispatched,
      emitted: this.counters.emitted,
      workers: this.slots.filter((s) => s.worker !== null).length,
    };
  }

  /**
   * The batches of one epoch, in step order, from `startStep` (default 0) on; resuming at
   * (epoch, step) gives exactly the batches an uninterrupted run would have. Starting another
   * epoch (or breaking out of the loop) abandons this one.
   */
  epoch(epoch: number, options: { startStep?: number } = {}): AsyncIterableIterator<ViewPairBatch> {
    if (this.closed) throw new ScrlError('Error in ViewPairLoader.epoch: the loader is closed.');
    const startStep = options.startStep ?? 0;
    this.checkPosition(epoch, startStep, 'epoch');
    this.abandon();
    const run: Run = {
      generation: ++this.generation,
      epoch,
      steps: this.stepsPerEpoch,
      nextDispatch: startStep,
      nextEmit: startStep,
      ready: new Map(),
      failed: null,
      wake: null,
      skippedThisEpoch: 0,
      done: false,
    };
    this.run = run;
    this.pump();
    const self = this;
    const iterator: AsyncIterableIterator<ViewPairBatch> = {
      [Symbol.asyncIterator]() {
        return iterator;
      },
      async next(): Promise<IteratorResult<ViewPairBatch>> {
        for (;;) {
          if (self.run !== run || run.done) return { done: true, value: undefined };
          const err = run.failed ?? self.fatal;
          if (err) {
            run.done = true;
            throw err;
          }
          if (run.nextEmit >= run.steps) {
            run.done = true;
            self.log.summarize(`view-pair loader, epoch ${run.epoch}`, run.skippedThisEpoch);
            return { done: true, value: undefined };
          }
          const batch = run.ready.get(run.nextEmit);
          if (batch) {
            run.ready.delete(run.nextEmit);
            run.nextEmit++;
            self.counters.emitted++;
            self.pump();
            return { done: false, value: batch };
          }
          if (self.closed) throw new ScrlError('Error in ViewPairLoader: the loader was closed while a batch was awaited.');
          await new Promise<void>((resolve) => {
            run.wake = resolve;
          });
        }
      },
      async return(): Promise<IteratorResult<ViewPairBatch>> {
        if (self.run === run) self.abandon();
        return { done: true, value: undefined };
      },
    };
    return iterator;
  }

  /** Terminates the workers; pending `next()` calls reject. Safe to call twice. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const run = this.run;
    this.run = null;
    if (run) {
      run.done = true;
      run.wake?.();
    }
    await Promise.all(this.slots.map((s) => s.worker?.terminate()));
    this.jobs.clear();
  }

  private checkPosition(epoch: number, step: number, fn: string): void {
    if (!Number.isInteger(epoch) || epoch < 0) throw new RangeError(`Error in ViewPairLoader.${fn}: epoch must be a non-negative integer, got ${epoch}.`);
    if (!Number.isInteger(step) || step < 0 || step >= this.stepsPerEpoch) {
      throw new RangeError(`Error in ViewPairLoader.${fn}: step must be an integer in [0, ${this.stepsPerEpoch}), got ${step}.`);
    }
  }

  private orderOf(epoch: number): Int32Array {
    if (!this.order || this.order.epoch !== epoch) {
      this.order = { epoch, order: epochOrder(this.files.length, this.seed, epoch, this.shuffle) };
    }
    return this.order.order;
  }

  private abandon(): void {
    const run = this.run;
    if (!run) return;
    run.done = true;
    this.run = null;
    run.wake?.();
  }

  private pending(run: Run): number {
    let inFlight = 0;
    for (const j of this.jobs.values()) if (j.generation === run.generation) inFlight++;
    return inFlight + run.ready.size;
  }

  /** Sends jobs to idle workers while the queue (building + ready) has room. */
  private pump(): void {
    const run = this.run;
    if (!run || run.done || this.closed || this.fatal) return;
    while (run.nextDispatch < run.steps && this.pending(run) < this.prefetch) {
      let slot: Slot | null = null;
      if (this.local === null) {
        slot = this.slots.find((s) => s.worker !== null && !s.busy) ?? null;
        if (!slot) return;
      } else if ([...this.jobs.values()].some((j) => j.generation === run.generation)) {
        return; // in-process mode builds one batch at a time
      }
      const step = run.nextDispatch++;
      const job: BatchJob = {
        jobId: ++this.jobCounter,
        epoch: run.epoch,
        step,
        items: this.batchIndices(run.epoch, step).map((index) => ({ index, file: this.files[index] })),
      };
      this.jobs.set(job.jobId, { generation: run.generation, step, slot });
      this.counters.dispatched++;
      this.counters.highWater = Math.max(this.counters.highWater, this.pending(run));
      if (slot && slot.worker) {
        slot.busy = true;
        slot.jobId = job.jobId;
        slot.worker.ref();
        slot.worker.postMessage(job);
      } else if (this.local) {
        this.local.build(job).then(
          (r) => this.onResult(r),
          (err: Error) => this.onJobError(job.jobId, err),
        );
      }
    }
  }

  private onResult(r: BatchResult): void {
    const job = this.jobs.get(r.jobId);
    this.jobs.delete(r.jobId);
    const run = this.run;
    if (!job || !run || job.generation !== run.generation) {
      this.pump(); // a stale result from an abandoned epoch: dropped, its slot is free again
      return;
    }
    for (const s of r.skipped) {
      this.log.add(s.file, s.reason);
      run.skippedThisEpoch++;
    }
    run.ready.set(r.step, {
      view1: localFloat32(r.view1),
      view2: localFloat32(r.view2),
      size: this.viewSize,
      batchSize: r.indices.length,
      geometry: r.geometry,
      boxPairs: r.boxPairs,
      indices: r.indices,
      epoch: r.epoch,
      step: r.step,
    });
    run.wake?.();
    this.pump();
  }

  private onJobError(jobId: number, err: Error): void {
    const job = this.jobs.get(jobId);
    this.jobs.delete(jobId);
    const run = this.run;
    if (job && run && job.generation === run.generation) {
      run.failed = err;
      run.wake?.();
    }
    this.pump();
  }

  private onFatal(err: Error): void {
    if (this.closed || this.fatal) return;
    this.fatal = err;
    this.run?.wake?.();
  }
}

/**
 * Creates a view-pair loader: for each image, two SCRL views (`createViewPipeline`) and their
 * matched boxes (`sampleBoxPairs`), built in `workers` threads and delivered in order. Each
 * image's randomness comes from a stream derived from (seed, epoch, index), so the batches
 * are the same whatever the number of workers and however they are scheduled.
 *
 * Memory: the loader holds file paths only; each worker decodes its images per batch, and at
 * most `prefetch` batches exist at once.
 */
export function createViewPairLoader(source: ViewPairSource, options: ViewPairLoaderOptions): ViewPairLoader {
  return new ViewPairLoader(source, options);
}
