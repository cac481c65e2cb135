import * as path from 'node:path';
import { train } from '@scrl/trainer';
import type { TrainConfig, TrainOptions, TrainResult } from '@scrl/trainer';
import { commandLine, intOption, progressStream, stringOption, type Command, type CommandIO } from '../command';
import { InterruptedError, UsageError } from '../errors';
import { gitCommit } from '../zoo';
import { ALLOW_OUTSIDE_ROOT_OPTION, builtinScenes, CACHE_OPTION, containmentFromFlags, CONFIG_OPTIONS, configFromFlags, setupBackend, timestampedDir } from '../shared';

/** Built-in scenes used when `--data` is not given. */
export const PRETRAIN_SCENES = { images: 1000, size: 64 } as const;

/**
 * Runs `train` with Ctrl-C handling: the first SIGINT stops after the current step with a
 * checkpoint (InterruptedError, exit 130); a second one exits at once.
 */
export async function trainWithInterrupt(
  io: CommandIO,
  options: { config: TrainConfig; out: string; data: string; allowOutsideRoot?: boolean; resume?: boolean; maxSteps?: number; checkpointEvery?: number; workers?: number; threads?: TrainOptions['threads']; onStep?: TrainOptions['onStep']; record?: TrainOptions['record'] },
): Promise<TrainResult> {
  const controller = new AbortController();
  let interrupts = 0;
  const onSigint = () => {
    interrupts += 1;
    if (interrupts > 1) process.exit(130);
    io.err('[scrl] interrupted: stopping after the current step and writing a checkpoint (Ctrl-C again to quit at once)');
    controller.abort();
  };
  process.on('SIGINT', onSigint);
  try {
    let result: TrainResult;
    try {
      result = await train({
        ...options,
        signal: controller.signal,
        log: (line) => io.err(line),
        progress: progressStream(io),
      });
    } catch (err) {
      // train() checks its inputs with plain errors; these are the user's to fix (exit 2).
      if (err instanceof Error && err.name === 'Error' && /^train: (--resume|data |the data has|.* already holds checkpoints|no usable micro-batch)/.test(err.message)) {
        throw new UsageError(err.message.replace(/^train: /, ''), 'pretrain');
      }
      throw err;
    }
    if (result.stopReason === 'aborted') {
      throw new InterruptedError(
        `interrupted at step ${result.step} of ${result.totalSteps}; checkpoint ${result.checkpoint ?? '(none)'}. ` +
          `Continue with: scrl pretrain --out ${options.out} --resume (and the same config flags).`,
      );
    }
    return result;
  } finally {
    process.off('SIGINT', onSigint);
  }
}

export const pretrain: Command = {
  name: 'pretrain',
  summary: 'pretrain a backbone with SCRL (or the BYOL baseline)',
  description:
    'Without --data it trains on the built-in generated scenes (cached under --cache). Writes\n' +
    'OUT/config.json (the effective config), OUT/metrics.jsonl, OUT/loss.png and OUT/checkpoints/.\n' +
    'Ctrl-C stops after the current step with a checkpoint (exit 130); --resume continues it.',
  options: [
    { name: 'data', type: 'string', valueName: 'DIR', description: 'folder of images (jpg, png, webp; searched recursively)', defaultText: 'built-in scenes' },
    ALLOW_OUTSIDE_ROOT_OPTION,
    { name: 'out', type: 'string', valueName: 'DIR', description: 'run folder', defaultText: 'runs/pretrain-<timestamp>' },
    { name: 'method', type: 'string', valueName: 'scrl|byol', description: 'pretraining method (same as --set method=...)', defaultText: 'from the config' },
    ...CONFIG_OPTIONS,
    { name: 'max-steps', type: 'string', valueName: 'N', description: 'stop after N steps in total (the schedule keeps its length)' },
    { name: 'checkpoint-every', type: 'string', valueName: 'N', description: 'steps between checkpoints', defaultText: 'checkpoint.every' },
    { name: 'resume', type: 'boolean', description: 'continue from the newest checkpoint in --out' },
    { name: 'workers', type: 'string', valueName: 'N', description: 'data loader threads (0 = main thread)', defaultText: 'min(2, cores)' },
    {
      name: 'threads',
      type: 'string',
      valueName: 'N|auto',
      description: 'threads computing the step: N data-parallel replicas, each on 1/N of the batch (docs/backends.md)',
      defaultText: '1; auto: 2 on wasm/cpu with >= 2 cores',
    },
    CACHE_OPTION,
  ],
  examples: [
    'scrl pretrain',
    'scrl pretrain --data ~/images --out runs/r18 --set optimizer.baseLr=0.2 --max-steps 100',
    'scrl pretrain --method byol --preset cpu --set schedule.steps=50',
    'scrl pretrain --out runs/r18 --resume',
    'scrl pretrain --threads 2 --out runs/two-threads   # on a machine with a free second core',
  ],
  async run({ values, io, argv }) {
    const method = stringOption(values, 'method');
    if (method !== undefined && method !== 'scrl' && method !== 'byol') {
      throw new UsageError(`--method must be scrl or byol, got '${method}'`, 'pretrain');
    }
    const config = configFromFlags(values, method ? [`method=${method}`] : []);
    const maxSteps = intOption(values, 'max-steps', 0);
    const checkpointEvery = intOption(values, 'checkpoint-every', 1);
    const workers = intOption(values, 'workers', 0);
    // 1 by default: on the shared 2-core machine this was measured on, 2 replicas were slower (docs/backends.md).
    const threads = values.threads === 'auto' ? 'auto' : intOption(values, 'threads', 1) ?? 1;
    const resume = values.resume === true;
    let out = stringOption(values, 'out');
    if (!out) {
      if (resume) throw new UsageError('--resume needs --out DIR (the run to continue)', 'pretrain');
      out = timestampedDir('pretrain');
    }
    await setupBackend(values, io);
    let data = stringOption(values, 'data');
    if (!data) {
      const scenes = await builtinScenes(values, io, PRETRAIN_SCENES);
      data = path.join(scenes.dir, 'images');
    }
    // The command and commit go into config.json, so that `scrl zoo add` can record what made a checkpoint.
    const record = { command: commandLine(argv ?? []), commit: gitCommit() };
    const result = await trainWithInterrupt(io, { config, out, data, ...containmentFromFlags(values), resume, maxSteps, checkpointEvery, workers, threads, record });
    io.err(
      `[scrl] ${result.stopReason === 'completed' ? 'done' : 'stopped (--max-steps)'}: step ${result.step} of ${result.totalSteps}, ` +
        `last loss ${result.lastLoss === null ? 'n/a' : result.lastLoss.toFixed(4)}`,
    );
    io.out(path.resolve(out));
  },
};
