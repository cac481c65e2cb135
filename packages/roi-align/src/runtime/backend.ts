/**
 * The one place that decides which TF.js backend runs our tensors.
 *
 * Order of preference for `auto`: `@tensorflow/tfjs-node-gpu`, `@tensorflow/tfjs-node` (both
 * optional peers: their install step downloads libtensorflow, so they are often absent), then
 * `wasm` (`@tensorflow/tfjs-backend-wasm`, SIMD, binaries read from node_modules, never the
 * network), then `cpu`. A caller's explicit choice wins over the `SCRL_BACKEND` environment
 * variable, which wins over `auto`.
 */
import * as tf from '@tensorflow/tfjs-core';
import * as path from 'node:path';
import './tfjs-runtime';

export const BACKEND_ENV_VAR = 'SCRL_BACKEND';

/** What a user may ask for. `node-gpu` and `node` are the native TensorFlow backends. */
export const BACKEND_CHOICES = ['auto', 'node-gpu', 'node', 'wasm', 'cpu'] as const;
export type BackendChoice = (typeof BACKEND_CHOICES)[number];

export interface BackendInfo {
  /** The choice that was resolved (never `auto`). */
  choice: Exclude<BackendChoice, 'auto'>;
  /** TF.js backend name as `tf.getBackend()` reports it (`tensorflow`, `wasm`, `cpu`). */
  name: string;
  /** npm package that provides it, with its version. */
  packageName: string;
  packageVersion: string;
  /** wasm only: whether the SIMD binary is in use. */
  simd?: boolean;
  /** wasm only: threads used by XNNPACK (1 in Node with TF.js 4.22). */
  threads?: number;
  /** Why this backend was picked: `argument`, `SCRL_BACKEND`, or `auto`. */
  decidedBy: 'argument' | typeof BACKEND_ENV_VAR | 'auto';
  /** Backends that `auto` tried and could not load, with the reason. */
  skipped: Array<{ choice: BackendChoice; reason: string }>;
}

export interface InitBackendOptions {
  /** Explicit choice, e.g. from a `--backend` flag. Overrides `SCRL_BACKEND`. */
  backend?: string;
  /** Environment to read `SCRL_BACKEND` from (default `process.env`). */
  env?: Record<string, string | undefined>;
  /** Where the one-line summary goes (default `console.error`); `null` for silence. */
  log?: ((line: string) => void) | null;
}

const PACKAGE_OF: Record<Exclude<BackendChoice, 'auto'>, string> = {
  'node-gpu': '@tensorflow/tfjs-node-gpu',
  node: '@tensorflow/tfjs-node',
  wasm: '@tensorflow/tfjs-backend-wasm',
  cpu: '@tensorflow/tfjs-backend-cpu',
};

const AUTO_ORDER: Array<Exclude<BackendChoice, 'auto'>> = ['node-gpu', 'node', 'wasm', 'cpu'];

let current: BackendInfo | null = null;
let pending: Promise<BackendInfo> | null = null;

export function isBackendChoice(value: string): value is BackendChoice {
  return (BACKEND_CHOICES as readonly string[]).includes(value);
}

/** Parses a user-supplied backend name, failing with a message that lists what is allowed. */
export function parseBackendChoice(value: string, source: string): BackendChoice {
  const v = value.trim().toLowerCase();
  if (v === 'tensorflow') return 'node';
  if (!isBackendChoice(v)) {
    throw new Error(
      `Error in parseBackendChoice: unknown backend '${value}' (from ${source}). Allowed: ${BACKEND_CHOICES.join(', ')}.`,
    );
  }
  return v;
}

function packageVersion(pkg: string): string {
  try {
    return (require(`${pkg}/package.json`) as { version: string }).version;
  } catch {
    return 'unknown';
  }
}

