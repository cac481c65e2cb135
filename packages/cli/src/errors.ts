/** Exit codes of the `scrl` command. */
export const EXIT_OK = 0;
/** Something failed while running (a non-finite loss, an I/O error). */
export const EXIT_FAILURE = 1;
/** The command line, a configuration or the input data was invalid. */
export const EXIT_USAGE = 2;

/** A wrong command line: unknown command or flag, missing or malformed value. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
  constructor(
    message: string,
    /** The command whose `--help` the user should read, if known. */
    readonly command?: string,
  ) {
    super(message);
  }
}

/** An invalid config file, preset or `--set` value: names the key, the value and what is allowed. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

/** Ctrl-C: the run stopped after the current step (with a checkpoint). Exit code 130. */
export class InterruptedError extends Error {
  override readonly name = 'InterruptedError';
}

export const EXIT_INTERRUPTED = 130;

/** Errors that carry a complete message for the user: printed without a stack trace. */
export function isUserFacing(err: unknown): err is Error {
  if (!(err instanceof Error)) return false;
  return ['UsageError', 'ConfigError', 'DataError', 'TrainingError', 'CheckpointError', 'EvalError', 'NonFiniteLossError', 'InterruptedError'].includes(
    err.name,
  );
}

/** Which exit code an error maps to: the user's input (flags, config, data) is 2. */
export function exitCodeFor(err: unknown): number {
  if (err instanceof Error && (err.name === 'UsageError' || err.name === 'ConfigError' || err.name === 'DataError')) return EXIT_USAGE;
  if (err instanceof Error && err.name === 'InterruptedError') return EXIT_INTERRUPTED;
  return EXIT_FAILURE;
}
