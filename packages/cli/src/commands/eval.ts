import * as fs from 'node:fs';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { LabelledImageFolder, loadScenes, objectCrops } from '@scrl/data';
import type { DetectionDataset } from '@scrl/data';
import type { RgbImage } from '@scrl/augment';
import {
  DEFAULT_DETECTION_CONFIG,
  drawDetections,
  extractFeatures,
  fineTuneDetection,
  knnClassify,
  linearProbe,
  loadDetectionSamples,
  rescaleConvNorms,
  sweepDetectionLr,
  writeEvalReport,
} from '@scrl/eval';
import type { DetectionEvalResult, DetectionFineTuneConfig, DetectionLrSweepResult, DetectionSample, DetectionStepInfo, DetectionTrainingState } from '@scrl/eval';
import { createResNet } from '@scrl/models';
import type { ResNet } from '@scrl/models';
import { crashPoint, findLatestCheckpoint, MetricsWriter, ProgressReporter, writeCheckpoint, writeLossCurvePng } from '@scrl/trainer';
import { intOption, progressStream, stringOption, type Command, type CommandContext, type CommandIO, type OptionSpec } from '../command';
import { UsageError } from '../errors';
import { ALLOW_OUTSIDE_ROOT_OPTION, backboneFromInit, builtinScenes, CACHE_OPTION, containmentFromFlags, CONFIG_OPTIONS, configFromFlags, setupBackend, timestampedDir, writeJson } from '../shared';

/** Built-in scenes used when `--data` is not given (the probes, linear and kNN evaluations). */
export const EVAL_SCENES = { images: 1000, size: 64 } as const;

/**
 * Built-in scenes of `scrl eval detection` when `--data` is not given: the same generator and
 * seed as EVAL_SCENES, twice as many (the generator is prefix-stable: their first 1000 images are
 * EVAL_SCENES'), so 1600 train / 400 held-out images with the default --val 0.2. More labelled
 * scenes lifted the PyTorch oracle from 25.3 to 29.2 AP at the same schedule (docs/evaluators.md).
 */
export const DETECTION_SCENES = { images: 2000, size: 64 } as const;

const INIT_OPTION: OptionSpec = {
  name: 'init',
  type: 'string',
  valueName: 'INIT',
  description: 'random, a pretrain run folder / ckpt-*.json, or torchvision .safetensors',
  defaultText: 'random',
};

function pct(v: number): string {
  return v < 0 ? 'n/a' : (100 * v).toFixed(1);
}

/** The detection dataset: `--data DIR` (COCO: DIR/annotations.json, e.g. `scrl data generate`) or the built-in scenes. */
export async function detectionData(
  values: CommandContext['values'],
  io: CommandIO,
  builtin: { images: number; size: number } = EVAL_SCENES,
): Promise<{ dir: string; dataset: DetectionDataset }> {
  let dir = stringOption(values, 'data');
  if (!dir) dir = (await builtinScenes(values, io, builtin)).dir;
  if (!fs.existsSync(path.join(dir, 'annotations.json'))) {
    throw new UsageError(`--data: '${dir}' has no annotations.json; pass a COCO folder such as one from 'scrl data generate'.`);
  }
  return { dir, dataset: await loadScenes(dir, { ...containmentFromFlags(values), warn: (m) => io.err(m) }) };
}

/** Splits samples: the last `valFraction` (at least one) are the validation set. */
export function splitSamples<T>(samples: T[], valFraction: number): { train: T[]; val: T[] } {
  const nVal = Math.max(1, Math.round(samples.length * valFraction));
  if (samples.length - nVal < 1) throw new UsageError(`the data has ${samples.length} images; need at least 2 to split train/val`);
  return { train: samples.slice(0, samples.length - nVal), val: samples.slice(samples.length - nVal) };
}

/**
 * Fine-tunes the detector on `backbone` (trained in place), writes the report into `out`
 * (report.md, detections.png, loss.png, metrics.json) and returns the result.
 */
