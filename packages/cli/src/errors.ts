import { DataError } from '@scrl/data';
import { NonFiniteLossError, ScrlError } from '@scrl/util';

/** Exit codes of the `scrl` command. */
export const EXIT_OK = 0;
/** Something failed while running (a non-finite loss, an I/O error, a bug). */
export const EXIT_FAILURE = 1;
/** The command line, a configuration or the input data was invalid. */
export const EXIT_USAGE = 2;

/** A wrong command line: unknown command or flag, missing or malformed value. */
export class UsageError extends ScrlError {
  constructor(
    message: string,
    /** The command whose `--help` the user should read, if known. */
    readonly command?: string,
  ) {
    super(message);
  }
}

/** An invalid config file, preset or `--set` value: names the key, the value and what is allowed. */
export class ConfigError extends ScrlError {}

/** Ctrl-C: the run stopped after the current step (with a checkpoint). Exit code 130. */
export class InterruptedError extends ScrlError {}

/** A `scrl` child process that failed (the demo's runs): exits with the child's code, 2 or 1. */
export class ChildRunError extends ScrlError {
  constructor(
    message: string,
    readonly exitCode: number,
  ) {
    super(message);
  }
}

export const EXIT_INTERRUPTED = 130;

/**
 * Errors that carry a complete message for the user, printed without a stack trace: every
 * subclass of @scrl/util's `ScrlError` (DataError, NonFiniteLossError, UsageError, ...).
 */
export function isUserFacing(err: unknown): err is Error {
  return err instanceof ScrlError;
}

/**
 * Which exit code an error maps to. A `ScrlError` is a problem with what the user gave (flags,
 * config, data, a checkpoint or weights file, the run folder): 2, like UsageError, ConfigError
 * and DataError. A non-finite loss (the run itself failed) and anything unexpected: 1.
 * Ctrl-C: 130.
 */
export function exitCodeFor(err: unknown): number {
  if (err instanceof InterruptedError) return EXIT_INTERRUPTED;
  if (err instanceof ChildRunError) return err.exitCode;
  if (err instanceof NonFiniteLossError) return EXIT_FAILURE;
  if (err instanceof UsageError || err instanceof ConfigError || err instanceof DataError || err instanceof ScrlError) return EXIT_USAGE;
  return EXIT_FAILURE;
}
