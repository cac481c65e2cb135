/**
 * Pieces several commands share: the backend flag, config resolution (preset, file, --set) with
 * errors mapped to ConfigError, the built-in scenes cache, and building a backbone from an
 * `--init` (random, a pretrain run's checkpoint, or torchvision safetensors).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '@scrl/roi-align';
import { ensureScenes } from '@scrl/data';
import type { ScenesInfo } from '@scrl/data';
import { createResNet, loadTorchvisionWeights, readSafetensors, setNamedTensors } from '@scrl/models';
import type { ResNet } from '@scrl/models';
import { findLatestCheckpoint, readCheckpoint, resolveConfig, PRESET_NAMES } from '@scrl/trainer';
import type { Checkpoint, PresetName, TrainConfig } from '@scrl/trainer';
import { listOption, stringOption, type CommandContext, type CommandIO, type OptionSpec } from './command';
import { ConfigError, UsageError } from './errors';

/** Options of every command that builds a training config. */
export const CONFIG_OPTIONS: OptionSpec[] = [
  { name: 'config', type: 'string', valueName: 'FILE', description: 'YAML or JSON config (data only; may name a preset)' },
  { name: 'preset', type: 'string', valueName: 'NAME', description: `config preset: ${PRESET_NAMES.join(', ')}`, defaultText: 'cpu' },
  {
    name: 'set',
    type: 'string',
    multiple: true,
    valueName: 'KEY=VALUE',
    description: 'override one config key, e.g. optimizer.baseLr=0.2',
  },
];

export const CACHE_OPTION: OptionSpec = {
  name: 'cache',
  type: 'string',
  valueName: 'DIR',
  description: 'folder for the built-in scenes (or set SCRL_CACHE_DIR)',
  defaultText: '.scrl-cache',
};

/** Picks the TF.js backend from `--backend` (or SCRL_BACKEND); an unknown name is a usage error. */
export async function setupBackend(values: CommandContext['values'], io: CommandIO): Promise<string> {
  const backend = stringOption(values, 'backend');
  try {
    const info = await initBackend({ backend, log: (line) => io.err(line) });
    return info.name;
  } catch (err) {
    const msg = (err as Error).message;
    if (/^Unknown backend/.test(msg)) throw new UsageError(msg);
    throw err;
  }
}

/** Runs a config function, turning its plain errors into ConfigError (exit 2, no stack trace). */
function asConfigError<T>(fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    if (err instanceof Error && err.name === 'Error') throw new ConfigError(err.message);
    throw err;
  }
}

/** The effective training config from `--preset`, `--config FILE`, `--set k=v` and extra overrides. */
export function configFromFlags(values: CommandContext['values'], extra: string[] = []): TrainConfig {
  const preset = stringOption(values, 'preset');
  const file = stringOption(values, 'config');
  if (preset !== undefined && !(PRESET_NAMES as readonly string[]).includes(preset)) {
    throw new ConfigError(`--preset: unknown preset '${preset}'. Allowed: ${PRESET_NAMES.join(', ')}.`);
  }
  if (preset !== undefined && file !== undefined) {
    throw new UsageError('--preset and --config cannot be combined: put `preset: <name>` in the config file instead.');
  }
  if (file !== undefined && !fs.existsSync(file)) {
    throw new ConfigError(`--config: file '${file}' does not exist.`);
  }
  return asConfigError(() =>
    resolveConfig({ preset: preset as PresetName | undefined, file, overrides: [...extra, ...listOption(values, 'set')] }),
  );
}

/** `runs/<kind>-<UTC timestamp>`. */
export function timestampedDir(kind: string): string {
  const t = new Date().toISOString().replace(/\.\d+Z$/, '').replace(/:/g, '-');
  return path.join('runs', `${kind}-${t}`);
}

export function cacheDir(values: CommandContext['values']): string {
  return stringOption(values, 'cache') ?? process.env.SCRL_CACHE_DIR ?? '.scrl-cache';
}

/** The built-in scenes: generated once into the cache and reused while their options match. */
export async function builtinScenes(
  values: CommandContext['values'],
  io: CommandIO,
  options: { images: number; size: number; seed?: number },
): Promise<ScenesInfo> {
  const dir = path.join(cacheDir(values), `scenes-${options.images}x${options.size}-seed${options.seed ?? 0}`);
  const started = Date.now();
  const info = await ensureScenes(dir, { images: options.images, size: options.size, seed: options.seed ?? 0 }, (l) => io.err(l));
  io.err(
    `[scrl] scenes: ${info.images} images, ${info.annotations} boxes in ${info.dir} ` +
      `(${info.generated ? `generated in ${((Date.now() - started) / 1000).toFixed(1)} s` : 'reused'})`,
  );
  return info;
}