export async function runDetection(options: {
  io: CommandIO;
  backbone: ResNet;
  dataset: DetectionDataset;
  train: DetectionSample[];
  val: DetectionSample[];
  config: Partial<DetectionFineTuneConfig>;
  out: string;
  title: string;
  notes: string[];
  /** Checkpoints in `out/checkpoints` every `every` steps and per-step `out/metrics.jsonl`; `resume` continues from the newest. */
  checkpoint?: { every: number; resume: boolean };
  /** The learning-rate sweep that chose `config.lr`, recorded in metrics.json. */
  sweep?: DetectionLrSweepResult;
}): Promise<DetectionEvalResult> {
  const { io } = options;
  const saving = options.checkpoint ? detectionCheckpoints(options.out, options.checkpoint, io) : null;
  const steps = options.config.steps ?? DEFAULT_DETECTION_CONFIG.steps;
  // A resumed run's ETA comes from the steps run since the resume, not since step 0.
  const bar = new ProgressReporter({ total: steps, start: saving?.resumeFrom?.step ?? 0, stream: progressStream(io), every: Math.max(1, Math.round(steps / 10)) });
  const batch = options.config.batchSize ?? DEFAULT_DETECTION_CONFIG.batchSize;
  let last = Date.now();
  const fineTune = (): DetectionEvalResult => {
    try {
      return fineTuneDetection(input);
    } catch (err) {
      // A checkpoint that does not fit these flags is the user's to fix, not a crash.
      if (err instanceof Error && /^fineTuneDetection: resumeFrom/.test(err.message)) {
        throw new UsageError(`--resume: ${err.message.replace(/^fineTuneDetection: resumeFrom/, 'the checkpoint in ' + path.join(options.out, 'checkpoints'))}`, 'eval detection');
      }
      throw err;
    }
  };
  const input: Parameters<typeof fineTuneDetection>[0] = {
    backbone: options.backbone,
    categories: options.dataset.categories.map((c) => ({ id: c.id, name: c.name })),
    train: options.train,
    val: options.val,
    config: options.config,
    resumeFrom: saving?.resumeFrom,
    checkpointEvery: saving ? options.checkpoint?.every : undefined,
    onCheckpoint: saving?.save,
    onStep: (info) => {
      saving?.append(info);
      const now = Date.now();
      bar.update(info.step, { loss: info.loss, imagesPerSecond: (1000 * batch) / Math.max(1, now - last) });
      last = now;
    },
  };
  const result = fineTune();
  bar.finish();
  try {
    fs.mkdirSync(options.out, { recursive: true });
    await writeEvalReport(options.out, result, { title: options.title, val: options.val, notes: options.notes });
    const curve = result.history.map((h) => ({ step: h.step, loss: h.loss })).filter((p) => Number.isFinite(p.loss));
    if (curve.length > 1) await writeLossCurvePng(path.join(options.out, 'loss.png'), curve);
    writeJson(path.join(options.out, 'metrics.json'), {
      config: result.config,
      stats: result.coco.named,
      notes: options.notes,
      ...(options.sweep ? { lrSweep: options.sweep } : {}),
    });
  } finally {
    result.detector.dispose();
  }
  return result;
}

const DETECTION_CHECKPOINT_KIND = 'scrl-detection-finetune';

/**
 * The checkpoint side of `scrl eval detection`: `out/checkpoints/ckpt-*.{safetensors,json}`
 * (written atomically by @scrl/trainer's `writeCheckpoint`, the newest 2 kept) and one line per
 * step in `out/metrics.jsonl`, cut back to the checkpoint on resume so each step appears once.
 */
