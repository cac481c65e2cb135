/**
 * The model zoo: pretrained backbones kept as torchvision-named safetensors (what `scrl export`
 * writes), each beside a manifest that says what made it (method, seed, steps, the command, the
 * commit, the config) and the file's sha256. `scrl zoo list|add|build` and `scrl demo --from-zoo`
 * read and write it through these functions.
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ScrlError } from '@scrl/util';

export const ZOO_FORMAT = 'scrl-zoo-entry';
export const ZOO_VERSION = 1;
/** The zoo folder when `--zoo` is not given (relative to the working directory). */
export const DEFAULT_ZOO = 'zoo';

/** An invalid or damaged zoo entry (exit 2): the message names the file and the fix. */
export class ZooError extends ScrlError {}

export interface ZooArchitecture {
  depth: number;
  smallInput: boolean;
  baseWidth: number;
}

export interface ZooManifest {
  format: typeof ZOO_FORMAT;
  version: number;
  name: string;
  /** byol, scrl, supervised, ... */
  method: string;
  seed: number;
  /** Training steps behind the weights. */
  steps: number;
  /** Steps of the full schedule the run was started with (null when not known). */
  totalSteps: number | null;
  architecture: ZooArchitecture;
  /** The weights file, relative to the manifest's folder. */
  file: string;
  bytes: number;
  sha256: string;
  /** The exact command that trained the weights (resumable runs: the command that continues them). */
  command: string;
  /** The commit of this code the weights were made with, and where that was read from. */
  commit: { sha: string | null; source: string };
  /** The training config (pretraining: the effective TrainConfig; otherwise the script's settings). */
  config: unknown;
  /** Where the weights came from: the checkpoint or file they were exported from. */
  source: { kind: 'checkpoint' | 'safetensors'; path: string; sha256: string; createdAt: string | null; notes?: string[] };
  /** The `scrl zoo ...` command that wrote this entry, when, and at which commit. */
  added: { command: string; at: string; commit: string | null };
}

export interface ZooEntry {
  manifest: ZooManifest;
  manifestPath: string;
  weightsPath: string;
}

/** `file` relative to the working directory when it lies under it (manifests stay portable), else absolute. */
export function recordedPath(file: string): string {
  const rel = path.relative(process.cwd(), path.resolve(file));
  return rel && !rel.startsWith('..') && !path.isAbsolute(rel) ? rel.split(path.sep).join('/') : path.resolve(file);
}

export function sha256File(file: string): string {
  return createHash('sha256').update(fs.readFileSync(file)).digest('hex');
}

/** `git rev-parse HEAD` of the working directory, with `-dirty` when tracked files differ; null without git. */
export function gitCommit(cwd = process.cwd()): string | null {
  const head = spawnSync('git', ['rev-parse', 'HEAD'], { cwd, encoding: 'utf8' });
  if (head.status !== 0) return null;
  const dirty = spawnSync('git', ['status', '--porcelain', '--untracked-files=no'], { cwd, encoding: 'utf8' });
  return head.stdout.trim() + (dirty.status === 0 && dirty.stdout.trim() ? '-dirty' : '');
}

/**
 * The full sha of `rev` (a sha, short sha or ref) in the git repository at `cwd`. Throws a
 * ZooError when the repository does not know it (a mistyped sha would otherwise be recorded as
 * the entry's provenance). Outside a git repository, `rev` as given.
 */
export function resolveCommit(rev: string, cwd = process.cwd()): string {
  if (spawnSync('git', ['rev-parse', '--git-dir'], { cwd, encoding: 'utf8' }).status !== 0) return rev;
  const r = spawnSync('git', ['rev-parse', '--verify', '--quiet', `${rev}^{commit}`], { cwd, encoding: 'utf8' });
  if (r.status !== 0) {
    throw new ZooError(`--commit ${rev}: the git repository at ${cwd} has no such commit. Give the commit the weights were made at (git log --oneline lists them).`);
  }
  return r.stdout.trim();
}

/** Entry names: letters, digits, `.`, `_`, `-` (they become file names). */
export function checkEntryName(name: string): void {
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(name)) {
    throw new ZooError(`zoo entry name '${name}' is not allowed: use letters, digits, '.', '_' and '-' (e.g. byol-r18w16-s0).`);
  }
}

/** The default entry name: `<method>-r<depth>w<width>-s<seed>`, e.g. `byol-r18w16-s0`. */
export function defaultEntryName(method: string, arch: ZooArchitecture, seed: number): string {
  return `${method}-r${arch.depth}w${arch.baseWidth}-s${seed}`;
}

function readManifest(file: string): ZooManifest {
  let m: ZooManifest;
  try {
    m = JSON.parse(fs.readFileSync(file, 'utf8')) as ZooManifest;
  } catch (err) {
    throw new ZooError(`zoo manifest ${file} is not valid JSON (${(err as Error).message}); restore it from git or re-add the entry with 'scrl zoo add'.`);
  }
  if (m.format !== ZOO_FORMAT || typeof m.file !== 'string' || typeof m.sha256 !== 'string') {
    throw new ZooError(`zoo manifest ${file} is not a zoo entry (format '${String(m.format)}', expected '${ZOO_FORMAT}' with file and sha256).`);
  }
  if (m.version !== ZOO_VERSION) {
    throw new ZooError(`zoo manifest ${file} has version ${String(m.version)}; this scrl reads version ${ZOO_VERSION}.`);
  }
  return m;
}

