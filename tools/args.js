'use strict';
/**
 * Command-line options for the scripts under tools/ (benchmarks, experiments, fixtures): one
 * parser, so that every script rejects a missing value the same way.
 *
 *   const { arg, flag, numberArg, intList } = require('../args');
 *   const steps = numberArg('steps', 300, { integer: true, min: 1 });   // --steps 300
 *   const out = arg('out', 'runs/x');                                    // --out DIR
 *   if (flag('dry-run')) ...                                             // --dry-run
 *
 * `argv` defaults to process.argv; tests pass their own.
 */

/**
 * The value after `--name`, or `fallback` when the option is absent. Throws when the option is
 * the last word or is followed by another option (`--out --steps 3`): a value that itself starts
 * with `--` (e.g. arguments handed on to a child command) needs `{ dashes: true }`.
 */
function arg(name, fallback, { dashes = false, argv = process.argv } = {}) {
  const i = argv.indexOf(`--${name}`);
  if (i < 0) return fallback;
  const v = argv[i + 1];
  if (v === undefined || (!dashes && v.startsWith('--'))) throw new Error(`--${name} needs a value`);
  return v;
}

/** Whether the bare option `--name` was given. */
function flag(name, { argv = process.argv } = {}) {
  return argv.includes(`--${name}`);
}

/** A number option: `integer` and `min` are checked, with an error that names the option. */
function numberArg(name, fallback, { integer = false, min = -Infinity, argv = process.argv } = {}) {
  const raw = arg(name, undefined, { argv });
  if (raw === undefined) return fallback;
  const n = Number(raw);
  if (!Number.isFinite(n) || (integer && !Number.isInteger(n)) || n < min) {
    throw new Error(`--${name} must be ${integer ? 'an integer' : 'a number'}${min > -Infinity ? ` >= ${min}` : ''}, got '${raw}'`);
  }
  return n;
}

/** A comma-separated list of non-negative integers ('0,1,2'); empty items are skipped. */
function intList(s, name) {
  return s
    .split(',')
    .filter((x) => x !== '')
    .map((x) => {
      const n = Number(x);
      if (!Number.isInteger(n) || n < 0) throw new Error(`--${name}: '${x}' is not a non-negative integer`);
      return n;
    });
}

module.exports = { arg, flag, numberArg, intList };
