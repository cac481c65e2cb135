#!/usr/bin/env node
/**
 * Builds the page into packages/web/dist/www: the TypeScript entries bundled for the browser with
 * esbuild (the @scrl packages through their `browser` exports condition), the HTML, and the
 * TF.js wasm binaries (served beside the bundle: the page never fetches from the network).
 * `node build.js --watch` rebuilds on change; `--no-typecheck` skips tsc.
 */
const path = require('node:path');
const fs = require('node:fs');
const esbuild = require('esbuild');

const here = __dirname;
const out = path.join(here, 'dist', 'www');

/** One copy of tfjs-core in the bundle: its ES module build, whoever imports it (CJS or ESM). */
const singleTfjsCore = {
  name: 'single-tfjs-core',
  setup(build) {
    const esm = require.resolve('@tensorflow/tfjs-core/dist/index.js');
    build.onResolve({ filter: /^@tensorflow\/tfjs-core$/ }, () => ({ path: esm }));
  },
};

/** esbuild strips types without checking them: tsc checks the page's sources first. */
function typecheck() {
  const { spawnSync } = require('node:child_process');
  const tsc = require.resolve('typescript/bin/tsc');
  const r = spawnSync(process.execPath, [tsc, '-p', path.join(here, 'tsconfig.json')], { stdio: 'inherit' });
  if (r.status !== 0) throw new Error('type errors in packages/web/src (tsc -p packages/web/tsconfig.json)');
}

async function main() {
  if (!process.argv.includes('--no-typecheck')) typecheck();
  fs.mkdirSync(out, { recursive: true });
  for (const f of fs.readdirSync(path.join(here, 'www'))) fs.copyFileSync(path.join(here, 'www', f), path.join(out, f));
  const wasmDir = path.dirname(require.resolve('@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm-simd.wasm'));
  for (const f of fs.readdirSync(wasmDir).filter((n) => n.endsWith('.wasm'))) fs.copyFileSync(path.join(wasmDir, f), path.join(out, f));
  // The torchvision fixtures the RoIAlign parity page checks against (the Node tests' file).
  const roiAlignDir = path.dirname(require.resolve('@scrl/roi-align/package.json'));
  fs.copyFileSync(path.join(roiAlignDir, 'src', '__fixtures__', 'roi_align.json'), path.join(out, 'roi_align.json'));
  const entryPoints = {};
  for (const name of ['main', 'parity']) {
    const file = path.join(here, 'src', 'page', `${name}.ts`);
    if (fs.existsSync(file)) entryPoints[name] = file;
  }
  const options = {
    entryPoints,
    bundle: true,
    platform: 'browser',
    format: 'esm',
    target: 'es2022',
    outdir: out,
    sourcemap: true,
    plugins: [singleTfjsCore],
    logLevel: 'warning',
    define: { 'process.env.NODE_ENV': '"production"' },
  };
  if (process.argv.includes('--watch')) {
    const ctx = await esbuild.context(options);
    await ctx.watch();
    console.log(`watching; output in ${out}`);
  } else {
    await esbuild.build(options);
  }
}

main().catch((err) => {
  console.error(err.message ?? err);
  process.exit(1);
});
