/**
 * The SCRL / BYOL pretraining loop (docs/scrl-reference.md sections 3 to 5), built from the
 * package's blocks: views and box pairs per image, online and target forward, the loss,
 * gradient accumulation, LARS, the EMA update, checkpoints and metrics.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { boxPairBatch, createRng, createViewPipeline, sampleBoxPairs } from '@scrl/augment';
import type { BoxPair, Rng } from '@scrl/augment';
import { createViewPairLoader, DataError, ImageFolder } from '@scrl/data';
import type { ViewPairLoader } from '@scrl/data';
import { byolLoss, scrlLoss } from '@scrl/loss';
import { GradientAccumulator } from './accumulate';
import { writeFileDurably } from './atomic-write';
import { findLatestCheckpoint, writeCheckpoint } from './checkpoint';
import { crashPoint } from './crash-points';
import { validateConfig } from './config';
import type { TrainConfig } from './config';
import { updateMomentum } from './ema';
import { Lars } from './lars';
import type { LarsState } from './lars';
import { MetricsWriter, ProgressReporter, readMetrics } from './metrics';
import type { ProgressOptions, StepMetrics } from './metrics';
import {
  batchNormCounters,
  buildNetworks,
  disposeNetworks,
  networkTensors,
  onlineForward,
  onlineParameters,
  restoreNetworks,
  targetForward,
} from './networks';
import type { Networks, Regions } from './networks';
import { writeLossCurvePng } from './plot';
import { learningRateAt, momentumAt, scaledLearningRate } from './schedules';
import type { ImageSource } from './source';
import type { TensorDict } from './safetensors';

export interface TrainOptions {
  /** A validated config (`presetConfig`, `resolveConfig`, `applyOverrides`). */
  config: TrainConfig;
  /** Output directory: `config.json`, `metrics.jsonl`, `loss.png`, `checkpoints/`. */
  out: string;
  /** A folder of images (`--data DIR`) or any {@link ImageSource}. */
  data: string | ImageSource;
  /** Accept symlinks in the `data` folder that lead out of it (`--allow-outside-root`); default false. */
  allowOutsideRoot?: boolean;
  /**
   * Continue from the newest valid checkpoint in `<out>/checkpoints` (`--resume`). Without it,
   * an `out` that already holds checkpoints is refused rather than overwritten.
   */
  resume?: boolean;
  /**
   * Stop after this many optimiser steps in total (`--max-steps`), as if interrupted: the
   * schedule still spans the configured steps, so a later `resume` continues it exactly.
   */
  maxSteps?: number;
  /** Steps between checkpoints (`--checkpoint-every`); default `config.checkpoint.every`. */
  checkpointEvery?: number;
  /**
   * Worker threads of `@scrl/data`'s view-pair loader when `data` is a folder (default: its
   * default, min(2, cores)); 0 builds views in this thread. Ignored for an `ImageSource`.
   */
  workers?: number;
  /** Aborting stops after the current step, with a checkpoint. */
  signal?: AbortSignal;
  /** Log lines (start, resume, checkpoints, warnings); default `console.error`, null for none. */
  log?: ((line: string) => void) | null;
  /** Progress bar / lines: a stream (default `process.stderr`) or false for none. */
  progress?: ProgressOptions['stream'] | false;
  /** Called with each step's metrics after it is written. */
  onStep?: (metrics: StepMetrics) => void;
}

export interface TrainResult {
  /** Optimiser steps completed in total (including those before a resume). */
  step: number;
  /** Steps of the whole schedule. */
  totalSteps: number;
  stopReason: 'completed' | 'max-steps' | 'aborted';
  /** Loss of the last step run in this call, or null if none ran. */
  lastLoss: number | null;
  /** Sidecar path of the last checkpoint written or resumed from. */
  checkpoint: string | null;
  out: string;
}

/** The numbers derived from the config and the dataset, written to config.json. */
export interface TrainPlan {
  images: number;
  effectiveBatch: number;
  stepsPerEpoch: number;
  totalSteps: number;
  warmupSteps: number;
  peakLr: number;
}

