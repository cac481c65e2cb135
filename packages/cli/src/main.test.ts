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
    expect(io.outLines.join('\n')).toContain('Exit codes: 0 success, 1 failure during a run, 2 usage or configuration error.');
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
});
