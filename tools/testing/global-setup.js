/**
 * Brings every package's dist/ up to date before the tests run (incremental, so cheap when
 * nothing changed). Worker threads and the CLI run compiled code, so their tests need it.
 * A failing build does not stop the run: the tests that need dist/ then fail with their own
 * message, and `npm ci` (which builds strictly) has already caught type errors in CI.
 */
const { spawnSync } = require('node:child_process');
const path = require('node:path');

module.exports = async function globalSetup() {
  if (process.env.SCRL_SKIP_BUILD === '1') return;
  const root = path.join(__dirname, '..', '..');
  const tsc = require.resolve('typescript/bin/tsc');
  const r = spawnSync(process.execPath, [tsc, '-b', 'tsconfig.build.json'], { cwd: root, encoding: 'utf8' });
  if (r.status !== 0) {
    process.stderr.write(`\n[global-setup] tsc -b failed; tests that run dist/ code may fail:\n${r.stdout}${r.stderr}\n`);
  }
};