/** A run stops when this many steps in a row had nothing to train on (no box pairs, or unreadable images). */
export const MAX_SKIPPED_STEPS_IN_A_ROW = 20;

/** Thrown when the loss is NaN or infinite; the run stops without saving that state. */
export class NonFiniteLossError extends Error {
  constructor(
    message: string,
    readonly step: number,
    readonly lastCheckpoint: string | null,
  ) {
    super(message);
    this.name = 'NonFiniteLossError';
  }
}

/** Schedule lengths and the peak learning rate for `config` on a dataset of `images` images. */
export function planTraining(config: TrainConfig, images: number): TrainPlan {
  const effectiveBatch = config.batch.size * config.batch.accumulate;
  const stepsPerEpoch = Math.max(1, Math.floor(images / effectiveBatch));
  const s = config.schedule;
  const totalSteps = s.steps ?? s.epochs * stepsPerEpoch;
  const warmupSteps =
    s.warmupSteps ??
    (s.steps !== null ? Math.round((s.steps * s.warmupEpochs) / s.epochs) : Math.round(s.warmupEpochs * stepsPerEpoch));
  return {
    images,
    effectiveBatch,
    stepsPerEpoch,
    totalSteps,
    warmupSteps: Math.min(warmupSteps, totalSteps),
    peakLr: scaledLearningRate(config.optimizer.baseLr, effectiveBatch),
  };
}

/** Keys whose values differ between two configs, ignoring `checkpoint.*` (safe to change on resume). */
function configDifferences(a: unknown, b: unknown, prefix = ''): string[] {
  if (prefix === 'checkpoint') return [];
  if (typeof a === 'object' && a !== null && typeof b === 'object' && b !== null && !Array.isArray(a)) {
    const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
    return [...keys].flatMap((k) =>
      configDifferences((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k], prefix ? `${prefix}.${k}` : k),
    );
  }
  return JSON.stringify(a) === JSON.stringify(b) ? [] : [`${prefix} (checkpoint ${JSON.stringify(a)}, now ${JSON.stringify(b)})`];
}

/** Visits images epoch by epoch, each epoch in a seeded random order. */
class SampleOrder {
  private epoch = -1;
  private order: Uint32Array = new Uint32Array(0);
  constructor(
    private readonly n: number,
    private readonly rng: Rng,
  ) {}

  /** Image index of the `k`-th sample drawn since the start of training. */
  imageOf(k: number): number {
    const epoch = Math.floor(k / this.n);
    if (epoch !== this.epoch) {
      const r = this.rng.fork(epoch);
      const order = new Uint32Array(this.n);
      for (let i = 0; i < this.n; i++) order[i] = i;
      for (let i = this.n - 1; i > 0; i--) {
        const j = r.int(0, i);
        [order[i], order[j]] = [order[j], order[i]];
      }
      this.order = order;
      this.epoch = epoch;
    }
    return this.order[k % this.n];
  }
}

/** One micro-batch of stacked views: `[view 1 of every image, view 2 of every image]`. */
interface MicroBatch {
  view1: Float32Array;
  view2: Float32Array;
  /** Images in it (a folder loader may skip unreadable files). */
  images: number;
  pairs: BoxPair[][];
}

/** Micro-batches in training order, from micro-batch `first` on. */
interface MicroBatchStream {
  next(): Promise<MicroBatch>;
  close(): Promise<void>;
}

interface StreamSettings {
  seed: number;
  batchSize: number;
  viewSize: number;
  scale: [number, number];
  blur: 'resize' | 'gaussian';
  boxes: { minSize: number; boxesPerImage: number; iouThreshold: number; maxTries: number; jitter: number };
  withBoxes: boolean;
}

/**
 * In this thread, from an {@link ImageSource}: image order per epoch, views and boxes are all
 * forked from the seed by (label, sample number), so micro-batch `g` is the same whenever it
 * is built.
 */
