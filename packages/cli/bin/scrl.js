#!/usr/bin/env node
'use strict';
// Thin launcher: the CLI is compiled to dist/ by the workspace build (npm ci runs it).
let cli;
try {
  cli = require('../dist/main.js');
} catch (err) {
  // Only when dist/main.js itself is missing: a module it requires that is missing (a broken
  // install) names dist/main.js in the message's require stack, after the first line.
  if (err && err.code === 'MODULE_NOT_FOUND' && String(err.message).split('\n')[0].includes('dist/main.js')) {
    console.error('scrl: the CLI is not built. Run `npm ci` (or `npm run build`) at the repository root.');
    process.exit(1);
  }
  if (err && err.code === 'MODULE_NOT_FOUND') {
    console.error(`scrl: a module the CLI needs is missing (${String(err.message).split('\n')[0]}). Run \`npm ci\` at the repository root.`);
    process.exit(1);
  }
  throw err;
}
cli.main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err) => {
    console.error(err && err.stack ? err.stack : String(err));
    process.exitCode = 1;
  },
);
