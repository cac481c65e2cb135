/**
 * Per-step metrics as JSON lines, and a progress line with ETA for humans.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { writeFileDurably } from './atomic-write';

/** One optimiser step's record in `metrics.jsonl`. */
export interface StepMetrics {
  /** Optimiser steps completed (1 after the first step). */
  step: number;
  /** Mean loss over the step's micro-batches (weighted by box pairs / images). */
  loss: number;
  /** Learning rate used by this step. */
  lr: number;
  /** EMA momentum applied after this step. */
  momentum: number;
  /** Box pairs that entered the loss this step (SCRL); images x 1 in BYOL mode. */
  boxPairs: number;
  /** Images (each with two views) processed per second of this step. */
  imagesPerSecond: number;
  [extra: string]: number | string | boolean | null;
}

/** Appends one JSON object per line to a file (created with its directory if needed). */
export class MetricsWriter {
  constructor(readonly file: string) {
    fs.mkdirSync(path.dirname(file), { recursive: true });
  }

  append(record: StepMetrics): void {
    fs.appendFileSync(this.file, JSON.stringify(record) + '\n');
  }

  /**
   * Drops records with `step > lastStep` (e.g. steps after the checkpoint a run resumes from),
   * and a torn last line from a crash. The file is replaced atomically, so a kill during the
   * rewrite leaves the old file, never a shortened one.
   */
  truncateAfter(lastStep: number): void {
    if (!fs.existsSync(this.file)) return;
    const kept = readMetrics(this.file).filter((r) => r.step <= lastStep);
    writeFileDurably(this.file, kept.map((r) => JSON.stringify(r) + '\n').join(''), 'metrics-truncate');
  }
}

/** Reads `metrics.jsonl`, ignoring a torn (unparsable) line. */
export function readMetrics(file: string): StepMetrics[] {
  const out: StepMetrics[] = [];
  for (const line of fs.readFileSync(file, 'utf8').split('\n')) {
    if (!line.trim()) continue;
    try {
      out.push(JSON.parse(line) as StepMetrics);
    } catch {
      /* torn line */
    }
  }
  return out;
}

/** `1h02m`, `3m05s`, `42s`. */
export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '?';
  const s = Math.round(seconds);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const r = s % 60;
  if (h > 0) return `${h}h${String(m).padStart(2, '0')}m`;
  if (m > 0) return `${m}m${String(r).padStart(2, '0')}s`;
  return `${r}s`;
}

export interface ProgressOptions {
  /** Steps of the whole run. */
  total: number;
  /** Step the run starts from (resume). Default 0. */
  start?: number;
  /** Where to write (default `process.stderr`). */
  stream?: { write(s: string): unknown; isTTY?: boolean; columns?: number };
  /** Redraw a bar in place (default: `stream.isTTY`). Otherwise plain lines. */
  tty?: boolean;
  /** Without a TTY, print a line every `every` steps (default 10) and at the last step. */
  every?: number;
  /** Clock in milliseconds (default `Date.now`). */
  now?: () => number;
}

/**
 * A progress bar with ETA on a terminal; plain lines otherwise (logs, CI). The ETA is the
 * average time per step since the reporter started times the steps left.
 */
export class ProgressReporter {
  private readonly total: number;
  private readonly start: number;
  private readonly stream: NonNullable<ProgressOptions['stream']>;
  private readonly tty: boolean;
  private readonly every: number;
  private readonly now: () => number;
  private readonly t0: number;
  private lastLength = 0;

  constructor(options: ProgressOptions) {
    this.total = options.total;
    this.start = options.start ?? 0;
    this.stream = options.stream ?? process.stderr;
    this.tty = options.tty ?? Boolean(this.stream.isTTY);
    this.every = Math.max(1, options.every ?? 10);
    this.now = options.now ?? Date.now;
    this.t0 = this.now();
  }

  /** The text for `step` (exposed for tests and custom sinks). */
  line(step: number, info: { loss: number; imagesPerSecond: number }): string {
    const done = step - this.start;
    const elapsed = (this.now() - this.t0) / 1000;
    const eta = done > 0 ? (elapsed / done) * (this.total - step) : NaN;
    const pct = Math.floor((100 * step) / this.total);
    const stats =
      `${step}/${this.total} ${pct}% loss ${info.loss.toFixed(4)} ` +
      `${info.imagesPerSecond.toFixed(1)} img/s elapsed ${formatDuration(elapsed)} ETA ${formatDuration(eta)}`;
    if (!this.tty) return `[scrl] step ${stats}`;
    const width = 24;
    const filled = Math.min(width, Math.round((width * step) / this.total));
    return `[${'#'.repeat(filled)}${'-'.repeat(width - filled)}] ${stats}`;
  }

  update(step: number, info: { loss: number; imagesPerSecond: number }): void {
    const text = this.line(step, info);
    if (this.tty) {
      const pad = Math.max(0, this.lastLength - text.length);
      this.stream.write(`\r${text}${' '.repeat(pad)}`);
      this.lastLength = text.length;
    } else if (step % this.every === 0 || step === this.total) {
      this.stream.write(text + '\n');
    }
  }

  /** Ends the bar's line on a terminal. */
  finish(): void {
    if (this.tty && this.lastLength > 0) this.stream.write('\n');
    this.lastLength = 0;
  }
}