function sourceStream(source: ImageSource, s: StreamSettings, first: number): MicroBatchStream {
  const root = createRng(s.seed);
  const order = new SampleOrder(source.length, root.fork('shuffle'));
  const pipeline = createViewPipeline({ viewSize: s.viewSize, scale: s.scale, blur: s.blur });
  const B = s.batchSize;
  const per = s.viewSize * s.viewSize * 3;
  let g = first;
  return {
    async next(): Promise<MicroBatch> {
      const start = g * B;
      g += 1;
      const view1 = new Float32Array(B * per);
      const view2 = new Float32Array(B * per);
      const pairs: BoxPair[][] = new Array(B);
      await Promise.all(
        Array.from({ length: B }, async (_, i) => {
          const k = start + i;
          const image = await source.read(order.imageOf(k));
          const [v1, v2] = await pipeline.viewPair(image, root.fork('views').fork(k));
          view1.set(v1.pixels, i * per);
          view2.set(v2.pixels, i * per);
          const boxOptions = { viewSize: s.viewSize, ...s.boxes };
          pairs[i] = s.withBoxes ? sampleBoxPairs(v1.geometry, v2.geometry, boxOptions, root.fork('boxes').fork(k)) : [];
        }),
      );
      return { view1, view2, images: B, pairs };
    },
    close: async () => undefined,
  };
}

/**
 * From a folder, through `@scrl/data`'s prefetching view-pair loader (worker threads): micro-
 * batch `g` is batch `g mod stepsPerEpoch` of epoch `floor(g / stepsPerEpoch)`, which the
 * loader rebuilds identically on resume.
 */
function loaderStream(files: string[], s: StreamSettings, first: number, workers: number | undefined, warn: (line: string) => void): MicroBatchStream {
  const loader: ViewPairLoader = createViewPairLoader(files, {
    batchSize: s.batchSize,
    workers,
    seed: s.seed,
    viewSize: s.viewSize,
    pipeline: { scale: s.scale, blur: s.blur },
    boxPairs: s.boxes,
    warn,
  });
  const perEpoch = loader.stepsPerEpoch;
  let epoch = Math.floor(first / perEpoch);
  let it = loader.epoch(epoch, { startStep: first % perEpoch });
  return {
    async next(): Promise<MicroBatch> {
      for (;;) {
        const r = await it.next();
        if (loader.skipped.length === files.length) {
          const first = loader.skipped[0];
          throw new DataError(
            'train',
            path.dirname(first.file),
            `none of the ${files.length} image files could be decoded (first: ${path.basename(first.file)}: ${first.reason}).`,
            'Point --data at a folder of readable jpg, png or webp images.',
          );
        }
        if (!r.done) {
          const b = r.value;
          return { view1: b.view1, view2: b.view2, images: b.batchSize, pairs: s.withBoxes ? b.boxPairs : b.boxPairs.map(() => []) };
        }
        epoch += 1;
        it = loader.epoch(epoch);
      }
    },
    close: () => loader.close(),
  };
}

/**
 * Trains SCRL (or BYOL with `config.method = 'byol'`) and returns when the schedule, `maxSteps`
 * or `signal` ends it. Writes `<out>/config.json` (effective config and plan),
 * `<out>/metrics.jsonl` (one line per step), `<out>/checkpoints/ckpt-*.{safetensors,json}`
 * and `<out>/loss.png`.
 */
