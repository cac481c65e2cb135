/**
 * The demo's runs as `scrl` child processes, several at once: one TF.js backend runs one
 * thread, so a 2-core machine runs the two pretraining runs side by side and the three
 * detection fine-tunings two at a time instead of one after another.
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { CommandIO } from '../command';
import { ChildRunError, InterruptedError } from '../errors';

/** The `scrl` launcher of this package (dist/commands/ -> bin/). */
export const SCRL_BIN = path.join(__dirname, '..', '..', 'bin', 'scrl.js');

/** Processes the demo runs at once by default: the cores, at most 3 (the largest phase). */
export function defaultDemoJobs(): number {
  const cores = typeof os.availableParallelism === 'function' ? os.availableParallelism() : os.cpus().length;
  return Math.max(1, Math.min(3, cores));
}

export interface DemoJob {
  /** Short name for progress lines and errors, e.g. 'BYOL'. */
  label: string;
  /** `scrl` arguments. */
  args: string[];
  /** File that receives the child's stdout and stderr. */
  log: string;
}

/** A child run that failed: names it, its exit and its log, with the log's last lines. */
export class DemoJobError extends ChildRunError {}

function tail(file: string, lines: number): string {
  try {
    return fs.readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '';
  }
}

/**
 * Runs `jobs` as `scrl` child processes, at most `parallel` at once, in order. Each child's
 * output goes to its log; its progress lines (`[scrl] step ...`) are echoed to `io.err` with its
 * label. Resolves when all succeeded; otherwise waits for the running ones and throws a
 * {@link DemoJobError} naming every failed run and its log. Ctrl-C reaches the children from the
 * terminal (each stops with a checkpoint); the demo then waits for them and stops with exit 130.
 */
export async function runDemoJobs(io: CommandIO, jobs: DemoJob[], parallel: number): Promise<void> {
  const failures: string[] = [];
  let allInput = true; // every failed run exited 2 (its input)
  let interrupted = false;
  const onSigint = () => {
    if (!interrupted) io.err('[scrl] demo interrupted: waiting for its runs to stop (each writes a checkpoint)');
    interrupted = true;
  };
  process.on('SIGINT', onSigint);
  const runOne = (job: DemoJob): Promise<void> =>
    new Promise((resolve) => {
      fs.mkdirSync(path.dirname(job.log), { recursive: true });
      const log = fs.openSync(job.log, 'a');
      fs.writeSync(log, `$ scrl ${job.args.join(' ')}\n`);
      const child = spawn(process.execPath, [SCRL_BIN, ...job.args], { stdio: ['ignore', 'pipe', 'pipe'] });
      let pending = '';
      child.stdout.on('data', (b: Buffer) => fs.writeSync(log, b));
      child.stderr.on('data', (b: Buffer) => {
        fs.writeSync(log, b);
        pending += b.toString('utf8');
        const lines = pending.split(/\r?\n|\r/);
        pending = lines.pop() ?? '';
        for (const line of lines) if (/^\[scrl\] step /.test(line)) io.err(`[scrl] ${job.label}: ${line.slice('[scrl] '.length)}`);
      });
      child.on('error', (err) => {
        allInput = false;
        failures.push(`${job.label}: could not start ${SCRL_BIN}: ${err.message}`);
      });
      child.on('close', (code, signal) => {
        fs.closeSync(log);
        if (code !== 0) {
          if (code === 130) interrupted = true;
          else {
            if (code !== 2) allInput = false;
            failures.push(`${job.label} (scrl ${job.args.slice(0, 2).join(' ')}) exited with ${code ?? signal}; its log ${job.log} ends:\n${tail(job.log, 6)}`);
          }
        }
        resolve();
      });
    });
  try {
    let next = 0;
    const lanes = Array.from({ length: Math.max(1, Math.min(parallel, jobs.length)) }, async () => {
      while (next < jobs.length && !interrupted && failures.length === 0) await runOne(jobs[next++]);
    });
    await Promise.all(lanes);
  } finally {
    process.off('SIGINT', onSigint);
  }
  if (interrupted) throw new InterruptedError('demo interrupted; the finished runs are kept in --out');
  // Exit 2 when every failed run blamed its input (exit 2), else 1.
  if (failures.length > 0) throw new DemoJobError(`Error in demo: ${failures.length} run(s) failed:\n${failures.join('\n')}`, allInput ? 2 : 1);
}
