/**
 * Errors and warnings about input data. A `DataError` always names the file and the problem, so
 * a command-line tool can print `err.message` alone (no stack trace) and exit non-zero.
 */

import { ScrlError } from '@scrl/util';

/** Bad input data: a missing or malformed file, an empty folder, an impossible annotation. */
export class DataError extends ScrlError {
  /** The file or folder at fault (absolute or as given by the caller). */
  readonly file: string;
  /** What is wrong with it, in one sentence. */
  readonly problem: string;
  /** The library function that found the problem, e.g. `loadCocoDataset`. */
  readonly source: string;

  constructor(source: string, file: string, problem: string, hint?: string) {
    super(`Error in ${source}: ${file}: ${problem}${hint ? ` ${hint}` : ''}`);
    this.file = file;
    this.problem = problem;
    this.source = source;
  }
}

/** True for a `DataError`, also one that crossed a worker-thread boundary as plain data. */
export function isDataError(err: unknown): err is DataError {
  return err instanceof DataError || (err instanceof Error && err.name === 'DataError' && 'file' in err);
}

/** An image that could not be decoded and was left out. */
export interface SkippedFile {
  file: string;
  reason: string;
}

/** Where warnings go: one line each. `null` silences them (the list is still kept). */
export type WarnFn = ((line: string) => void) | null;

/**
 * The default: one line of ours on stderr. Not `process.emitWarning`, whose output carries
 * Node's `(node:PID) Warning:` prefix and `(Use \`node --trace-warnings ...\`)` hint. In a
 * browser (no process.stderr), console.warn.
 */
export const defaultWarn = (line: string): void => {
  const stderr = typeof process === 'undefined' ? undefined : process.stderr;
  if (stderr) stderr.write(line.endsWith('\n') ? line : line + '\n');
  else console.warn(line.replace(/\n$/, ''));
};

/**
 * Keeps the list of skipped files and warns once per file (a corrupt file met again in a later
 * epoch is skipped silently).
 */
export class SkipLog {
  private readonly seen = new Map<string, SkippedFile>();

  constructor(private readonly warn: WarnFn = defaultWarn) {}

  /** Records a skipped file; returns true the first time this file is seen. */
  add(file: string, multiLineReason: string): boolean {
    if (this.seen.has(file)) return false;
    // One line per warning: sharp's reasons can span several, often repeated.
    const reason = [...new Set(multiLineReason.split('\n').map((l) => l.trim()).filter(Boolean))].join('; ');
    const entry = { file, reason };
    this.seen.set(file, entry);
    if (this.warn) this.warn(`[scrl] skipped unreadable image ${file}: ${reason}`);
    return true;
  }

  /** One summary line, e.g. at the end of an epoch; nothing when no file was skipped. */
  summarize(what: string, countThisPass: number): void {
    if (countThisPass > 0 && this.warn) {
      this.warn(
        `[scrl] ${what}: ${countThisPass} unreadable image${countThisPass === 1 ? ' was' : 's were'} skipped ` +
          `(${this.seen.size} distinct so far; see the 'skipped' list).`,
      );
    }
  }

  get list(): readonly SkippedFile[] {
    return [...this.seen.values()];
  }

  get count(): number {
    return this.seen.size;
  }
}