export async function train(options: TrainOptions): Promise<TrainResult> {
  const config = validateConfig(options.config, 'train: options.config');
  const log = options.log === undefined ? (line: string) => console.error(line) : options.log ?? (() => undefined);
  const out = options.out;
  if (typeof out !== 'string' || out === '') throw new Error('train: options.out must be a directory path (--out DIR).');
  const maxSteps = options.maxSteps ?? Infinity;
  if (!(maxSteps >= 0) || (Number.isFinite(maxSteps) && !Number.isInteger(maxSteps))) {
    throw new Error(`train: maxSteps must be an integer >= 0 but got ${options.maxSteps}.`);
  }
  const every = options.checkpointEvery ?? config.checkpoint.every;
  if (!Number.isInteger(every) || every < 1) {
    throw new Error(`train: checkpointEvery must be an integer >= 1 but got ${options.checkpointEvery}.`);
  }
  const folder = typeof options.data === 'string' ? options.data : null;
  let images: number;
  let description: string;
  let files: string[] = [];
  if (folder !== null) {
    if (!fs.existsSync(folder) || !fs.statSync(folder).isDirectory()) {
      throw new Error(`train: data '${folder}' is not a directory. Pass --data DIR with image files (jpg, jpeg, png, webp).`);
    }
    // Sorted, so the sample order depends on the seed only, not on the file system.
    files = [...(await ImageFolder.open(folder, { allowOutsideRoot: options.allowOutsideRoot })).files].sort();
    images = files.length;
    description = `${path.resolve(folder)} (${images} images)`;
  } else {
    const src = options.data as ImageSource;
    if (!src || typeof src.read !== 'function' || !Number.isInteger(src.length)) {
      throw new Error('train: options.data must be a folder path or an ImageSource ({ length, description, read(i) }).');
    }
    images = src.length;
    description = src.description;
  }
  if (images < config.batch.size) {
    throw new Error(
      `train: the data has ${images} images but batch.size is ${config.batch.size}; use more images or --set batch.size=${Math.max(2, images)}.`,
    );
  }
  const plan = planTraining(config, images);
  const ckptDir = path.join(out, 'checkpoints');
  fs.mkdirSync(out, { recursive: true });
  const metrics = new MetricsWriter(path.join(out, 'metrics.jsonl'));

  const B = config.batch.size;
  const S = config.views.size;
  const accumulate = config.batch.accumulate;
  const root = createRng(config.seed);

  const nets: Networks = buildNetworks(config);
  const params = onlineParameters(nets.online);
  const variables = params.map((p) => p.variable);
  const lars = new Lars(params, {
    momentum: config.optimizer.momentum,
    weightDecay: config.optimizer.weightDecay,
    eta: config.optimizer.eta,
  });
  const acc = new GradientAccumulator();
  const settings: StreamSettings = {
    seed: config.seed,
    batchSize: B,
    viewSize: S,
    scale: config.views.scale,
    blur: config.views.blur,
    boxes: {
      minSize: config.boxes.minSize ?? nets.online.backbone.stride.c5,
      boxesPerImage: config.boxes.perImage,
      iouThreshold: config.boxes.iouThreshold,
      maxTries: config.boxes.maxTries,
      jitter: config.boxes.jitter,
    },
    withBoxes: config.method === 'scrl',
  };
  let stream: MicroBatchStream | null = null;

  let step = 0;
  let lastCheckpoint: string | null = null;
  let lastSavedStep = -1;
  let lastLoss: number | null = null;
  let stopReason: TrainResult['stopReason'] = 'completed';
  let skippedInARow = 0;
  let progress: ProgressReporter | null = null;

  const saveCheckpoint = async (): Promise<void> => {
    const tensors: TensorDict = await networkTensors(nets);
    const opt = await lars.getState();
    for (const [name, buf] of Object.entries(opt.buffers)) tensors[`optimizer.momentum.${name}`] = buf;
    const state = {
      config,
      plan,
      rng: { root: root.getState(), microBatchesSeen: step * accumulate, source: folder !== null ? 'view-pair-loader' : 'image-source' },
      optimizer: { config: opt.config, steps: opt.steps },
      batchNormCounters: batchNormCounters(nets),
      backend: tf.getBackend(),
    };
    lastCheckpoint = writeCheckpoint(ckptDir, { step, tensors, state }, { keep: config.checkpoint.keep });
    lastSavedStep = step;
    log(`[scrl] checkpoint: step ${step} -> ${lastCheckpoint}`);
  };

  try {
    const existing = findLatestCheckpoint(ckptDir, { warn: (m) => log(m) });
    if (options.resume) {
      if (existing) {
        const diff = configDifferences(existing.state.config, config);
        if (diff.length > 0) {
          throw new Error(
            `train: --resume: the config differs from the checkpoint's in ${diff.join('; ')}. ` +
              'Resume with the same config, or start a new run in another --out.',
          );
        }
        restoreNetworks(nets, existing.tensors, existing.state.batchNormCounters as Record<string, number[]> | undefined);
        const saved = existing.state.optimizer as { config: LarsState['config']; steps: number };
        const buffers: LarsState['buffers'] = {};
        for (const p of params) {
          const t = existing.tensors[`optimizer.momentum.${p.name}`];
          if (t) buffers[p.name] = t;
        }
        lars.setState({ config: saved.config, steps: saved.steps, buffers });
        step = existing.step;
        lastCheckpoint = existing.path;
        lastSavedStep = step;
        metrics.truncateAfter(step);
        log(`[scrl] resumed from ${existing.path} (step ${step} of ${plan.totalSteps})`);
      } else {
        log(`[scrl] --resume: no valid checkpoint in ${ckptDir}; starting from step 0`);
      }
    } else if (existing) {
      throw new Error(
        `train: ${ckptDir} already holds checkpoints (newest: step ${existing.step}). Pass --resume to continue that run, or choose another --out.`,
      );
    }
    if (step === 0) fs.rmSync(metrics.file, { force: true });

    writeFileDurably(
      path.join(out, 'config.json'),
      JSON.stringify(
        { config, plan, data: description, backend: tf.getBackend(), resumedFromStep: step > 0 ? step : null },
        null,
        2,
      ) + '\n',
    );
    log(
      `[scrl] ${config.method} on ${description}: ResNet-${config.model.depth}, ${S} px views, ` +
        `batch ${B} x ${accumulate}, ${plan.totalSteps} steps (warmup ${plan.warmupSteps}), peak lr ${plan.peakLr.toPrecision(4)}`,
    );

    stream =
      folder !== null
        ? loaderStream(files, settings, step * accumulate, options.workers, log)
        : sourceStream(options.data as ImageSource, settings, step * accumulate);

    const stopAt = Math.min(plan.totalSteps, maxSteps);
    if (options.progress !== false) {
      progress = new ProgressReporter({ total: plan.totalSteps, start: step, stream: options.progress ?? process.stderr });
    }
    while (step < stopAt) {
      if (options.signal?.aborted) {
        stopReason = 'aborted';
        break;
      }
      const t0 = Date.now();
      const lr = learningRateAt(step, { peakLr: plan.peakLr, warmupSteps: plan.warmupSteps, totalSteps: plan.totalSteps });
      let lossSum = 0;
      let weightSum = 0;
      let boxPairs = 0;
      for (let micro = 0; micro < accumulate; micro++) {
        const batch = await stream.next();
        const n = batch.images;
        const P = batch.pairs.reduce((count, p) => count + p.length, 0);
        // BYOL's BatchNorm needs >= 2 images; SCRL's needs >= 1 pair (2 rows).
        if (config.method === 'scrl' ? P === 0 : n < 2) continue;
        const weight = config.method === 'scrl' ? P : n;
        const x = tf.tidy(() =>
          tf.concat([tf.tensor4d(batch.view1, [n, S, S, 3]), tf.tensor4d(batch.view2, [n, S, S, 3])], 0),
        ) as tf.Tensor4D;
        let regions: Regions | null = null;
        if (config.method === 'scrl') {
          const b = boxPairBatch(batch.pairs);
          regions = { boxes: b.boxes, boxIndices: b.boxIndices };
        }
        const R = config.method === 'scrl' ? P : n;
        const z = targetForward(nets.target, x, regions);
        const { value, grads } = tf.variableGrads(() => {
          const q = onlineForward(nets.online, x, regions);
          const half = (t: tf.Tensor2D, i: number) => tf.slice(t, [i * R, 0], [R, -1]);
          const loss = config.method === 'scrl' ? scrlLoss : byolLoss;
          return loss(half(q, 0), half(q, 1), half(z, 0), half(z, 1));
        }, variables);
        const v = (await value.data())[0];
        tf.dispose([x, z, value]);
        if (regions) tf.dispose([regions.boxes, regions.boxIndices]);
        if (!Number.isFinite(v)) {
          tf.dispose(Object.values(grads));
          throw new NonFiniteLossError(
            `train: the loss became ${v} at step ${step + 1} (micro-batch ${micro + 1} of ${accumulate}); stopping without ` +
              `saving this state. The last good checkpoint is ${lastCheckpoint ?? '(none written yet)'}` +
              `${lastCheckpoint ? ` (step ${lastSavedStep})` : ''}. Lower optimizer.baseLr or check the data.`,
            step + 1,
            lastCheckpoint,
          );
        }
        acc.add(grads, weight);
        tf.dispose(Object.values(grads));
        crashPoint('step');
        lossSum += v * weight;
        weightSum += weight;
        boxPairs += config.method === 'scrl' ? P : 0;
      }
      const momentum = momentumAt(step, config.ema.baseMomentum, plan.totalSteps);
      const skipped = acc.microBatches === 0;
      if (!skipped) {
        const grads = acc.mean();
        lars.step(grads, lr);
        tf.dispose(Object.values(grads));
        updateMomentum(nets.target.backbone, nets.online.backbone, momentum);
        updateMomentum(nets.target.projector, nets.online.projector, momentum);
      }
      step += 1;
      const seconds = Math.max(1e-3, (Date.now() - t0) / 1000);
      const record: StepMetrics = {
        step,
        loss: weightSum > 0 ? lossSum / weightSum : 0,
        lr,
        momentum,
        boxPairs,
        imagesPerSecond: (B * accumulate) / seconds,
        epoch: Math.floor(((step - 1) * accumulate * B) / images),
      };
      if (skipped) record.skipped = true;
      lastLoss = record.loss;
      metrics.append(record);
      crashPoint('after-metrics');
      progress?.update(step, record);
      options.onStep?.(record);
      skippedInARow = skipped ? skippedInARow + 1 : 0;
      if (skipped) {
        log(
          `[scrl] step ${step}: no usable micro-batch (no box pairs, or < 2 images); no update. ` +
            (config.method === 'scrl' ? 'If this repeats, widen views.scale or lower boxes.minSize.' : 'If this repeats, check the images.'),
        );
      }
      if (skippedInARow >= MAX_SKIPPED_STEPS_IN_A_ROW) {
        throw new Error(
          `train: no usable micro-batch in ${skippedInARow} steps in a row (up to step ${step}): ` +
            (config.method === 'scrl'
              ? `the two views of an image never overlapped enough for a ${settings.boxes.minSize}-px box pair. Widen views.scale (now [${config.views.scale.join(', ')}]) or lower boxes.minSize.`
              : 'fewer than 2 readable images per batch. Check the images or raise batch.size.'),
        );
      }
      if (step % every === 0 || step === plan.totalSteps) await saveCheckpoint();
    }
    if (stopReason !== 'aborted' && step < plan.totalSteps) stopReason = 'max-steps';
    if (lastSavedStep !== step) await saveCheckpoint();
    progress?.finish();
    progress = null;
    const curve = readMetrics(metrics.file).map((r) => ({ step: r.step, loss: r.loss }));
    if (curve.length > 0) await writeLossCurvePng(path.join(out, 'loss.png'), curve);
    log(`[scrl] ${stopReason} at step ${step} of ${plan.totalSteps}; outputs in ${out}`);
    return { step, totalSteps: plan.totalSteps, stopReason, lastLoss, checkpoint: lastCheckpoint, out };
  } finally {
    progress?.finish();
    await stream?.close();
    acc.reset();
    lars.dispose();
    disposeNetworks(nets);
  }
}
