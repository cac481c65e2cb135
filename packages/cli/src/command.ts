/**
 * A small command framework over `node:util` parseArgs: each command declares its options once
 * and gets `--help` text, strict parsing and typed errors from that declaration.
 */
import { parseArgs } from 'node:util';
import { UsageError } from './errors';

export interface OptionSpec {
  name: string;
  type: 'string' | 'boolean';
  short?: string;
  /** May be given several times (values collected in order). */
  multiple?: boolean;
  /** Placeholder shown in help, e.g. `DIR`. */
  valueName?: string;
  description: string;
  /** Shown in help; the command applies its own defaults. */
  defaultText?: string;
}

export interface CommandIO {
  /** Results meant for the user or for pipes. */
  out: (line: string) => void;
  /** Progress and diagnostics. */
  err: (line: string) => void;
  /** True when stderr is a terminal (progress bars) rather than a file or pipe. */
  isTTY: boolean;
  /** Where progress bars go (default: lines through `err`). */
  progress?: { write(s: string): unknown; isTTY?: boolean };
}

/** A stream for progress bars: `io.progress`, or complete lines through `io.err`. */
export function progressStream(io: CommandIO): { write(s: string): boolean; isTTY?: boolean } {
  if (io.progress) {
    const p = io.progress;
    return { write: (s) => (p.write(s), true), isTTY: p.isTTY };
  }
  let pending = '';
  return {
    isTTY: false,
    write(s: string) {
      pending += s;
      const lines = pending.split('\n');
      pending = lines.pop() ?? '';
      for (const l of lines) if (l.trim()) io.err(l.replace(/\r/g, ''));
      return true;
    },
  };
}

export interface CommandContext {
  values: Record<string, string | boolean | string[] | undefined>;
  positionals: string[];
  io: CommandIO;
  /** The words after `scrl` as given (for records of the exact command). */
  argv?: string[];
}

/** `scrl <argv>` as a shell command line (arguments quoted where the shell needs it). */
export function commandLine(argv: string[]): string {
  const quote = (arg: string) => (/^[A-Za-z0-9_./=:,@+%-]+$/.test(arg) ? arg : `'${arg.replace(/'/g, `'\\''`)}'`);
  return ['scrl', ...argv].map(quote).join(' ');
}

export interface Command {
  /** Words after `scrl`, e.g. `eval detection`. */
  name: string;
  summary: string;
  /** Extra paragraphs for `--help`. */
  description?: string;
  positionals?: string;
  options: OptionSpec[];
  examples?: string[];
  run(ctx: CommandContext): Promise<void>;
}

/** Options every command accepts. */
export const COMMON_OPTIONS: OptionSpec[] = [
  {
    name: 'backend',
    type: 'string',
    valueName: 'NAME',
    description: 'TF.js backend: auto, node-gpu, node, wasm, cpu (or set SCRL_BACKEND)',
    defaultText: 'auto',
  },
  { name: 'help', short: 'h', type: 'boolean', description: 'show this help' },
];

export function parseCommandArgs(command: Command, argv: string[]): CommandContext['values'] & { _: string[] } {
  const options: Record<string, { type: 'string' | 'boolean'; short?: string; multiple?: boolean }> = {};
  for (const o of [...command.options, ...COMMON_OPTIONS]) {
    options[o.name] = { type: o.type, ...(o.short ? { short: o.short } : {}), ...(o.multiple ? { multiple: true } : {}) };
  }
  try {
    const { values, positionals } = parseArgs({ args: argv, options, allowPositionals: true, strict: true });
    return { ...(values as CommandContext['values']), _: positionals };
  } catch (err) {
    const msg = err instanceof Error ? err.message : String(err);
    throw new UsageError(msg.replace(/\. To specify a positional argument.*$/, ''), command.name);
  }
}

function optionLabel(o: OptionSpec): string {
  const flag = `--${o.name}${o.type === 'string' ? ` ${o.valueName ?? 'VALUE'}` : ''}`;
  return o.short ? `-${o.short}, ${flag}` : `    ${flag}`;
}

export function formatOptions(opts: OptionSpec[]): string[] {
  const labels = opts.map(optionLabel);
  const width = Math.max(...labels.map((l) => l.length)) + 2;
  return opts.map((o, i) => {
    const extra = [o.multiple ? 'repeatable' : '', o.defaultText ? `default: ${o.defaultText}` : '']
      .filter(Boolean)
      .join('; ');
    return `  ${labels[i].padEnd(width)}${o.description}${extra ? ` (${extra})` : ''}`;
  });
}

export function commandHelp(command: Command): string {
  const lines = [`Usage: scrl ${command.name}${command.options.length ? ' [options]' : ''}${command.positionals ? ` ${command.positionals}` : ''}`, '', command.summary];
  if (command.description) lines.push('', command.description);
  lines.push('', 'Options:', ...formatOptions([...command.options, ...COMMON_OPTIONS]));
  if (command.examples?.length) lines.push('', 'Examples:', ...command.examples.map((e) => `  ${e}`));
  return lines.join('\n');
}

/** Reads an integer flag, failing with the flag's name when it is not one. */
export function intOption(values: CommandContext['values'], name: string, min = 0): number | undefined {
  const raw = values[name];
  if (raw === undefined) return undefined;
  const n = Number(raw);
  if (typeof raw !== 'string' || !Number.isInteger(n) || n < min) {
    throw new UsageError(`--${name} must be an integer >= ${min}, got '${String(raw)}'`);
  }
  return n;
}

export function stringOption(values: CommandContext['values'], name: string): string | undefined {
  const raw = values[name];
  return typeof raw === 'string' ? raw : undefined;
}

export function listOption(values: CommandContext['values'], name: string): string[] {
  const raw = values[name];
  if (raw === undefined) return [];
  return Array.isArray(raw) ? raw : [String(raw)];
}
