/**
 * Pieces several commands share: the backend flag, config resolution (preset, file, --set) with
 * errors mapped to ConfigError, the built-in scenes cache, and the flag-level wrappers of
 * @scrl/trainer's backbone loading (`--init`, `--checkpoint`).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { initBackend } from '@scrl/roi-align';
import { ensureScenes } from '@scrl/data';
import type { ScenesInfo } from '@scrl/data';
import type { ResNet } from '@scrl/models';
import {
  backboneFromCheckpoint as trainerBackboneFromCheckpoint,
  backboneFromInit as trainerBackboneFromInit,
  resolveCheckpoint,
  resolveConfig,
  PRESET_NAMES,
} from '@scrl/trainer';
import type { Checkpoint, PresetName, TrainConfig } from '@scrl/trainer';
import { listOption, stringOption, type CommandContext, type CommandIO, type OptionSpec } from './command';
import { ScrlError } from '@scrl/util';
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

/** `--allow-outside-root`: dataset entries and symlinks may lead out of the `--data` folder. */
export const ALLOW_OUTSIDE_ROOT_OPTION: OptionSpec = {
  name: 'allow-outside-root',
  type: 'boolean',
  description: 'accept dataset entries / symlinks that lead out of --data (trusted data only, e.g. git-annex or DVC links)',
};

/** The data readers' containment option from `--allow-outside-root`. */
export function containmentFromFlags(values: CommandContext['values']): { allowOutsideRoot: boolean } {
  return { allowOutsideRoot: values['allow-outside-root'] === true };
}

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
    if (/^Error in parseBackendChoice: unknown backend/.test(msg)) throw new UsageError(msg);
    throw err;
  }
}

/** Runs a config function, turning its errors (invalid values) into ConfigError (exit 2, no stack trace). */
function asConfigError<T>(fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    const plain = err instanceof Error && (err.constructor === Error || err.constructor === ScrlError);
    if (plain) throw new ConfigError((err as Error).message);
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

/** Runs `fn`, turning a library's input error (a plain ScrlError) into a usage error about `flag` (exit 2). */
function asUsageError<T>(flag: string, fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    if (err instanceof Error && err.constructor === ScrlError) throw new UsageError(`${flag}: ${(err as Error).message}`);
    throw err;
  }
}

/** The checkpoint a `--checkpoint`/`--init` path names (trainer's `resolveCheckpoint`). */
export function checkpointAt(target: string, flag: string): Checkpoint {
  return asUsageError(flag, () => resolveCheckpoint(target));
}

/** The online backbone of a pretraining checkpoint (trainer's `backboneFromCheckpoint`). */
export function backboneFromCheckpoint(ckpt: Checkpoint): { model: ResNet; config: TrainConfig } {
  return asUsageError('--checkpoint', () => trainerBackboneFromCheckpoint(ckpt));
}

/** A backbone from `--init` (trainer's `backboneFromInit`), logging what was loaded to stderr. */
export function backboneFromInit(init: string, fallback: TrainConfig, io: CommandIO): { model: ResNet; description: string; seed: number } {
  return asUsageError('--init', () => trainerBackboneFromInit(init, fallback, { log: (line) => io.err(line) }));
}

/** Writes JSON with a trailing newline, creating the folder. */
export function writeJson(file: string, value: unknown): void {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, JSON.stringify(value, null, 2) + '\n');
}