/** The checkpoint a `--checkpoint`/`--init` path names: a sidecar file, a checkpoints folder or a run folder. */
export function checkpointAt(target: string, flag: string): Checkpoint {
  if (!fs.existsSync(target)) throw new UsageError(`${flag}: '${target}' does not exist.`);
  if (fs.statSync(target).isFile()) {
    if (!target.endsWith('.json')) {
      throw new UsageError(`${flag}: '${target}' is a file but not a checkpoint sidecar (ckpt-*.json).`);
    }
    return readCheckpoint(target);
  }
  const dir = fs.existsSync(path.join(target, 'checkpoints')) ? path.join(target, 'checkpoints') : target;
  const ckpt = findLatestCheckpoint(dir, { warn: (m) => process.stderr.write(m + '\n') });
  if (!ckpt) {
    throw new UsageError(`${flag}: no valid checkpoint in '${dir}'. Pass a pretrain run folder (with checkpoints/) or a ckpt-*.json.`);
  }
  return ckpt;
}

/** The online backbone of a pretraining checkpoint, as a ResNet. */
export function backboneFromCheckpoint(ckpt: Checkpoint): { model: ResNet; config: TrainConfig } {
  const config = ckpt.state.config as TrainConfig | undefined;
  if (!config || !config.model) {
    throw new UsageError(`${ckpt.path}: the checkpoint has no config.model; it was not written by scrl pretrain.`);
  }
  const m = config.model;
  const model = createResNet({ depth: m.depth, smallInput: m.smallInput, baseWidth: m.baseWidth, seed: config.seed });
  const prefix = 'online.backbone.';
  const tensors = new Map<string, tf.Tensor>();
  for (const [key, t] of Object.entries(ckpt.tensors)) {
    if (key.startsWith(prefix)) tensors.set(key.slice(prefix.length), tf.tensor(t.data, t.shape, 'float32'));
  }
  try {
    setNamedTensors(model, tensors, { strict: true });
  } finally {
    tf.dispose([...tensors.values()]);
  }
  return { model, config };
}

/** Architecture of a torchvision ResNet state_dict: depth, stem kind and width. */
export function architectureOf(names: string[], conv1Shape: number[]): { depth: 18 | 34 | 50 | 101; smallInput: boolean; baseWidth: number } {
  const blocks = [1, 2, 3, 4].map((l) => {
    const ids = new Set(names.filter((n) => n.startsWith(`layer${l}.`)).map((n) => n.split('.')[1]));
    return ids.size;
  });
  const bottleneck = names.some((n) => /^layer1\.0\.conv3\./.test(n));
  const key = blocks.join(',');
  const depth = bottleneck
    ? key === '3,4,6,3' ? 50 : key === '3,4,23,3' ? 101 : null
    : key === '2,2,2,2' ? 18 : key === '3,4,6,3' ? 34 : null;
  if (depth === null) throw new UsageError(`the weights have ${key} blocks per stage (${bottleneck ? 'bottleneck' : 'basic'}), not a ResNet-18/34/50/101.`);
  return { depth, smallInput: conv1Shape[2] === 3, baseWidth: conv1Shape[0] };
}

/**
 * A backbone from `--init`: `random` (from the config's model), a pretrain run folder or
 * checkpoint sidecar (its online backbone), or torchvision-named safetensors.
 */
export function backboneFromInit(
  init: string,
  fallback: TrainConfig,
  io: CommandIO,
): { model: ResNet; description: string; /** Seed of the random init the weights were built on. */ seed: number } {
  if (init === 'random') {
    const m = fallback.model;
    const model = createResNet({ depth: m.depth, smallInput: m.smallInput, baseWidth: m.baseWidth, seed: fallback.seed });
    return { model, description: `random init (ResNet-${m.depth}, width ${m.baseWidth}, seed ${fallback.seed})`, seed: fallback.seed };
  }
  if (!fs.existsSync(init)) {
    throw new UsageError(`--init: '${init}' does not exist. Pass random, a pretrain run folder, a ckpt-*.json or a .safetensors file.`);
  }
  if (fs.statSync(init).isFile() && init.endsWith('.safetensors')) {
    const file = readSafetensors(fs.readFileSync(init));
    const conv1 = file.tensors.get('conv1.weight');
    if (!conv1) {
      throw new UsageError(`--init: ${init} has no 'conv1.weight'; pass torchvision-named weights (scrl export --format torchvision).`);
    }
    const arch = architectureOf([...file.tensors.keys()], conv1.shape);
    const model = createResNet({ ...arch, seed: 0 });
    loadTorchvisionWeights(model, file.tensors, { classifier: false });
    io.err(`[scrl] init: ${init} (ResNet-${arch.depth}, width ${arch.baseWidth}${arch.smallInput ? ', small-input stem' : ''})`);
    return { model, description: `torchvision weights ${init}`, seed: 0 };
  }
  const ckpt = checkpointAt(init, '--init');
  const { model, config } = backboneFromCheckpoint(ckpt);
  io.err(`[scrl] init: ${ckpt.path} (${config.method}, step ${ckpt.step})`);
  return { model, description: `${config.method} checkpoint ${ckpt.path} (step ${ckpt.step})`, seed: config.seed };
}

/** Writes JSON with a trailing newline, creating the folder. */
export function writeJson(file: string, value: unknown): void {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, JSON.stringify(value, null, 2) + '\n');
}
