/**
 * tools/args.js: the one option parser of the scripts under tools/ (benchmarks, experiments,
 * fixtures), and one script that uses it end to end.
 */
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';

const root = path.join(__dirname, '..', '..', '..');
const { arg, flag, numberArg, intList } = require(path.join(root, 'tools', 'args.js')) as {
  arg: (name: string, fallback?: string, o?: { dashes?: boolean; argv?: string[] }) => string | undefined;
  flag: (name: string, o?: { argv?: string[] }) => boolean;
  numberArg: (name: string, fallback: number, o?: { integer?: boolean; min?: number; argv?: string[] }) => number;
  intList: (s: string, name: string) => number[];
};

const argv = (...words: string[]) => ['node', 'script.js', ...words];

describe('tools/args.js', () => {
  it('reads a value, falls back when the option is absent, and sees bare flags', () => {
    const a = argv('--out', 'runs/x', '--dry-run');
    expect(arg('out', 'd', { argv: a })).toBe('runs/x');
    expect(arg('steps', '300', { argv: a })).toBe('300');
    expect(flag('dry-run', { argv: a })).toBe(true);
    expect(flag('wait', { argv: a })).toBe(false);
  });

  it('rejects an option without its value, unless the value may start with --', () => {
    expect(() => arg('out', 'd', { argv: argv('--out') })).toThrow('--out needs a value');
    expect(() => arg('out', 'd', { argv: argv('--out', '--steps', '3') })).toThrow('--out needs a value');
    expect(arg('detection-args', '', { dashes: true, argv: argv('--detection-args', '--steps 3') })).toBe('--steps 3');
  });

  it('checks numbers and lists, naming the option', () => {
    expect(numberArg('steps', 5, { integer: true, min: 1, argv: argv('--steps', '12') })).toBe(12);
    expect(numberArg('steps', 5, { argv: argv() })).toBe(5);
    expect(() => numberArg('steps', 5, { integer: true, argv: argv('--steps', '1.5') })).toThrow("--steps must be an integer, got '1.5'");
    expect(() => numberArg('lr', 1, { min: 0, argv: argv('--lr', '-1') })).toThrow("--lr must be a number >= 0, got '-1'");
    expect(() => numberArg('lr', 1, { argv: argv('--lr', 'abc') })).toThrow('--lr must be a number');
    expect(intList('0,1,,2', 'seeds')).toEqual([0, 1, 2]);
    expect(() => intList('0,x', 'seeds')).toThrow("--seeds: 'x' is not a non-negative integer");
  });

  it('a script that uses it fails clearly on a missing value', () => {
    const r = spawnSync(process.execPath, [path.join(root, 'tools', 'experiments', 'results.js'), '--seeds'], { encoding: 'utf8' });
    expect(r.status).not.toBe(0);
    expect(r.stderr).toContain('--seeds needs a value');
  });
});
