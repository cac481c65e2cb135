/**
 * Crash-safe checkpoints: a safetensors file with every tensor, and a JSON sidecar that
 * describes it (step, sha256 and size of the tensor file, and any JSON state: config, RNG,
 * optimiser settings). Pure Node (no TF.js).
 *
 * Each file is written to a temporary name in the same directory, fsynced, then renamed, and
 * the sidecar goes last: a checkpoint exists once its sidecar does, and a sidecar always
 * points at a complete tensor file with a matching checksum.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { decodeSafetensors, encodeSafetensors } from '@scrl/models';
import type { TensorDict } from '@scrl/models';
import { ScrlError } from '@scrl/util';
import { fsyncDir, writeFileDurably } from './atomic-write';
import { crashPoint } from './crash-points';

export const CHECKPOINT_FORMAT = 'scrl-checkpoint';
export const CHECKPOINT_VERSION = 1;

const NAME = /^ckpt-(\d{8,})\.json$/;
const TMP = /^\.ckpt-.*\.tmp-\d+$/;

/** The sidecar's content. */
export interface CheckpointSidecar {
  format: typeof CHECKPOINT_FORMAT;
  version: number;
  step: number;
  /** The tensor file, relative to the sidecar, with its size and sha256 (hex). */
  tensors: { file: string; bytes: number; sha256: string };
  /** Caller's JSON state (config, RNG state, optimiser settings, ...). */
  state: Record<string, unknown>;
  createdAt: string;
}

export interface Checkpoint {
  step: number;
  tensors: TensorDict;
  state: Record<string, unknown>;
  /** Path of the sidecar this was read from. */
  path: string;
}

export interface WriteCheckpointOptions {
  /** Keep only the newest `keep` checkpoints in the directory (default 3; 0 keeps all). */
  keep?: number;
}

function stepName(step: number): string {
  return `ckpt-${String(step).padStart(8, '0')}`;
}

/** Sidecars in `dir` by step, newest first (names only; validity is not checked). */
export function listCheckpoints(dir: string): Array<{ step: number; path: string }> {
  if (!fs.existsSync(dir)) return [];
  return fs
    .readdirSync(dir)
    .map((f) => ({ f, m: NAME.exec(f) }))
    .filter((x): x is { f: string; m: RegExpExecArray } => x.m !== null)
    .map(({ f, m }) => ({ step: Number(m[1]), path: path.join(dir, f) }))
    .sort((a, b) => b.step - a.step);
}

/**
 * Writes checkpoint `step` into `dir` (created if needed) atomically, then deletes all but the
 * newest `keep`. One writer per directory: leftover temporary files of a killed writer are
 * removed first.
 *
 * @returns the sidecar path.
 */
export function writeCheckpoint(
  dir: string,
  checkpoint: { step: number; tensors: TensorDict; state?: Record<string, unknown> },
  options: WriteCheckpointOptions = {},
): string {
  const { step, tensors, state = {} } = checkpoint;
  if (!Number.isSafeInteger(step) || step < 0) {
    throw new ScrlError(`Error in writeCheckpoint: step must be an integer >= 0 but got ${step}.`);
  }
  const keep = options.keep ?? 3;
  if (!Number.isInteger(keep) || keep < 0) {
    throw new ScrlError(`Error in writeCheckpoint: keep must be an integer >= 0 but got ${keep}.`);
  }
  fs.mkdirSync(dir, { recursive: true });
  for (const f of fs.readdirSync(dir)) if (TMP.test(f)) fs.rmSync(path.join(dir, f), { force: true });

  const base = stepName(step);
  const bytes = encodeSafetensors(tensors, { format: CHECKPOINT_FORMAT, step: String(step) });
  const tensorFile = `${base}.safetensors`;
  writeFileDurably(path.join(dir, tensorFile), bytes, 'checkpoint-tensors');
  crashPoint('checkpoint-between');
  const sidecar: CheckpointSidecar = {
    format: CHECKPOINT_FORMAT,
    version: CHECKPOINT_VERSION,
    step,
    tensors: { file: tensorFile, bytes: bytes.length, sha256: createHash('sha256').update(bytes).digest('hex') },
    state,
    createdAt: new Date().toISOString(),
  };
  const sidecarPath = path.join(dir, `${base}.json`);
  writeFileDurably(sidecarPath, JSON.stringify(sidecar, null, 1) + '\n', 'checkpoint-sidecar');
  fsyncDir(dir);

  if (keep > 0) {
    for (const old of listCheckpoints(dir).slice(keep)) {
      // Sidecar first: a half-deleted checkpoint is then invisible rather than broken.
      fs.rmSync(old.path, { force: true });
      crashPoint('checkpoint-prune');
      fs.rmSync(old.path.replace(/\.json$/, '.safetensors'), { force: true });
    }
  }
  return sidecarPath;
}

/** Reads and verifies one checkpoint from its sidecar path; fails naming what is wrong. */
export function readCheckpoint(sidecarPath: string): Checkpoint {
  const fail = (what: string): never => {
    throw new ScrlError(`Error in readCheckpoint: ${sidecarPath}: ${what}.`);
  };
  let sidecar: CheckpointSidecar;
  try {
    sidecar = JSON.parse(fs.readFileSync(sidecarPath, 'utf8')) as CheckpointSidecar;
  } catch (err) {
    return fail(`sidecar unreadable (${(err as Error).message})`);
  }
  if (sidecar.format !== CHECKPOINT_FORMAT || sidecar.version !== CHECKPOINT_VERSION) {
    fail(`not a ${CHECKPOINT_FORMAT} v${CHECKPOINT_VERSION} sidecar (format ${sidecar.format}, version ${sidecar.version})`);
  }
  if (!sidecar.tensors || typeof sidecar.tensors.file !== 'string' || path.basename(sidecar.tensors.file) !== sidecar.tensors.file) {
    fail('sidecar has no valid tensors.file');
  }
  const tensorPath = path.join(path.dirname(sidecarPath), sidecar.tensors.file);
  let bytes: Buffer;
  try {
    bytes = fs.readFileSync(tensorPath);
  } catch (err) {
    return fail(`tensor file unreadable (${(err as Error).message})`);
  }
  if (bytes.length !== sidecar.tensors.bytes) {
    fail(`tensor file ${sidecar.tensors.file} has ${bytes.length} bytes, expected ${sidecar.tensors.bytes} (truncated?)`);
  }
  const sha = createHash('sha256').update(bytes).digest('hex');
  if (sha !== sidecar.tensors.sha256) fail(`tensor file ${sidecar.tensors.file} fails its sha256 check (corrupt)`);
  const { tensors } = decodeSafetensors(bytes, tensorPath);
  return { step: sidecar.step, tensors, state: sidecar.state ?? {}, path: sidecarPath };
}

/**
 * The newest checkpoint in `dir` that reads and verifies, or null if there is none. Corrupt,
 * truncated or half-written ones are skipped with a warning through `warn` (default
 * `console.warn`).
 */
export function findLatestCheckpoint(
  dir: string,
  options: { warn?: (message: string) => void } = {},
): Checkpoint | null {
  const warn = options.warn ?? ((m: string) => console.warn(m));
  for (const entry of listCheckpoints(dir)) {
    try {
      return readCheckpoint(entry.path);
    } catch (err) {
      warn(`[scrl] skipping checkpoint at step ${entry.step}: ${(err as Error).message}`);
    }
  }
  return null;
}
