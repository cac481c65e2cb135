/**
 * The training configuration: a zod schema, the `paper` and `cpu` presets, config files and
 * `key=value` overrides.
 */
import YAML from 'yaml';
import { z } from 'zod';
import { ScrlError } from '@scrl/util';

const int = (min: number) => z.number().int().min(min);
const unit = z.number().min(0).max(1);

export const trainConfigSchema = z
  .object({
    /** `scrl`: loss over matched box pairs (RoIAlign on C5); `byol`: loss over pooled images. */
    method: z.enum(['scrl', 'byol']),
    /** Seeds the model initialisers, views, box sampling and shuffling. */
    seed: int(0),
    model: z
      .object({
        depth: z.union([z.literal(18), z.literal(34), z.literal(50), z.literal(101)]),
        smallInput: z.boolean(),
        baseWidth: int(1),
        projector: z.object({ hiddenDim: int(1), outDim: int(1) }).strict(),
        predictor: z.object({ hiddenDim: int(1) }).strict(),
      })
      .strict(),
    views: z
      .object({
        size: int(8),
        scale: z.tuple([z.number().gt(0).max(1), z.number().gt(0).max(1)]),
        blur: z.enum(['resize', 'gaussian']),
      })
      .strict(),
    boxes: z
      .object({
        perImage: int(1),
        /** Smallest box side; null = one cell of the C5 map (its stride). */
        minSize: int(1).nullable(),
        iouThreshold: z.number().gt(0).max(1),
        maxTries: int(1),
        jitter: z.number().min(0).lt(1),
      })
      .strict(),
    batch: z
      .object({
        /** Images per micro-batch (each gives two views); BatchNorm needs >= 2. */
        size: int(2),
        /** Micro-batches per optimiser step; the effective batch is size x accumulate. */
        accumulate: int(1),
      })
      .strict(),
    optimizer: z
      .object({
        /** Scaled by effective batch / 256. */
        baseLr: z.number().min(0),
        weightDecay: z.number().min(0),
        momentum: unit,
        eta: z.number().min(0),
      })
      .strict(),
    schedule: z
      .object({
        epochs: int(1),
        warmupEpochs: z.number().min(0),
        /** Total optimiser steps; null = epochs x steps per epoch of the dataset. */
        steps: int(1).nullable(),
        /** Warmup steps; null = warmupEpochs x steps per epoch (or the same fraction of `steps`). */
        warmupSteps: int(0).nullable(),
      })
      .strict(),
    ema: z
      .object({
        baseMomentum: unit,
        /** `independent`: the target has its own random init (reference); `copy`: starts as the online net. */
        targetInit: z.enum(['independent', 'copy']),
      })
      .strict(),
    checkpoint: z
      .object({
        /** Optimiser steps between checkpoints. */
        every: int(1),
        /** Checkpoints kept (0 = all). */
        keep: int(0),
      })
      .strict(),
  })
  .strict();

export type TrainConfig = z.infer<typeof trainConfigSchema>;
export type PresetName = 'paper' | 'cpu';
export const PRESET_NAMES: readonly PresetName[] = ['paper', 'cpu'];

const PAPER: TrainConfig = {
  method: 'scrl',
  seed: 0,
  model: { depth: 50, smallInput: false, baseWidth: 64, projector: { hiddenDim: 4096, outDim: 256 }, predictor: { hiddenDim: 4096 } },
  views: { size: 224, scale: [0.2, 1], blur: 'resize' },
  boxes: { perImage: 10, minSize: null, iouThreshold: 0.5, maxTries: 50, jitter: 0 },
  batch: { size: 8192, accumulate: 1 },
  optimizer: { baseLr: 0.45, weightDecay: 1e-6, momentum: 0.9, eta: 1e-3 },
  schedule: { epochs: 200, warmupEpochs: 10, steps: null, warmupSteps: null },
  ema: { baseMomentum: 0.97, targetInit: 'independent' },
  checkpoint: { every: 1000, keep: 3 },
};

/**
 * Small enough for two CPU cores: ResNet-18 with the CIFAR-style stem (C5 at stride 8, so a
 * 32 px view keeps a 4x4 C5 map and boxes of one 8 px cell still cover distinct regions), an
 * eighth of the width (baseWidth 8: C5 has 64 channels), 32 px views, heads 512/128, 32 images
 * per step, and a fixed 300-step schedule with 30 warmup steps. Measured on the wasm backend
 * of a shared 2-core machine: about 5 s per step (6 images/s), so 300 steps take about 25
 * minutes there; 64 px views with baseWidth 16 cost about 80 s per step on the same machine.
 */
const CPU: TrainConfig = {
  ...PAPER,
  model: { depth: 18, smallInput: true, baseWidth: 8, projector: { hiddenDim: 512, outDim: 128 }, predictor: { hiddenDim: 512 } },
  views: { size: 32, scale: [0.2, 1], blur: 'resize' },
  batch: { size: 32, accumulate: 1 },
  schedule: { epochs: 200, warmupEpochs: 10, steps: 300, warmupSteps: 30 },
  checkpoint: { every: 50, keep: 3 },
};

const PRESETS: Record<PresetName, TrainConfig> = { paper: PAPER, cpu: CPU };