function detectionCheckpoints(
  out: string,
  options: { every: number; resume: boolean },
  io: CommandIO,
): { resumeFrom?: DetectionTrainingState; save: (state: DetectionTrainingState) => void; append: (info: DetectionStepInfo) => void } {
  const dir = path.join(out, 'checkpoints');
  const metrics = new MetricsWriter(path.join(out, 'metrics.jsonl'));
  const existing = findLatestCheckpoint(dir, { warn: (m) => io.err(m) });
  let resumeFrom: DetectionTrainingState | undefined;
  if (existing && !options.resume) {
    throw new UsageError(
      `${dir} already holds checkpoints (newest: step ${existing.step}). Pass --resume to continue that fine-tuning, or choose another --out.`,
      'eval detection',
    );
  }
  if (existing) {
    const s = existing.state as Partial<Omit<DetectionTrainingState, 'tensors' | 'step'>> & { kind?: string };
    if (s.kind !== DETECTION_CHECKPOINT_KIND || !s.config || !Array.isArray(s.order) || typeof s.rngDraws !== 'number') {
      throw new UsageError(`--resume: ${existing.path} is not a checkpoint of scrl eval detection (kind ${JSON.stringify(s.kind)}). Choose another --out.`, 'eval detection');
    }
    resumeFrom = { step: existing.step, config: s.config, tensors: existing.tensors, rngDraws: s.rngDraws, order: s.order, cursor: s.cursor ?? 0, history: s.history ?? [] };
    metrics.truncateAfter(existing.step);
    io.err(`[scrl] resumed from ${existing.path} (step ${existing.step})`);
  } else {
    if (options.resume) io.err(`[scrl] --resume: no valid checkpoint in ${dir}; starting from step 0`);
    fs.rmSync(metrics.file, { force: true });
  }
  return {
    resumeFrom,
    save: (state) => {
      const { tensors, step, ...rest } = state;
      const file = writeCheckpoint(dir, { step, tensors, state: { kind: DETECTION_CHECKPOINT_KIND, ...rest } }, { keep: 2 });
      io.err(`[scrl] checkpoint: step ${step} -> ${file}`);
    },
    append: (info) => {
      const { step, loss, lossCls, lossBox, lossCtr, lr } = info;
      fs.appendFileSync(metrics.file, JSON.stringify({ step, loss, lossCls, lossBox, lossCtr, lr }) + '\n');
      crashPoint('after-metrics');
    },
  };
}

export function detectionTable(rows: Array<{ init: string; stats: DetectionEvalResult['coco']['named'] }>): string[] {
  const width = Math.max(4, ...rows.map((r) => r.init.length));
  return [
    `| ${'init'.padEnd(width)} |    AP |  AP50 |  AP75 |`,
    `|${'-'.repeat(width + 2)}|------:|------:|------:|`,
    ...rows.map((r) => {
      const s = r.stats;
      return `| ${r.init.padEnd(width)} | ${pct(s.AP).padStart(5)} | ${pct(s.AP50).padStart(5)} | ${pct(s.AP75).padStart(5)} |`;
    }),
  ];
}

