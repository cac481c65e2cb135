/**
 * The SCRL / BYOL pretraining loop (docs/scrl-reference.md sections 3 to 5): a thin loop over
 * the exported step (`scrlStep` / `byolStep`, step.ts) with hooks around it (hooks.ts: schedule,
 * metrics, progress, checkpoints, loss curve), fed by the one data path (micro-batches.ts).
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { createRng } from '@scrl/augment';
import { ImageFolder, isImageSource } from '@scrl/data';
import type { ImageSource } from '@scrl/data';
import type { LarsState } from '@scrl/optim';
import { scaledLearningRate } from '@scrl/optim';
import { NonFiniteLossError, ScrlError } from '@scrl/util';
import { writeFileDurably } from './atomic-write';
import { findLatestCheckpoint } from './checkpoint';
import type { Checkpoint } from './checkpoint';
import { crashPoint } from './crash-points';
import { validateConfig } from './config';
import type { TrainConfig } from './config';
import { callbackHook, checkpointHook, lossCurveHook, metricsHook, progressHook, scheduleHook } from './hooks';
import type { TrainContext, TrainHook, TrainPlan } from './hooks';
import { MetricsWriter } from './metrics';
import type { ProgressOptions, StepMetrics } from './metrics';
import { microBatchStream } from './micro-batches';
import type { MicroBatchStream } from './micro-batches';
import { onlineParameters, restoreNetworks } from './networks';
import { ParallelStepper } from './parallel';
import { createPretrainModel, disposePretrainModel, NonFiniteStepError, pretrainStep } from './step';
import type { PretrainModel } from './step';

export type { TrainPlan } from './hooks';

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
   * default, min(2, cores)); 0 builds views in this thread. An `ImageSource` is always read in
   * this thread.
   */
  workers?: number;
  /**
   * Threads that compute the step (`--threads`): 1 (the default here) runs it in this thread;
   * N > 1 runs N data-parallel replicas in worker threads (parallel.ts), each on 1/N of every
   * micro-batch; 'auto' picks {@link defaultThreads}. Checkpoints are the same either way.
   */
  threads?: number | 'auto';
  /** Aborting stops after the current step, with a checkpoint. */
  signal?: AbortSignal;
  /** Log lines (start, resume, checkpoints, warnings); default `console.error`, null for none. */
  log?: ((line: string) => void) | null;
  /** Progress bar / lines: a stream (default `process.stderr`) or false for none. */
  progress?: ProgressOptions['stream'] | false;
  /** Called with each step's metrics after it is written. */
  onStep?: (metrics: StepMetrics) => void;
  /** Your own hooks (detectron2 style), run after the built-in ones at each point. */
  hooks?: TrainHook[];
  /**
   * Provenance written into `<out>/config.json` beside the config (e.g. the `command` and
   * `commit` that started or resumed the run; `scrl zoo add` reads them).
   */
  record?: Record<string, unknown>;
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

/**
 * The thread count `'auto'` gives (`--threads auto`): 2 when the backend is wasm or cpu (one
 * thread each) and the machine has at least 2 cores, else 1. It pays only where the second
 * core is free: on a machine shared with other sessions, Linux gives each session a share of
 * the CPU whatever its thread count, and 2 replicas were slower than 1 thread
 * (docs/backends.md), so neither `train()` nor `scrl pretrain` uses it by default.
 */
export function defaultThreads(backend: string = tf.getBackend(), cores: number = os.availableParallelism()): number {
  return (backend === 'wasm' || backend === 'cpu') && cores >= 2 ? 2 : 1;
}

/** A run stops when this many steps in a row had nothing to train on (no box pairs, or unreadable images). */
export const MAX_SKIPPED_STEPS_IN_A_ROW = 20;

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

/** The images of `data`: a folder's sorted file list, or an ImageSource. */
async function openData(data: TrainOptions['data'], allowOutsideRoot: boolean | undefined): Promise<{ source: string[] | ImageSource; images: number; description: string }> {
  if (typeof data === 'string') {
    if (!fs.existsSync(data) || !fs.statSync(data).isDirectory()) {
      throw new ScrlError(`Error in train: data '${data}' is not a directory. Pass --data DIR with image files (jpg, jpeg, png, webp).`);
    }
    // Sorted, so the sample order depends on the seed only, not on the file system.
    const files = [...(await ImageFolder.open(data, { allowOutsideRoot })).files].sort();
    return { source: files, images: files.length, description: `${path.resolve(data)} (${files.length} images)` };
  }
  if (!isImageSource(data)) {
    throw new ScrlError('Error in train: options.data must be a folder path or an ImageSource ({ length, description, read(i) }).');
  }
  return { source: data, images: data.length, description: data.description };
}

