/** @scrl/cli: the `scrl` command. The library surface is for embedding and tests. */
export { main, cliVersion, topLevelHelp } from './main';
export { EXIT_FAILURE, EXIT_OK, EXIT_USAGE, UsageError } from './errors';
export type { Command, CommandContext, CommandIO, OptionSpec } from './command';