const DETECTION_SCHEDULE_OPTIONS: OptionSpec[] = [
  { name: 'steps', type: 'string', valueName: 'N', description: 'fine-tuning steps', defaultText: String(DEFAULT_DETECTION_CONFIG.steps) },
  { name: 'batch-size', type: 'string', valueName: 'N', description: 'images per step', defaultText: String(DEFAULT_DETECTION_CONFIG.batchSize) },
  { name: 'image-size', type: 'string', valueName: 'PX', description: 'training / evaluation side', defaultText: String(DEFAULT_DETECTION_CONFIG.imageSize) },
  { name: 'lr', type: 'string', valueName: 'LR', description: 'peak SGD learning rate', defaultText: String(DEFAULT_DETECTION_CONFIG.lr) },
  {
    name: 'warmup',
    type: 'string',
    valueName: 'N',
    description: 'linear warmup steps (then cosine decay)',
    defaultText: `${DEFAULT_DETECTION_CONFIG.warmupSteps}, at most a sixth of --steps`,
  },
  {
    name: 'lr-sweep',
    type: 'string',
    valueName: 'LR,LR,...',
    description: 'choose the lr among these on a validation split of the training images (overrides --lr)',
  },
  { name: 'sweep-val', type: 'string', valueName: 'F', description: 'fraction of the training images that choose the lr', defaultText: '0.2' },
  { name: 'sweep-steps', type: 'string', valueName: 'N', description: 'steps of each sweep run', defaultText: 'as --steps' },
  {
    name: 'rescale-conv-norms',
    type: 'boolean',
    description: 'rescale each backbone conv to the norm of a fresh random init (same architecture and seed) first',
  },
  {
    name: 'freeze-backbone',
    type: 'boolean',
    description: 'train only the FPN and the head; the backbone keeps its weights (BatchNorm on batch statistics)',
  },
  { name: 'limit', type: 'string', valueName: 'N', description: 'use only the first N images of the dataset', defaultText: 'all' },
  {
    name: 'labels',
    type: 'string',
    valueName: 'N',
    description: 'fine-tune on only the first N images of the training split (few labels); the held-out images stay the same',
    defaultText: 'the whole training split',
  },
  { name: 'seed', type: 'string', valueName: 'S', description: 'seed of the head initialisation, flips and batch order', defaultText: String(DEFAULT_DETECTION_CONFIG.seed) },
];

/** `--lr-sweep`: the candidate learning rates, or undefined without the flag. */
export function lrSweepOption(values: CommandContext['values']): number[] | undefined {
  const text = stringOption(values, 'lr-sweep');
  if (text === undefined) return undefined;
  const lrs = text.split(',').map((t) => Number(t.trim()));
  if (lrs.length === 0 || lrs.some((lr) => !(lr > 0) || !Number.isFinite(lr))) {
    throw new UsageError(`--lr-sweep must be a comma-separated list of numbers > 0 such as 0.003,0.01,0.03, got '${text}'`);
  }
  return lrs;
}

/** The fine-tuning schedule from the flags; without --warmup, warmup is the default capped at a sixth of the steps. */
export function detectionConfig(values: CommandContext['values']): Partial<DetectionFineTuneConfig> {
  const steps = intOption(values, 'steps', 1) ?? DEFAULT_DETECTION_CONFIG.steps;
  const lrText = stringOption(values, 'lr');
  const lr = lrText === undefined ? DEFAULT_DETECTION_CONFIG.lr : Number(lrText);
  if (!(lr > 0) || !Number.isFinite(lr)) throw new UsageError(`--lr must be a number > 0, got '${lrText}'`);
  return {
    steps,
    batchSize: intOption(values, 'batch-size', 1) ?? DEFAULT_DETECTION_CONFIG.batchSize,
    imageSize: intOption(values, 'image-size', 16) ?? DEFAULT_DETECTION_CONFIG.imageSize,
    lr,
    warmupSteps: intOption(values, 'warmup', 0) ?? Math.min(DEFAULT_DETECTION_CONFIG.warmupSteps, Math.floor(steps / 6)),
    seed: intOption(values, 'seed', 0) ?? DEFAULT_DETECTION_CONFIG.seed,
    freezeBackbone: values['freeze-backbone'] === true,
  };
}

