/**
 * The config-file half of the config (Node only: it reads files): `loadConfigFile` and
 * `resolveConfig`. The presets, schema and overrides (config.ts) are browser-safe.
 */
import * as fs from 'node:fs';
import YAML from 'yaml';
import { ScrlError } from '@scrl/util';
import { applyOverrides, deepMerge, isPlainObject, PRESET_NAMES, presetConfig, validateConfig } from './config';
import type { PresetName, TrainConfig } from './config';

/**
 * Reads a YAML or JSON config file: an optional `preset` name plus any keys to change, merged
 * over the preset (default `cpu`).
 */
export function loadConfigFile(file: string): TrainConfig {
  let parsed: unknown;
  try {
    parsed = YAML.parse(fs.readFileSync(file, 'utf8'));
  } catch (err) {
    throw new ScrlError(`Error in loadConfigFile: cannot read ${file}: ${(err as Error).message}`);
  }
  if (parsed === null || parsed === undefined) parsed = {};
  if (!isPlainObject(parsed)) {
    throw new ScrlError(`Error in loadConfigFile: ${file} must hold a mapping of config keys, got ${Array.isArray(parsed) ? 'a list' : typeof parsed}.`);
  }
  const { preset = 'cpu', ...rest } = parsed;
  if (typeof preset !== 'string' || !(PRESET_NAMES as readonly string[]).includes(preset)) {
    throw new ScrlError(`Error in loadConfigFile: ${file}: preset must be one of ${PRESET_NAMES.join(', ')} but got ${JSON.stringify(preset)}.`);
  }
  const merged = deepMerge(presetConfig(preset as PresetName) as unknown as Record<string, unknown>, rest);
  return validateConfig(merged, `config file ${file}`);
}

export interface ResolveConfigOptions {
  /** Preset to start from (default `cpu`); ignored when `file` is given (the file names its own). */
  preset?: PresetName;
  /** YAML/JSON config file (see {@link loadConfigFile}). */
  file?: string;
  /** `key=value` overrides applied last. */
  overrides?: readonly string[];
}

/** preset or file, then overrides: what `scrl pretrain --config FILE --set k=v` resolves to. */
export function resolveConfig(options: ResolveConfigOptions = {}): TrainConfig {
  const base = options.file ? loadConfigFile(options.file) : presetConfig(options.preset ?? 'cpu');
  return applyOverrides(base, options.overrides ?? []);
}
