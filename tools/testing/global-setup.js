/**
 * Brings every package's dist/ up to date before the tests run (incremental, so cheap when
 * nothing changed). Worker threads and the CLI run compiled code, so their tests need it.
 */
const { execFileSync } = require('node:child_process');
const path = require('node:path');

module.exports = async function globalSetup() {
  const root = path.join(__dirname, '..', '..');
  execFileSync(process.execPath, [require.resolve('typescript/bin/tsc'), '-b', 'tsconfig.build.json'], {
    cwd: root,
    stdio: 'inherit',
  });
};