/** Every entry of the zoo folder (manifests `*.json`), sorted by name; an absent folder is an error. */
export function readZoo(dir: string): ZooEntry[] {
  if (!fs.existsSync(dir) || !fs.statSync(dir).isDirectory()) {
    throw new ZooError(`zoo folder '${dir}' does not exist; pass --zoo DIR, or fill it with 'scrl zoo add --from CKPT.json' or 'scrl zoo build'.`);
  }
  return fs
    .readdirSync(dir)
    .filter((f) => f.endsWith('.json') && !f.startsWith('.') && f !== 'figures.json')
    .sort()
    .map((f) => {
      const manifestPath = path.join(dir, f);
      const manifest = readManifest(manifestPath);
      return { manifest, manifestPath, weightsPath: path.join(dir, manifest.file) };
    });
}

/** Why an entry's weights cannot be trusted ('missing', 'sha256 mismatch ...'), or null when they match the manifest. */
export function verifyEntry(entry: ZooEntry): string | null {
  if (!fs.existsSync(entry.weightsPath)) return `missing: ${entry.weightsPath} does not exist`;
  const actual = sha256File(entry.weightsPath);
  if (actual !== entry.manifest.sha256) {
    return `sha256 mismatch: ${entry.weightsPath} has ${actual}, the manifest ${entry.manifestPath} records ${entry.manifest.sha256}`;
  }
  return null;
}

/** The fix for a damaged entry, in words. */
export function entryFix(m: ZooManifest): string {
  return m.source.kind === 'checkpoint' && /experiments\/regime\/run\.sh/.test(m.command)
    ? `rebuild it with 'scrl zoo build --method ${m.method} --seeds ${m.seed}' or re-add it with 'scrl zoo add --from <checkpoint> --replace'`
    : `restore it with 'git checkout -- ${m.file}' or re-add it with 'scrl zoo add --from ${m.source.path} --replace'`;
}

/** Reads the zoo and throws a ZooError naming every entry whose weights are missing or altered. */
export function readVerifiedZoo(dir: string): ZooEntry[] {
  const entries = readZoo(dir);
  const bad = entries.map((e) => ({ e, why: verifyEntry(e) })).filter((x) => x.why !== null);
  if (bad.length) {
    throw new ZooError(bad.map(({ e, why }) => `zoo entry '${e.manifest.name}': ${why}; ${entryFix(e.manifest)}.`).join('\n'));
  }
  return entries;
}

/**
 * Writes `bytes` as `<dir>/<name>.safetensors` and its manifest (both through a temporary file
 * and a rename, weights first), replacing an entry of that name only when `replace` is set.
 * Returns the manifest written and the one it replaced.
 */
export function writeEntry(
  dir: string,
  bytes: Uint8Array,
  fields: Omit<ZooManifest, 'format' | 'version' | 'file' | 'bytes' | 'sha256'>,
  options: { replace?: boolean } = {},
): { manifest: ZooManifest; replaced: ZooManifest | null; manifestPath: string; weightsPath: string } {
  checkEntryName(fields.name);
  fs.mkdirSync(dir, { recursive: true });
  const manifestPath = path.join(dir, `${fields.name}.json`);
  const weightsPath = path.join(dir, `${fields.name}.safetensors`);
  let replaced: ZooManifest | null = null;
  if (fs.existsSync(manifestPath)) {
    try {
      replaced = readManifest(manifestPath);
    } catch {
      replaced = null;
    }
    if (!options.replace) {
      throw new ZooError(
        `zoo entry '${fields.name}' exists (${manifestPath}${replaced ? `, ${replaced.method} step ${replaced.steps}` : ''}); ` +
          'pass --replace to overwrite it, or --name NAME for a new entry.',
      );
    }
  }
  const manifest: ZooManifest = {
    format: ZOO_FORMAT,
    version: ZOO_VERSION,
    ...fields,
    file: path.basename(weightsPath),
    bytes: bytes.byteLength,
    sha256: createHash('sha256').update(bytes).digest('hex'),
  };
  // Key order of the file: identity first, then provenance.
  const ordered = {
    format: manifest.format,
    version: manifest.version,
    name: manifest.name,
    method: manifest.method,
    seed: manifest.seed,
    steps: manifest.steps,
    totalSteps: manifest.totalSteps,
    architecture: manifest.architecture,
    file: manifest.file,
    bytes: manifest.bytes,
    sha256: manifest.sha256,
    command: manifest.command,
    commit: manifest.commit,
    source: manifest.source,
    added: manifest.added,
    config: manifest.config,
  };
  const tmpWeights = `${weightsPath}.tmp-${process.pid}`;
  const tmpManifest = `${manifestPath}.tmp-${process.pid}`;
  fs.writeFileSync(tmpWeights, bytes);
  fs.renameSync(tmpWeights, weightsPath);
  fs.writeFileSync(tmpManifest, JSON.stringify(ordered, null, 1) + '\n');
  fs.renameSync(tmpManifest, manifestPath);
  return { manifest, replaced, manifestPath, weightsPath };
}

/** Figures measured on the zoo by `scrl demo --from-zoo --record` (`<zoo>/figures.json`). */
export interface ZooFigures {
  command: string;
  commit: string | null;
  measuredAt: string;
  backend: string;
  data: string;
  rows: Array<{
    name: string;
    method: string;
    steps: number;
    seed: number;
    sha256: string | null;
    boxProbeTop1: number;
    boxProbeKnnTop1: number;
    denseProbeMiou: number;
    detectionAp: number | null;
  }>;
  detection: { steps: number; note: string } | null;
}

export const FIGURES_FILE = 'figures.json';

/** `<zoo>/figures.json`, or null when absent. */
export function readZooFigures(dir: string): ZooFigures | null {
  const file = path.join(dir, FIGURES_FILE);
  if (!fs.existsSync(file)) return null;
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8')) as ZooFigures;
  } catch (err) {
    throw new ZooError(`${file} is not valid JSON (${(err as Error).message}); regenerate it with 'scrl demo --from-zoo --record'.`);
  }
}
