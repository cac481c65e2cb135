/**
 * The base of every error the @scrl packages raise on purpose. Its message is complete for a
 * user, in one style: `Error in <function>: <argument or input> <what is wrong>. <the fix>.`
 * Front ends (the `scrl` command) recognise it with `instanceof ScrlError` and print the
 * message alone, without a stack trace.
 */
export class ScrlError extends Error {
  constructor(message: string) {
    super(message);
    // The subclass's own name (`DataError`, `NonFiniteLossError`, ...) in `err.name` and stacks.
    this.name = new.target.name;
  }
}

/**
 * A training loss became NaN or infinite: pretraining (`train` of @scrl/trainer) and detection
 * fine-tuning (`fineTuneDetection` of @scrl/eval) both stop with this error, without saving the
 * broken state.
 */
export class NonFiniteLossError extends ScrlError {
  constructor(
    message: string,
    /** The step (1-based) whose loss was not finite. */
    readonly step: number,
    /** The last good checkpoint written before it, if the caller writes checkpoints. */
    readonly lastCheckpoint: string | null = null,
  ) {
    super(message);
  }
}
