/** @scrl/cli: the `scrl` command. The library surface is for embedding and tests. */
export { main, cliVersion, topLevelHelp } from './main';
export { EXIT_FAILURE, EXIT_OK, EXIT_USAGE, UsageError } from './errors';
export type { Command, CommandContext, CommandIO, OptionSpec } from './command';
// Used by tools/experiments (evaluators.js, supervised-backbone.js): the evaluation scenes and their split, the probe tables.
export { DETECTION_SCENES, EVAL_SCENES, splitSamples } from './commands/eval';
export { boxProbeTable, denseProbeTable } from './commands/eval-probes';
