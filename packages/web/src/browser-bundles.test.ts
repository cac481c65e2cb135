/**
 * Item 1 of issue 16: every library package's browser entry (the `browser` condition of its
 * exports map) bundles for the browser with no Node built-in and no sharp. Bundles the built
 * `dist/` files as a browser app would, through the workspace's node_modules links.
 */
import * as path from 'node:path';
import { build, type BuildFailure } from 'esbuild';

const ROOT = path.join(__dirname, '..', '..', '..');
const ENTRIES = ['util', 'roi-align', 'augment', 'models', 'loss', 'optim', 'trainer', 'eval', 'data'].map((p) => `@scrl/${p}`);

/**
 * Bundles `export * from entry` for the browser; returns esbuild's errors. A Node built-in
 * (`node:fs`, `worker_threads`, ...) or sharp's native addon cannot be resolved there and is an
 * error; modules that a package's own `browser` field maps to `false` (tfjs-core's `util`,
 * `crypto`) are left out, as in any browser bundler.
 */
async function bundleErrors(entry: string): Promise<string[]> {
  try {
    const result = await build({
      stdin: { contents: `export * from '${entry}';`, resolveDir: ROOT, loader: 'js' },
      bundle: true,
      platform: 'browser',
      format: 'esm',
      write: false,
      logLevel: 'silent',
    });
    if (result.outputFiles[0].text.length === 0) return ['empty bundle'];
    return [];
  } catch (err) {
    return ((err as BuildFailure).errors ?? [{ text: String(err) }]).map((e) => e.text);
  }
}

describe('browser entries', () => {
  it.each(ENTRIES)('%s bundles for the browser with no Node built-in', async (entry) => {
    expect({ entry, errors: await bundleErrors(entry) }).toEqual({ entry, errors: [] });
  });

  it('the check fails on Node built-ins: the Node entry of @scrl/trainer has them', async () => {
    const errors = await bundleErrors('./packages/trainer/dist/index.js');
    expect(errors.some((e) => e.includes('"node:fs"'))).toBe(true);
  });
});