async function activate(choice: Exclude<BackendChoice, 'auto'>): Promise<Omit<BackendInfo, 'decidedBy' | 'skipped'>> {
  const pkg = PACKAGE_OF[choice];
  // Loading the package registers its backend with tfjs-core.
  const mod = require(pkg) as Record<string, unknown>;
  let name: string = choice;
  if (choice === 'node' || choice === 'node-gpu') name = 'tensorflow';
  if (choice === 'wasm') {
    const setWasmPaths = mod.setWasmPaths as (prefix: string) => void;
    const simdFile = require.resolve(`${pkg}/dist/tfjs-backend-wasm-simd.wasm`);
    setWasmPaths(path.dirname(simdFile) + path.sep);
  }
  const ok = await tf.setBackend(name);
  if (!ok) throw new Error(`tf.setBackend('${name}') returned false`);
  await tf.ready();
  const info: Omit<BackendInfo, 'decidedBy' | 'skipped'> = {
    choice,
    name: tf.getBackend(),
    packageName: pkg,
    packageVersion: packageVersion(pkg),
  };
  if (choice === 'wasm') {
    info.simd = tf.env().getBool('WASM_HAS_SIMD_SUPPORT');
    info.threads = tf.env().getBool('WASM_HAS_MULTITHREAD_SUPPORT') ? 0 : 1;
  }
  return info;
}

/** A one-line human description, e.g. `wasm (@tensorflow/tfjs-backend-wasm 4.22.0, SIMD on, 1 thread)`. */
export function describeBackend(info: BackendInfo): string {
  const parts = [`${info.packageName} ${info.packageVersion}`];
  if (info.simd !== undefined) parts.push(`SIMD ${info.simd ? 'on' : 'off'}`);
  if (info.threads !== undefined) parts.push(info.threads === 1 ? '1 thread' : 'multi-threaded');
  parts.push(`chosen by ${info.decidedBy}`);
  return `${info.name} (${parts.join(', ')})`;
}

/**
 * Chooses, loads and activates the compute backend, once per process. Later calls return the
 * same info; a later call that asks for a different backend switches to it.
 */
export async function initBackend(options: InitBackendOptions = {}): Promise<BackendInfo> {
  const env = options.env ?? process.env;
  let requested: BackendChoice = 'auto';
  let decidedBy: BackendInfo['decidedBy'] = 'auto';
  if (options.backend !== undefined && options.backend !== '') {
    requested = parseBackendChoice(options.backend, '--backend');
    decidedBy = requested === 'auto' ? 'auto' : 'argument';
  } else if (env[BACKEND_ENV_VAR]) {
    requested = parseBackendChoice(env[BACKEND_ENV_VAR] as string, BACKEND_ENV_VAR);
    decidedBy = requested === 'auto' ? 'auto' : BACKEND_ENV_VAR;
  }
  if (pending) await pending.catch(() => undefined);
  // An auto request keeps a backend that auto chose before; an explicit one keeps its match.
  const keep = current && (requested === current.choice || (requested === 'auto' && current.decidedBy === 'auto'));
  if (current && keep && tf.getBackend() === current.name) return current;
  const log = options.log === undefined ? (line: string) => console.error(line) : options.log;
  pending = (async () => {
    // Silences TF.js's "install the node backend" banner and debug checks.
    if (!tf.env().getBool('PROD')) tf.enableProdMode();
    const skipped: BackendInfo['skipped'] = [];
    const candidates = requested === 'auto' ? AUTO_ORDER : [requested];
    for (const choice of candidates) {
      try {
        const info: BackendInfo = { ...(await activate(choice)), decidedBy, skipped };
        current = info;
        if (log) log(`[scrl] backend: ${describeBackend(info)}`);
        return info;
      } catch (err) {
        const reason = err instanceof Error ? err.message.split('\n')[0] : String(err);
        if (requested !== 'auto') {
          throw new Error(
            `Error in initBackend: backend '${choice}' could not be started: ${reason}. ` +
              `Install ${PACKAGE_OF[choice]} or choose another with --backend or ${BACKEND_ENV_VAR} ` +
              `(${BACKEND_CHOICES.join(', ')}).`,
          );
        }
        skipped.push({ choice, reason });
      }
    }
    throw new Error(
      'Error in initBackend: no TF.js backend could be started: ' + skipped.map((s) => `${s.choice}: ${s.reason}`).join('; '),
    );
  })();
  return pending;
}

/** The backend chosen by the last successful `initBackend`, or null. */
export function currentBackend(): BackendInfo | null {
  return current;
}