export const evalDetection: Command = {
  name: 'eval detection',
  summary: 'fine-tune an FCOS detector on a backbone and report COCO box AP',
  description:
    'Splits --data (COCO folder; default 2000 built-in scenes) into train and the last --val fraction,\n' +
    'fine-tunes backbone + FPN + head, and writes OUT/report.md, OUT/detections.png, OUT/loss.png\n' +
    'and OUT/metrics.json. A random --init takes its architecture from --preset/--config/--set.\n' +
    'Every --checkpoint-every steps it writes OUT/checkpoints/ (and OUT/metrics.jsonl per step);\n' +
    'after a crash or Ctrl-C, the same command with --resume continues to a bit-identical result.',
  options: [
    INIT_OPTION,
    { name: 'data', type: 'string', valueName: 'DIR', description: 'COCO folder (annotations.json)', defaultText: 'built-in scenes' },
    ALLOW_OUTSIDE_ROOT_OPTION,
    { name: 'out', type: 'string', valueName: 'DIR', description: 'report folder', defaultText: 'runs/eval-detection-<timestamp>' },
    { name: 'checkpoint-every', type: 'string', valueName: 'N', description: 'steps between checkpoints in OUT/checkpoints (0: none)', defaultText: '100' },
    { name: 'resume', type: 'boolean', description: 'continue from the newest checkpoint in --out (same flags)' },
    { name: 'val', type: 'string', valueName: 'F', description: 'fraction of images held out for evaluation', defaultText: '0.2' },
    ...DETECTION_SCHEDULE_OPTIONS,
    ...CONFIG_OPTIONS,
    CACHE_OPTION,
  ],
  examples: [
    'scrl eval detection --init runs/pretrain-2026-01-01T00-00-00 --steps 300',
    'scrl eval detection --init r18-scrl.safetensors --data data/scenes --out runs/det-scrl',
    'scrl eval detection --init random --steps 50 --limit 200',
    'scrl eval detection --init runs/pretrain-byol --lr-sweep 0.003,0.01,0.03 --rescale-conv-norms',
    'scrl eval detection --init runs/pretrain-byol --freeze-backbone',
    'scrl eval detection --init runs/pretrain-byol --labels 160 --steps 500',
  ],
  async run({ values, io }) {
    const init = stringOption(values, 'init') ?? 'random';
    const fallback = configFromFlags(values);
    const config = detectionConfig(values);
    const valText = stringOption(values, 'val') ?? '0.2';
    const valFraction = Number(valText);
    if (!(valFraction > 0 && valFraction < 1)) throw new UsageError(`--val must be a fraction in (0, 1), got '${valText}'`, 'eval detection');
    const limit = intOption(values, 'limit', 2);
    const every = intOption(values, 'checkpoint-every', 0) ?? 100;
    const resume = values.resume === true;
    if (resume && !stringOption(values, 'out')) throw new UsageError('--resume needs --out DIR (the fine-tuning to continue)', 'eval detection');
    const out = stringOption(values, 'out') ?? timestampedDir('eval-detection');
    const lrs = lrSweepOption(values);
    const sweepValText = stringOption(values, 'sweep-val') ?? '0.2';
    const sweepVal = Number(sweepValText);
    if (!(sweepVal > 0 && sweepVal < 1)) throw new UsageError(`--sweep-val must be a fraction in (0, 1), got '${sweepValText}'`, 'eval detection');
    const sweepSteps = intOption(values, 'sweep-steps', 1);
    const rescale = values['rescale-conv-norms'] === true;
    const backend = await setupBackend(values, io);
    const { dir, dataset } = await detectionData(values, io, DETECTION_SCENES);
    const samples = await loadDetectionSamples(dataset, { limit });
    const split = splitSamples(samples, valFraction);
    const { val } = split;
    const labels = intOption(values, 'labels', 1);
    if (labels !== undefined && labels > split.train.length) {
      throw new UsageError(`--labels ${labels} is more than the ${split.train.length} images of the training split of ${dir}; give at most ${split.train.length}, or leave --labels out to use them all`, 'eval detection');
    }
    const train = labels === undefined ? split.train : split.train.slice(0, labels);
    const notes: string[] = [];
    if (labels !== undefined) notes.push(`few labels (--labels ${labels}): ${train.length} of the ${split.train.length} training images`);
    // The initialisation, rescaled to a fresh init's conv norms when asked; a new copy per run.
    const makeBackbone = (quiet: boolean): { model: ResNet; description: string } => {
      const built = backboneFromInit(init, fallback, quiet ? { ...io, err: () => undefined } : io);
      if (rescale) {
        const m = built.model;
        const reference = createResNet({ depth: m.depth, smallInput: m.smallInput, baseWidth: m.baseWidth, seed: built.seed });
        try {
          const convs = rescaleConvNorms(m, reference);
          const sum = (k: 'before' | 'after') => convs.reduce((t, c) => t + c[k], 0).toFixed(1);
          if (!quiet) {
            const line = `conv norms rescaled to a fresh init (seed ${built.seed}): summed norm ${sum('before')} -> ${sum('after')} over ${convs.length} convs`;
            io.err(`[scrl] ${line}`);
            notes.push(line);
          }
        } finally {
          reference.dispose();
        }
      }
      return built;
    };
    let sweep: DetectionLrSweepResult | undefined;
    // A finished sweep is kept in OUT/lr-sweep.json, with what it depends on: --resume reuses it
    // (the sweep runs are not checkpointed; repeating them cost minutes to an hour).
    const sweepFile = path.join(out, 'lr-sweep.json');
    const sweepKey = lrs ? { init, lrs, sweepSteps: sweepSteps ?? config.steps, sweepVal, train: train.length, seed: config.seed, rescale } : null;
    if (lrs && resume && fs.existsSync(sweepFile)) {
      let saved: { key?: unknown; result?: DetectionLrSweepResult } = {};
      try {
        saved = JSON.parse(fs.readFileSync(sweepFile, 'utf8'));
      } catch {
        io.err(`[scrl] ${sweepFile} is not valid JSON; running the lr sweep again`);
      }
      if (saved.result && JSON.stringify(saved.key) === JSON.stringify(sweepKey)) {
        sweep = saved.result;
        config.lr = sweep.chosenLr;
        const line = `lr chosen by sweep: ${sweep.chosenLr} (validation AP ${sweep.runs.map((r) => `${r.lr}: ${pct(r.ap)}`).join(', ')}; ${sweep.sweepTrain} fit / ${sweep.sweepVal} choose images of the training split; reused from ${sweepFile})`;
        io.err(`[scrl] ${line}`);
        notes.push(line);
      } else if (saved.result) {
        io.err(`[scrl] ${sweepFile} was made with other settings; running the lr sweep again`);
      }
    }
    if (lrs && !sweep) {
      const sweepConfig = { ...config, ...(sweepSteps ? { steps: sweepSteps, warmupSteps: Math.min(DEFAULT_DETECTION_CONFIG.warmupSteps, Math.floor(sweepSteps / 6)) } : {}) };
      let bar: ProgressReporter | undefined;
      sweep = sweepDetectionLr({
        makeBackbone: () => makeBackbone(true).model,
        categories: dataset.categories.map((c) => ({ id: c.id, name: c.name })),
        train,
        lrs,
        valFraction: sweepVal,
        config: sweepConfig,
        onRunStart: ({ index, lr }) => {
          bar?.finish();
          io.err(`[scrl] lr sweep ${index + 1}/${lrs.length}: lr ${lr}, ${sweepConfig.steps} steps`);
          bar = new ProgressReporter({ total: sweepConfig.steps!, stream: progressStream(io), every: Math.max(1, Math.round(sweepConfig.steps! / 5)) });
        },
        onStep: (info) => bar?.update(info.step, { loss: info.loss, imagesPerSecond: (1000 * info.step * (sweepConfig.batchSize ?? DEFAULT_DETECTION_CONFIG.batchSize)) / Math.max(1, info.elapsedMs) }),
      });
      bar?.finish();
      fs.mkdirSync(out, { recursive: true });
      fs.writeFileSync(sweepFile, `${JSON.stringify({ key: sweepKey, result: sweep }, null, 1)}\n`);
      config.lr = sweep.chosenLr;
      const line = `lr chosen by sweep: ${sweep.chosenLr} (validation AP ${sweep.runs.map((r) => `${r.lr}: ${pct(r.ap)}`).join(', ')}; ${sweep.sweepTrain} fit / ${sweep.sweepVal} choose images of the training split)`;
      io.err(`[scrl] ${line}`);
      notes.push(line);
    }
    if (config.freezeBackbone) notes.push('backbone frozen (--freeze-backbone): only the FPN and the head were trained');
    const { model, description } = makeBackbone(false);
    try {
      io.err(`[scrl] detection: ${train.length} train / ${val.length} val images from ${dir}, ${config.steps} steps, lr ${config.lr}${config.freezeBackbone ? ', backbone frozen' : ''}`);
      const result = await runDetection({
        io,
        backbone: model,
        dataset,
        train,
        val,
        config,
        out,
        title: `Detection fine-tuning: ${init}`,
        checkpoint: every > 0 ? { every, resume } : undefined,
        notes: [`backbone: ${description}`, `data: ${dir} (${train.length} train, ${val.length} val)`, `backend: ${backend}`, ...notes],
        sweep,
      });
      for (const line of detectionTable([{ init, stats: result.coco.named }])) io.out(line);
      if (sweep) io.out(`lr: ${sweep.chosenLr} (chosen by --lr-sweep on ${sweep.sweepVal} validation images of the training split)`);
      io.err(`[scrl] report: ${path.resolve(out, 'report.md')}`);
    } finally {
      model.dispose();
    }
  },
};