/** A deep copy of a preset. */
export function presetConfig(name: PresetName): TrainConfig {
  const preset = PRESETS[name as PresetName];
  if (!preset) {
    throw new ScrlError(`Error in presetConfig: unknown preset '${name}'. Allowed: ${PRESET_NAMES.join(', ')}.`);
  }
  return structuredClone(preset);
}

function describeIssue(issue: z.core.$ZodIssue): string {
  const where = issue.path.length ? issue.path.join('.') : '(root)';
  if (issue.code === 'unrecognized_keys') {
    // The keys allowed there, from the schema, so the message says what to write instead.
    let shape: unknown = trainConfigSchema;
    for (const p of issue.path) shape = (shape as { shape?: Record<string, unknown> })?.shape?.[String(p)];
    const allowed = Object.keys((shape as { shape?: Record<string, unknown> })?.shape ?? {});
    return (
      `unknown key${issue.keys.length > 1 ? 's' : ''} ${issue.keys.map((k) => `'${[...issue.path, k].join('.')}'`).join(', ')}` +
      (allowed.length ? ` (keys ${issue.path.length ? `under '${issue.path.join('.')}'` : 'at the top level'}: ${allowed.join(', ')})` : '')
    );
  }
  return `${where}: ${issue.message}`;
}

/** Validates a whole config, failing with every problem named by its key path. */
export function validateConfig(config: unknown, source = 'config'): TrainConfig {
  const r = trainConfigSchema.safeParse(config);
  if (!r.success) {
    throw new ScrlError(`Error in validateConfig: invalid ${source}: ${r.error.issues.map(describeIssue).join('; ')}.`);
  }
  const c = r.data;
  if (c.views.scale[0] > c.views.scale[1]) {
    throw new ScrlError(`Error in validateConfig: invalid ${source}: views.scale must be [lo, hi] with lo <= hi but got [${c.views.scale}].`);
  }
  if (c.schedule.warmupEpochs > c.schedule.epochs) {
    throw new ScrlError(`Error in validateConfig: invalid ${source}: schedule.warmupEpochs (${c.schedule.warmupEpochs}) exceeds schedule.epochs (${c.schedule.epochs}).`);
  }
  if (c.schedule.steps !== null && c.schedule.warmupSteps !== null && c.schedule.warmupSteps > c.schedule.steps) {
    throw new ScrlError(`Error in validateConfig: invalid ${source}: schedule.warmupSteps (${c.schedule.warmupSteps}) exceeds schedule.steps (${c.schedule.steps}).`);
  }
  return c;
}

export function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export function deepMerge(base: Record<string, unknown>, over: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...base };
  for (const [k, v] of Object.entries(over)) {
    out[k] = isPlainObject(v) && isPlainObject(base[k]) ? deepMerge(base[k] as Record<string, unknown>, v) : v;
  }
  return out;
}

/**
 * Applies `key=value` overrides (dotted keys, values parsed as YAML scalars or flow lists:
 * `optimizer.baseLr=0.2`, `method=byol`, `views.scale=[0.3,1]`, `boxes.minSize=null`) and
 * validates the result. Fails naming the override, the key, the value and what is allowed.
 */
export function applyOverrides(config: TrainConfig, overrides: readonly string[]): TrainConfig {
  let out: Record<string, unknown> = structuredClone(config) as unknown as Record<string, unknown>;
  for (const item of overrides) {
    const eq = item.indexOf('=');
    if (eq <= 0) {
      throw new ScrlError(`Error in applyOverrides: '${item}' is not of the form key=value (e.g. optimizer.baseLr=0.2).`);
    }
    const key = item.slice(0, eq).trim();
    const raw = item.slice(eq + 1).trim();
    const parts = key.split('.');
    let node: unknown = out;
    for (let i = 0; i < parts.length; i++) {
      if (!isPlainObject(node) || !(parts[i] in node)) {
        const parent = parts.slice(0, i).join('.');
        const keys = isPlainObject(node) ? Object.keys(node).join(', ') : '(none: not an object)';
        throw new ScrlError(
          `Error in applyOverrides: unknown key '${key}' in '${item}'. Keys ${parent ? `under '${parent}'` : 'at the top level'}: ${keys}.`,
        );
      }
      if (i < parts.length - 1) node = node[parts[i]];
    }
    let value: unknown;
    try {
      value = YAML.parse(raw);
    } catch {
      value = raw;
    }
    if (isPlainObject((node as Record<string, unknown>)[parts[parts.length - 1]])) {
      throw new ScrlError(`Error in applyOverrides: '${key}' is a group, not a value; set one of its keys (e.g. ${key}.<name>=...).`);
    }
    const patch: Record<string, unknown> = {};
    let cursor = patch;
    parts.forEach((p, i) => {
      if (i === parts.length - 1) cursor[p] = value;
      else cursor = (cursor[p] = {}) as Record<string, unknown>;
    });
    const next = deepMerge(out, patch);
    const r = trainConfigSchema.safeParse(next);
    if (!r.success) {
      const issue = r.error.issues.find((i) => i.path.join('.') === key) ?? r.error.issues[0];
      throw new ScrlError(
        `Error in applyOverrides: cannot set '${key}' to ${JSON.stringify(raw)} (from '${item}'): ${describeIssue(issue)}.`,
      );
    }
    out = next;
  }
  return validateConfig(out, `config after overrides ${JSON.stringify(overrides)}`);
}
