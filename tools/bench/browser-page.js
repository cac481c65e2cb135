#!/usr/bin/env node
/**
 * The browser page's pretraining speed per backend, for docs/benchmarks.md: runs
 * `npm run test:browser` (packages/web/browser-test.js: headless Debian Chromium, every backend
 * that starts here, 8 SCRL steps of 4 images each) into a temporary folder and reports its
 * speeds.json (median images/s over steps 2-8 per backend). There is no PyTorch counterpart (no
 * goal: on a machine without a GPU, WebGL and WebGPU run on SwiftShader).
 *
 *   node tools/bench/browser-page.js [--backends webgpu,webgl,wasm] [--json FILE]
 */
'use strict';
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { spawnSync } = require('node:child_process');

const root = path.join(__dirname, '..', '..');

function main() {
  const argv = process.argv.slice(2);
  const get = (name) => {
    const i = argv.indexOf(`--${name}`);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  const chromium = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
  if (!fs.existsSync(chromium)) throw new Error(`browser-page bench: no Chromium at ${chromium} (apt-get install chromium, or set CHROMIUM_PATH)`);
  const out = fs.mkdtempSync(path.join(os.tmpdir(), 'scrl-browser-bench-'));
  try {
    const env = { ...process.env, SCRL_BROWSER_OUT: out };
    if (get('backends')) env.SCRL_BROWSER_BACKENDS = get('backends');
    const r = spawnSync(process.execPath, [path.join(root, 'packages', 'web', 'browser-test.js')], { cwd: root, env, stdio: 'inherit' });
    if (r.status !== 0) throw new Error(`browser-page bench: packages/web/browser-test.js exited with ${r.status ?? r.signal}`);
    const speeds = JSON.parse(fs.readFileSync(path.join(out, 'speeds.json'), 'utf8'));
    const version = spawnSync(chromium, ['--version'], { encoding: 'utf8' }).stdout.trim();
    const json = get('json');
    if (json) fs.writeFileSync(json, JSON.stringify({ bench: 'browser-page', chromium: version, ...speeds, maxRssKb: process.resourceUsage().maxRSS }, null, 1));
  } finally {
    fs.rmSync(out, { recursive: true, force: true });
  }
}

try {
  main();
} catch (err) {
  console.error(err.message);
  process.exit(1);
}