interface ProbeData {
  source: string;
  classes: string[];
  images: RgbImage[];
  labels: number[];
}

/** Labelled images: a class-per-folder tree, or object crops of a COCO folder (default the built-in scenes). */
async function probeData(values: CommandContext['values'], io: CommandIO, size: number, limit: number | undefined): Promise<ProbeData> {
  let dir = stringOption(values, 'data');
  if (!dir) dir = (await builtinScenes(values, io, EVAL_SCENES)).dir;
  const images: RgbImage[] = [];
  const labels: number[] = [];
  const max = limit ?? Infinity;
  if (fs.existsSync(path.join(dir, 'annotations.json'))) {
    const dataset = await loadScenes(dir, containmentFromFlags(values));
    for await (const crop of objectCrops(dataset, { size, warn: (m) => io.err(`[scrl] ${m}`) })) {
      if (images.length >= max) break;
      images.push(crop.image);
      labels.push(crop.label);
    }
    return { source: `object crops of ${dir}`, classes: dataset.categories.map((c) => c.name), images, labels };
  }
  const folder = await LabelledImageFolder.open(dir, { warn: (m) => io.err(`[scrl] ${m}`), ...containmentFromFlags(values) });
  for (let i = 0; i < folder.length && images.length < max; i++) {
    const s = await folder.load(i);
    if (!s) continue;
    images.push(s.image);
    labels.push(s.label);
  }
  return { source: `labelled folder ${dir}`, classes: [...folder.classes], images, labels };
}