/** Restores networks and LARS from `existing` after checking that the config is the same. */
function restoreRun(model: PretrainModel, existing: Checkpoint, config: TrainConfig): void {
  const diff = configDifferences(existing.state.config, config);
  if (diff.length > 0) {
    throw new ScrlError(
      `Error in train: --resume: the config differs from the checkpoint's in ${diff.join('; ')}. ` +
        'Resume with the same config, or start a new run in another --out.',
    );
  }
  restoreNetworks(model.nets, existing.tensors, existing.state.batchNormCounters as Record<string, number[]> | undefined);
  const saved = existing.state.optimizer as { config: LarsState['config']; steps: number };
  const buffers: LarsState['buffers'] = {};
  for (const p of onlineParameters(model.nets.online)) {
    const t = existing.tensors[`optimizer.momentum.${p.name}`];
    if (t) buffers[p.name] = t;
  }
  model.lars.setState({ config: saved.config, steps: saved.steps, buffers });
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
  if (typeof out !== 'string' || out === '') throw new ScrlError('Error in train: options.out must be a directory path (--out DIR).');
  const maxSteps = options.maxSteps ?? Infinity;
  if (!(maxSteps >= 0) || (Number.isFinite(maxSteps) && !Number.isInteger(maxSteps))) {
    throw new ScrlError(`Error in train: maxSteps must be an integer >= 0 but got ${options.maxSteps}.`);
  }
  const threads = options.threads === 'auto' ? defaultThreads() : options.threads ?? 1;
  if (!Number.isInteger(threads) || threads < 1) {
    throw new ScrlError(`Error in train: threads must be an integer >= 1 or 'auto' but got ${JSON.stringify(options.threads)}.`);
  }
  const every = options.checkpointEvery ?? config.checkpoint.every;
  if (!Number.isInteger(every) || every < 1) {
    throw new ScrlError(`Error in train: checkpointEvery must be an integer >= 1 but got ${options.checkpointEvery}.`);
  }
  const { source, images, description } = await openData(options.data, options.allowOutsideRoot);
  if (images < config.batch.size) {
    throw new ScrlError(
      `Error in train: the data has ${images} images but batch.size is ${config.batch.size}; use more images or --set batch.size=${Math.max(2, images)}.`,
    );
  }
  const plan = planTraining(config, images);
  const ckptDir = path.join(out, 'checkpoints');
  fs.mkdirSync(out, { recursive: true });
  const metrics = new MetricsWriter(path.join(out, 'metrics.jsonl'));
  const accumulate = config.batch.accumulate;
  const model = createPretrainModel(config);
  const ctx: TrainContext = {
    config,
    plan,
    out,
    model,
    rng: createRng(config.seed),
    step: 0,
    lr: 0,
    momentum: 0,
    lastCheckpoint: null,
    lastSavedStep: -1,
    stopReason: 'completed',
    log,
  };
  const hooks: TrainHook[] = [scheduleHook(), metricsHook(metrics)];
  if (options.progress !== false) hooks.push(progressHook(options.progress ?? process.stderr));
  if (options.onStep) hooks.push(callbackHook(options.onStep));
  hooks.push(checkpointHook(every), lossCurveHook(metrics.file), ...(options.hooks ?? []));
  let stream: MicroBatchStream | null = null;
  let stepper: ParallelStepper | null = null;
  let batchNormLogged = false;
  let lastLoss: number | null = null;
  let skippedInARow = 0;

  try {
    const existing = findLatestCheckpoint(ckptDir, { warn: (m) => log(m) });
    if (options.resume && existing) {
      restoreRun(model, existing, config);
      ctx.step = existing.step;
      ctx.lastCheckpoint = existing.path;
      ctx.lastSavedStep = ctx.step;
      metrics.truncateAfter(ctx.step);
      log(`[scrl] resumed from ${existing.path} (step ${ctx.step} of ${plan.totalSteps})`);
    } else if (options.resume) {
      log(`[scrl] --resume: no valid checkpoint in ${ckptDir}; starting from step 0`);
    } else if (existing) {
      throw new ScrlError(
        `Error in train: ${ckptDir} already holds checkpoints (newest: step ${existing.step}). Pass --resume to continue that run, or choose another --out.`,
      );
    }
    if (ctx.step === 0) fs.rmSync(metrics.file, { force: true });
    const resumedFromStep = ctx.step > 0 ? ctx.step : null;
    const written = { config, plan, data: description, backend: tf.getBackend(), threads, resumedFromStep, ...(options.record ?? {}) };
    writeFileDurably(path.join(out, 'config.json'), JSON.stringify(written, null, 2) + '\n');
    log(
      `[scrl] ${config.method} on ${description}: ResNet-${config.model.depth}, ${config.views.size} px views, ` +
        `batch ${config.batch.size} x ${accumulate}, ${plan.totalSteps} steps (warmup ${plan.warmupSteps}), peak lr ${plan.peakLr.toPrecision(4)}`,
    );
    const workers = typeof options.data === 'string' ? options.workers : 0;
    const minBoxSize = model.nets.online.backbone.stride.c5;
    stream = microBatchStream(source, config, { first: ctx.step * accumulate, workers, minBoxSize, warn: log });

    if (threads > 1) {
      stepper = await ParallelStepper.start(model, config, threads);
      log(`[scrl] ${threads} threads: data-parallel replicas, each on 1/${threads} of every micro-batch`);
    }
    // The hooks read `model`; with replicas it is refreshed from replica 0 when a checkpoint is
    // due, at the end, and after every step when the caller added hooks of their own.
    const pull = async (): Promise<void> => {
      if (stepper) await stepper.pullState(model);
    };
    for (const h of hooks) await h.beforeTrain?.(ctx);
    const stopAt = Math.min(plan.totalSteps, maxSteps);
    while (ctx.step < stopAt) {
      // One turn of the event loop per step: when the loader is ahead, every await below
      // resolves as a microtask, and without this a Ctrl-C (a signal event) would never be
      // handled, so `signal` would never abort.
      await new Promise<void>((resolve) => setImmediate(resolve));
      if (options.signal?.aborted) {
        ctx.stopReason = 'aborted';
        break;
      }
      const t0 = Date.now();
      for (const h of hooks) await h.beforeStep?.(ctx);
      const batches = [];
      for (let micro = 0; micro < accumulate; micro++) batches.push(await stream.next());
      let r;
      try {
        const stepOptions = { lr: ctx.lr, momentum: ctx.momentum };
        r = stepper ? await stepper.step(batches, stepOptions) : await pretrainStep(model, batches, stepOptions);
        if (stepper && !batchNormLogged && stepper.batchNormSynchronised !== null) {
          batchNormLogged = true;
          log(
            `[scrl] BatchNorm statistics: ${stepper.batchNormSynchronised ? 'synchronised across the replicas (as over the whole batch)' : `per replica (over 1/${threads} of the batch, as DDP without SyncBatchNorm)`}`,
          );
        }
      } catch (err) {
        if (!(err instanceof NonFiniteStepError)) throw err;
        const last = ctx.lastCheckpoint;
        throw new NonFiniteLossError(
          `Error in train: the loss became ${err.value} at step ${ctx.step + 1} (micro-batch ${err.microBatch} of ${accumulate}); stopping without ` +
            `saving this state. The last good checkpoint is ${last ?? '(none written yet)'}` +
            `${last ? ` (step ${ctx.lastSavedStep})` : ''}. Lower optimizer.baseLr or check the data.`,
          ctx.step + 1,
          last,
        );
      }
      crashPoint('step');
      ctx.step += 1;
      const seconds = Math.max(1e-3, (Date.now() - t0) / 1000);
      const record: StepMetrics = {
        step: ctx.step,
        loss: r.loss,
        lr: ctx.lr,
        momentum: ctx.momentum,
        boxPairs: r.boxPairs,
        imagesPerSecond: (config.batch.size * accumulate) / seconds,
        epoch: Math.floor(((ctx.step - 1) * accumulate * config.batch.size) / images),
      };
      if (r.skipped) record.skipped = true;
      lastLoss = record.loss;
      skippedInARow = r.skipped ? skippedInARow + 1 : 0;
      if (r.skipped) {
        log(
          `[scrl] step ${ctx.step}: no usable micro-batch (no box pairs, or < 2 images); no update. ` +
            (config.method === 'scrl' ? 'If this repeats, widen views.scale or lower boxes.minSize.' : 'If this repeats, check the images.'),
        );
      }
      if (skippedInARow >= MAX_SKIPPED_STEPS_IN_A_ROW) {
        throw new ScrlError(
          `Error in train: no usable micro-batch in ${skippedInARow} steps in a row (up to step ${ctx.step}): ` +
            (config.method === 'scrl'
              ? `the two views of an image never overlapped enough for a ${config.boxes.minSize ?? minBoxSize}-px box pair. Widen views.scale (now [${config.views.scale.join(', ')}]) or lower boxes.minSize.`
              : 'fewer than 2 readable images per batch. Check the images or raise batch.size.'),
        );
      }
      if (stepper && ((options.hooks?.length ?? 0) > 0 || ctx.step % every === 0 || ctx.step === plan.totalSteps)) await pull();
      for (const h of hooks) await h.afterStep?.(ctx, record);
    }
    if (ctx.stopReason !== 'aborted' && ctx.step < plan.totalSteps) ctx.stopReason = 'max-steps';
    await pull();
    for (const h of hooks) await h.afterTrain?.(ctx);
    log(`[scrl] ${ctx.stopReason} at step ${ctx.step} of ${plan.totalSteps}; outputs in ${out}`);
    const { step, stopReason, lastCheckpoint: checkpoint } = ctx;
    return { step, totalSteps: plan.totalSteps, stopReason, lastLoss, checkpoint, out };
  } finally {
    for (const h of hooks) h.dispose?.();
    await stepper?.close();
    await stream?.close();
    disposePretrainModel(model);
  }
}
