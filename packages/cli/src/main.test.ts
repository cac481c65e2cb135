import { commands } from './commands';
import { main } from './main';
import type { CommandIO } from './command';

function capture(): CommandIO & { outLines: string[]; errLines: string[] } {
  const outLines: string[] = [];
  const errLines: string[] = [];
  return { outLines, errLines, out: (l) => outLines.push(l), err: (l) => errLines.push(l), isTTY: false };
}

describe('scrl', () => {
  it('prints the package version', async () => {
    const io = capture();
    expect(await main(['--version'], io)).toBe(0);
    expect(io.outLines).toEqual([require('../package.json').version]);
  });

  it('lists commands and exit codes in --help', async () => {
    const io = capture();
    expect(await main(['--help'], io)).toBe(0);
    expect(io.outLines.join('\n')).toContain('Exit codes: 0 success, 1 failure during a run, 2 usage, configuration or input-data error.');
  });

  it('exits 2 with a clear message on an unknown command', async () => {
    const io = capture();
    expect(await main(['frobnicate'], io)).toBe(2);
    expect(io.errLines[0]).toBe("scrl: error: unknown command 'frobnicate'. Run 'scrl --help' for the list.");
  });

  it('exits 2 and shows help when run with no arguments', async () => {
    const io = capture();
    expect(await main([], io)).toBe(2);
    expect(io.outLines.join('\n')).toMatch(/^Usage: scrl <command>/);
  });

  // Every group (`eval`, `viz`, `data`) and every command answers --help with exit 0.
  const groups = [...new Set(commands.filter((c) => c.name.includes(' ')).map((c) => c.name.split(' ')[0]))];

  it('has the command groups eval, viz, data and zoo', () => {
    expect(groups.sort()).toEqual(['data', 'eval', 'viz', 'zoo']);
  });

  it.each(groups.flatMap((g) => [[g, '--help'], [g, '-h'], ['help', g]]))('scrl %s %s prints the subcommands and exits 0', async (...args) => {
    const group = args[0] === 'help' ? args[1] : args[0];
    const io = capture();
    expect(await main(args, io)).toBe(0);
    const text = io.outLines.join('\n');
    expect(text).toMatch(new RegExp(`^Usage: scrl ${group} <subcommand>`));
    const members = commands.filter((c) => c.name.startsWith(group + ' '));
    expect(members.length).toBeGreaterThan(0);
    for (const c of members) expect(text).toContain(`  ${c.name}`);
    expect(io.errLines).toEqual([]);
  });

  it.each(commands.map((c) => [c.name]))('scrl %s --help prints its options and exits 0', async (name) => {
    const io = capture();
    expect(await main([...name.split(' '), '--help'], io)).toBe(0);
    expect(io.outLines.join('\n')).toMatch(new RegExp(`^Usage: scrl ${name}`));
    expect(io.outLines.join('\n')).toContain('--help');
  });

  it('still exits 2 for a group without a subcommand, pointing at its --help', async () => {
    const io = capture();
    expect(await main(['viz'], io)).toBe(2);
    expect(io.errLines).toEqual(["scrl: error: 'scrl viz' needs a subcommand: boxes", "Run 'scrl viz --help' for usage."]);
  });
});