function probeCommand(kind: 'linear' | 'knn'): Command {
  const name = `eval ${kind}`;
  return {
    name,
    summary: kind === 'linear' ? 'linear probe on frozen pooled features' : 'weighted kNN classification on frozen pooled features',
    description:
      '--data is a folder with one sub-folder of images per class, or a COCO folder whose object\n' +
      'crops are classified (default: the built-in scenes). Every 5th image is held out for testing.\n' +
      'Writes OUT/report.md, OUT/predictions.png and OUT/metrics.json.',
    options: [
      INIT_OPTION,
      { name: 'data', type: 'string', valueName: 'DIR', description: 'labelled folder or COCO folder', defaultText: 'built-in scenes' },
      ALLOW_OUTSIDE_ROOT_OPTION,
      { name: 'out', type: 'string', valueName: 'DIR', description: 'report folder', defaultText: `runs/eval-${kind}-<timestamp>` },
      { name: 'size', type: 'string', valueName: 'PX', description: 'images / crops are resized to PX x PX', defaultText: '32' },
      { name: 'limit', type: 'string', valueName: 'N', description: 'use at most N images', defaultText: 'all' },
      ...(kind === 'linear'
        ? [{ name: 'steps', type: 'string', valueName: 'N', description: 'optimisation steps', defaultText: '300' } as OptionSpec]
        : [{ name: 'k', type: 'string', valueName: 'K', description: 'neighbours that vote', defaultText: '20' } as OptionSpec]),
      ...CONFIG_OPTIONS,
      CACHE_OPTION,
    ],
    examples: [`scrl eval ${kind} --init runs/pretrain-2026-01-01T00-00-00`, `scrl eval ${kind} --init r18.safetensors --data data/classes`],
    async run({ values, io }) {
      const init = stringOption(values, 'init') ?? 'random';
      const fallback = configFromFlags(values);
      const size = intOption(values, 'size', 8) ?? 32;
      const limit = intOption(values, 'limit', 2);
      const steps = kind === 'linear' ? (intOption(values, 'steps', 1) ?? 300) : 0;
      const k = kind === 'knn' ? (intOption(values, 'k', 1) ?? 20) : 0;
      const out = stringOption(values, 'out') ?? timestampedDir(`eval-${kind}`);
      const backend = await setupBackend(values, io);
      const data = await probeData(values, io, size, limit);
      if (data.images.length < 5) throw new UsageError(`--data: found ${data.images.length} labelled images in ${data.source}; need at least 5`, name);
      const test = data.images.map((_, i) => i % 5 === 4);
      const pick = <T>(xs: T[], want: boolean) => xs.filter((_, i) => test[i] === want);
      const { model, description } = backboneFromInit(init, fallback, io);
      try {
        const trainF = extractFeatures(model, pick(data.images, false), { size });
        const testF = extractFeatures(model, pick(data.images, true), { size });
        const trainL = pick(data.labels, false);
        const testL = pick(data.labels, true);
        const numClasses = data.classes.length;
        const result =
          kind === 'linear'
            ? linearProbe(trainF, trainL, testF, testL, { steps, numClasses })
            : knnClassify(trainF, trainL, testF, testL, { k, numClasses });
        tf.dispose([trainF, testF]);
        const testImages = pick(data.images, true);
        fs.mkdirSync(out, { recursive: true });
        const shown = Math.min(16, testImages.length);
        const picture = await drawDetections(
          testImages.slice(0, shown).map((image, i) => ({
            image,
            boxes: [[0, 0, image.width - 1, image.height - 1]],
            labels: [result.predictions[i]],
            scores: [1],
          })),
          { classNames: data.classes, columns: 8 },
        );
        fs.writeFileSync(path.join(out, 'predictions.png'), picture);
        const stats: Record<string, number> = { top1: result.top1 };
        if ('trainTop1' in result) stats.trainTop1 = (result as { trainTop1: number }).trainTop1;
        writeJson(path.join(out, 'metrics.json'), { kind, init, stats, train: trainL.length, test: testL.length, size, steps, k });
        const table = [
          '| init | train | test | top-1 |',
          '|---|---:|---:|---:|',
          `| ${init} | ${trainL.length} | ${testL.length} | ${pct(result.top1)} |`,
        ];
        fs.writeFileSync(
          path.join(out, 'report.md'),
          [
            `# ${kind === 'linear' ? `Linear probe (${steps} steps)` : `kNN (k = ${k})`}: ${init}`,
            '',
            `- backbone: ${description}`,
            `- data: ${data.source}, ${size}x${size} px, classes ${data.classes.join(', ')}`,
            `- backend: ${backend}`,
            '',
            ...table,
            '',
            `Test images with the predicted class (first ${shown}):`,
            '',
            '![predictions](predictions.png)',
            '',
          ].join('\n'),
        );
        for (const line of table) io.out(line);
        io.err(`[scrl] report: ${path.resolve(out, 'report.md')}`);
      } finally {
        model.dispose();
      }
    },
  };
}

export const evalLinear = probeCommand('linear');
export const evalKnn = probeCommand('knn');
