/**
 * Child process for checkpoint.test.ts: writes checkpoints of ~1 MB in a loop until killed,
 * printing each step once its write has returned. Runs the compiled dist/ code.
 * Usage: node checkpoint-writer.js <dir>
 */
const { writeCheckpoint } = require('../../dist/checkpoint.js');

const dir = process.argv[2];
const SIZE = 256 * 1024;

/** The values of checkpoint `step`, a formula the test re-computes. */
function values(step) {
  const a = new Float32Array(SIZE);
  for (let i = 0; i < SIZE; i++) a[i] = step + (i % 1000) / 1000;
  return a;
}

for (let step = 1; ; step++) {
  writeCheckpoint(dir, { step, tensors: { 'online.w': { shape: [SIZE], data: values(step) } }, state: { step } }, { keep: 3 });
  process.stdout.write(`${step}\n`);
}
