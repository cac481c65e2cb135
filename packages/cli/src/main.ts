/**
 * `scrl`: the thin orchestrator. It parses the command line, picks the backend, and calls the
 * packages; it holds no training or geometry logic of its own.
 */
import { commandHelp, parseCommandArgs, type Command, type CommandIO } from './command';
import { commands } from './commands';
import { EXIT_OK, EXIT_USAGE, UsageError, exitCodeFor, isUserFacing } from './errors';

export function cliVersion(): string {
  return (require('../package.json') as { version: string }).version;
}

export function defaultIO(): CommandIO {
  return {
    out: (line) => process.stdout.write(line + '\n'),
    err: (line) => process.stderr.write(line + '\n'),
    isTTY: Boolean(process.stderr.isTTY),
    progress: process.stderr,
  };
}

export function topLevelHelp(): string {
  const width = Math.max(...commands.map((c) => c.name.length)) + 2;
  return [
    'Usage: scrl <command> [options]',
    '',
    'SCRL (Spatially Consistent Representation Learning) for TensorFlow.js.',
    '',
    'Commands:',
    ...commands.map((c) => `  ${c.name.padEnd(width)}${c.summary}`),
    '',
    'Options:',
    '  -h, --help       show help (also: scrl <command> --help)',
    '  -V, --version    print the version',
    '',
    'Exit codes: 0 success, 1 failure during a run, 2 usage, configuration or input-data error.',
    '            130 interrupted by Ctrl-C (after writing a checkpoint).',
    '',
    'Environment: SCRL_BACKEND (default backend), SCRL_CACHE_DIR (scenes cache), SCRL_DEBUG=1 (stack traces).',
  ].join('\n');
}

/** The commands of a group (`eval` -> `eval detection`, `eval linear`, `eval knn`). */
function groupCommands(group: string): Command[] {
  return commands.filter((c) => c.name.startsWith(group + ' '));
}

/** `scrl <group> --help`: the group's subcommands with their summaries. */
export function groupHelp(group: string): string {
  const members = groupCommands(group);
  const width = Math.max(...members.map((c) => c.name.length)) + 2;
  return [
    `Usage: scrl ${group} <subcommand> [options]`,
    '',
    'Subcommands:',
    ...members.map((c) => `  ${c.name.padEnd(width)}${c.summary}`),
    '',
    `Run 'scrl ${group} <subcommand> --help' for its options.`,
  ].join('\n');
}

/** Finds the longest command name that prefixes argv (`eval detection` before `eval`). */
function findCommand(argv: string[]): { command: Command; rest: string[] } | null {
  let best: { command: Command; rest: string[] } | null = null;
  for (const command of commands) {
    const words = command.name.split(' ');
    if (words.every((w, i) => argv[i] === w) && (!best || words.length > best.command.name.split(' ').length)) {
      best = { command, rest: argv.slice(words.length) };
    }
  }
  return best;
}

/** Runs the CLI and returns its exit code. Never throws. */
export async function main(argv: string[], io: CommandIO = defaultIO()): Promise<number> {
  try {
    if (argv.length === 0 || argv[0] === '--help' || argv[0] === '-h' || argv[0] === 'help') {
      const target = argv[0] === 'help' && argv.length > 1 ? findCommand(argv.slice(1)) : null;
      const group = argv[0] === 'help' && argv.length > 1 && !target && groupCommands(argv[1]).length ? argv[1] : null;
      io.out(target ? commandHelp(target.command) : group ? groupHelp(group) : topLevelHelp());
      return argv.length === 0 ? EXIT_USAGE : EXIT_OK;
    }
    if (argv[0] === '--version' || argv[0] === '-V') {
      io.out(cliVersion());
      return EXIT_OK;
    }
    const found = findCommand(argv);
    if (!found) {
      const group = groupCommands(argv[0]);
      if (group.length && (argv[1] === '--help' || argv[1] === '-h')) {
        io.out(groupHelp(argv[0]));
        return EXIT_OK;
      }
      if (group.length) {
        throw new UsageError(
          `'scrl ${argv[0]}' needs a subcommand: ${group.map((c) => c.name.split(' ')[1]).join(', ')}`,
          argv[0],
        );
      }
      throw new UsageError(`unknown command '${argv[0]}'. Run 'scrl --help' for the list.`);
    }
    const { _: positionals, ...values } = parseCommandArgs(found.command, found.rest);
    if (values.help) {
      io.out(commandHelp(found.command));
      return EXIT_OK;
    }
    await found.command.run({ values, positionals, io, argv });
    return EXIT_OK;
  } catch (err) {
    const code = exitCodeFor(err);
    if (isUserFacing(err)) {
      io.err(`scrl: error: ${err.message}`);
      if (err instanceof UsageError && err.command) io.err(`Run 'scrl ${err.command} --help' for usage.`);
    } else if (err instanceof Error) {
      io.err(`scrl: error: ${err.message}`);
      if (process.env.SCRL_DEBUG) io.err(err.stack ?? '');
      else io.err('(set SCRL_DEBUG=1 to see the stack trace)');
    } else {
      io.err(`scrl: error: ${String(err)}`);
    }
    return code === EXIT_USAGE ? EXIT_USAGE : code;
  }
}
