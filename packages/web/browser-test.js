#!/usr/bin/env node
/**
 * Tests in a real browser (issue 16, item 4): `npm run test:browser`.
 *
 * Builds the page, serves it on localhost and drives Debian's Chromium (/usr/bin/chromium, or
 * $CHROMIUM_PATH) headless with playwright-core (no browser download). WebGL2 and WebGPU run on
 * SwiftShader. Checks:
 *   - RoIAlign parity: the webgl and webgpu kernels, forward and gradient, against torchvision's
 *     fixtures (the Node tests' file and tolerance);
 *   - the page, on each of webgpu, webgl and wasm: a few SCRL steps (and BYOL on wasm) with a
 *     finite, falling loss, the box pairs drawn on both views in the pair colours, a screenshot;
 *   - on wasm: the box probe against random init, and the backbone download, which must load
 *     the way `scrl eval --init FILE.safetensors` loads it.
 * SCRL_BROWSER_BACKENDS=wasm narrows the page runs (probe and download run with wasm);
 * SCRL_BROWSER_GPU=1 drops the SwiftShader flags, to time a machine's own GPU.
 * Prints one line per check, the step speed per backend, and `N passed, N failed`; exits 1 on a
 * failure. Screenshots and the downloaded backbone go to $SCRL_BROWSER_OUT (default
 * runs/browser-test).
 */
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { spawnSync } = require('node:child_process');

const ROOT = path.join(__dirname, '..', '..');
const OUT = path.resolve(process.env.SCRL_BROWSER_OUT ?? path.join(ROOT, 'runs', 'browser-test'));
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
/** SwiftShader (CPU) WebGL2/WebGPU by default; SCRL_BROWSER_GPU=1 leaves the browser its GPU. */
const USE_GPU = process.env.SCRL_BROWSER_GPU === '1';
const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-background-networking',
  '--disable-component-update',
  '--no-first-run',
  '--enable-unsafe-webgpu',
  '--enable-features=Vulkan',
  ...(USE_GPU ? [] : ['--enable-unsafe-swiftshader', '--use-angle=swiftshader']),
];
/** The page run per backend: small and with a high base LR, so that the loss falls within a few steps. */
const PAGE_RUN = { method: 'scrl', steps: 8, batch: 4, lr: 8 };
const PAIR_COLOUR_0 = [230, 25, 75];
/** Backends the page is run on; SCRL_BROWSER_BACKENDS=wasm (comma-separated) narrows a quick run. */
const PAGE_BACKENDS = (process.env.SCRL_BROWSER_BACKENDS ?? 'webgpu,webgl,wasm').split(',').filter(Boolean);

const results = [];
function record(name, ok, detail) {
  results.push({ name, ok });
  console.log(`${ok ? 'PASS' : 'FAIL'} ${name}${detail ? `: ${detail}` : ''}`);
}

async function check(name, fn) {
  try {
    const detail = await fn();
    record(name, true, detail);
  } catch (err) {
    record(name, false, err.message);
  }
}

function assert(cond, message) {
  if (!cond) throw new Error(message);
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.floor(s.length / 2)] : NaN;
};

async function main() {
  if (!fs.existsSync(CHROMIUM)) {
    console.log(`FAIL chromium: ${CHROMIUM} is missing. Install Debian's chromium (apt-get install chromium) or set CHROMIUM_PATH.`);
    console.log('browser: 0 passed, 1 failed');
    process.exit(1);
  }
  const built = spawnSync(process.execPath, [path.join(__dirname, 'build.js')], { stdio: 'inherit' });
  if (built.status !== 0) {
    console.log('FAIL build: node packages/web/build.js failed');
    console.log('browser: 0 passed, 1 failed');
    process.exit(1);
  }
  fs.mkdirSync(OUT, { recursive: true });
  const { chromium } = require('playwright-core');
  const { startServer } = require('./serve.js');
  const { server, url } = await startServer(0);
  const userDataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'scrl-chromium-'));
  const context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: CHROMIUM,
    headless: true,
    args: CHROMIUM_ARGS,
    acceptDownloads: true,
    viewport: { width: 1280, height: 760 },
  });
  const speeds = [];
  try {
    // ---- RoIAlign parity ----
    const parityPage = await context.newPage();
    await parityPage.goto(`${url}parity.html?backends=webgl,webgpu`);
    await parityPage.waitForFunction(() => window.parityResult, null, { timeout: 300000 });
    const parity = await parityPage.evaluate(() => window.parityResult);
    await parityPage.close();
    for (const backend of ['webgl', 'webgpu']) {
      await check(`RoIAlign parity on ${backend} (torchvision fixtures, forward and gradient)`, () => {
        assert(!parity.error, parity.error);
        const r = parity.results.find((x) => x.backend === backend);
        assert(r && r.started, `${backend} did not start in Chromium`);
        assert(r.kernel, `no RoiAlign/RoiAlignGrad kernel registered for ${backend}`);
        assert(r.cases > 0 && r.failures.length === 0, `${r.failures.length} of ${r.cases} cases off: ${r.failures.slice(0, 3).join('; ')}`);
        assert(r.leakedTensors === 0, `${r.leakedTensors} tensors leaked`);
        assert(r.large, 'the large case did not run');
        return (
          `${r.cases} cases, worst relative error forward ${r.worstForward.toExponential(2)}, gradient ${r.worstGrad.toExponential(2)} (torchvision ${parity.torchvision}); ` +
          `large case ${r.large.shape.join('x')} with ${r.large.boxes} boxes against the cpu kernel: forward ${r.large.forward.toExponential(2)}, gradient ${r.large.grad.toExponential(2)}`
        );
      });
    }

    // ---- the page on each backend (SCRL), and BYOL on wasm ----
    let wasmPage = null;
    const runs = [...PAGE_BACKENDS.map((backend) => ({ backend, method: 'scrl' })), { backend: 'wasm', method: 'byol' }];
    for (const { backend, method } of runs) {
      const run = { ...PAGE_RUN, method };
      const page = await context.newPage();
      const errors = [];
      page.on('pageerror', (e) => errors.push(e.message));
      const q = new URLSearchParams({ backend, ...Object.fromEntries(Object.entries(run).map(([k, v]) => [k, String(v)])), autorun: '1' });
      const t0 = Date.now();
      await check(`page on ${backend}: ${run.steps} ${method.toUpperCase()} steps, finite falling loss, box pairs drawn`, async () => {
        await page.goto(`${url}?${q}`);
        await page.waitForFunction(() => window.scrl && (window.scrl.error || (window.scrl.step > 0 && !window.scrl.running)), null, { timeout: 540000 });
        const s = await page.evaluate(() => window.scrl);
        await page.screenshot({ path: path.join(OUT, `page-${backend}-${method}.png`) });
        assert(!s.error && errors.length === 0, s.error ?? errors[0]);
        assert(s.backends.includes(backend), `${backend} did not start in Chromium (started: ${s.backends.join(', ')})`);
        assert(s.backend === backend && s.method === method, `the page ran ${s.method} on ${s.backend}, not ${method} on ${backend}`);
        assert(s.step === run.steps && s.losses.length === run.steps, `ran ${s.step} steps with ${s.losses.length} losses`);
        assert(s.losses.every(Number.isFinite), `non-finite loss: ${s.losses.join(', ')}`);
        const mean = (xs) => xs.reduce((a, b) => a + b, 0) / xs.length;
        const first = mean(s.losses.slice(0, 3));
        const last = mean(s.losses.slice(-3));
        assert(last < first, `loss did not fall: first 3 steps ${first.toFixed(4)}, last 3 ${last.toFixed(4)}`);
        assert(s.pairsDrawn > 0, 'no box pair drawn');
        // The first pair's colour must be on both view canvases.
        const painted = await page.evaluate((rgb) => {
          return ['view1', 'view2'].map((id) => {
            const c = document.getElementById(id);
            const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
            let n = 0;
            for (let i = 0; i < d.length; i += 4) {
              if (Math.abs(d[i] - rgb[0]) + Math.abs(d[i + 1] - rgb[1]) + Math.abs(d[i + 2] - rgb[2]) < 12) n++;
            }
            return n;
          });
        }, PAIR_COLOUR_0);
        assert(painted[0] >= 20 && painted[1] >= 20, `pair colour pixels on the views: ${painted.join(', ')}`);
        const ips = median(s.imagesPerSecond.slice(1));
        if (method === 'scrl') speeds.push({ backend, imagesPerSecond: ips, secondsPerStep: run.batch / ips });
        return `loss ${s.losses[0].toFixed(4)} -> ${s.losses[s.losses.length - 1].toFixed(4)} (first/last 3: ${first.toFixed(4)}/${last.toFixed(4)}), ${s.pairsDrawn} pairs drawn, ${ips.toFixed(2)} images/s, ${((Date.now() - t0) / 1000).toFixed(0)} s`;
      });
      if (backend === 'wasm' && method === 'scrl') wasmPage = page;
      else await page.close();
    }

    // ---- probe and download (wasm) ----
    if (wasmPage) {
      await check('page: box probe of the pretrained backbone and of random init', async () => {
        await wasmPage.click('#probe');
        await wasmPage.waitForFunction(() => window.scrl.error || window.scrl.probe.length === 2, null, { timeout: 300000 });
        const s = await wasmPage.evaluate(() => window.scrl);
        assert(!s.error, s.error);
        for (const p of s.probe) assert(p.top1 >= 0 && p.top1 <= 1 && p.knnTop1 >= 0 && p.knnTop1 <= 1, `bad probe row ${JSON.stringify(p)}`);
        await wasmPage.screenshot({ path: path.join(OUT, 'page-probe.png') });
        return s.probe.map((p) => `${p.init} top-1 ${(100 * p.top1).toFixed(1)} %, kNN ${(100 * p.knnTop1).toFixed(1)} %`).join('; ');
      });
      await check('page: the downloaded backbone loads as scrl eval loads it (torchvision-named safetensors)', async () => {
        const [download] = await Promise.all([wasmPage.waitForEvent('download'), wasmPage.click('#download')]);
        const file = path.join(OUT, download.suggestedFilename());
        await download.saveAs(file);
        const { initBackend } = require('@scrl/roi-align');
        const { backboneFromInit, presetConfig } = require('@scrl/trainer');
        await initBackend({ backend: 'cpu', log: null });
        const lines = [];
        const { model } = backboneFromInit(file, presetConfig('cpu'), { log: (line) => lines.push(line) });
        try {
          const names = model.parameters().map((p) => p.name);
          assert(names.includes('conv1.weight') && names.includes('layer4.1.bn2.weight'), `unexpected names ${names.slice(0, 4).join(', ')}`);
        } finally {
          model.dispose();
        }
        return `${path.relative(ROOT, file)} (${fs.statSync(file).size} bytes): ${lines.join(' ')}`;
      });
      await wasmPage.close();
    }

    // ---- a folder of images from disk (the <input webkitdirectory>), on wasm ----
    await check('page: pretrains on a folder of images from disk', async () => {
      const folder = path.join(OUT, 'folder');
      fs.rmSync(folder, { recursive: true, force: true });
      fs.mkdirSync(folder, { recursive: true });
      const images = path.join(ROOT, 'docs', 'images');
      const pngs = fs.readdirSync(images).filter((f) => f.endsWith('.png'));
      for (const f of pngs) fs.copyFileSync(path.join(images, f), path.join(folder, f));
      fs.writeFileSync(path.join(folder, 'notes.txt'), 'not an image: skipped by the page\n');
      const page = await context.newPage();
      try {
        await page.goto(`${url}?backend=wasm&steps=3&batch=4`);
        await page.waitForFunction(() => window.scrl && window.scrl.images.count > 0, null, { timeout: 60000 });
        await page.setInputFiles('#folder', folder);
        await page.waitForFunction(() => window.scrl.images.label.includes('from the folder') || window.scrl.error, null, { timeout: 60000 });
        await page.click('#start');
        await page.waitForFunction(() => window.scrl.error || (window.scrl.step === 3 && !window.scrl.running), null, { timeout: 120000 });
        const s = await page.evaluate(() => window.scrl);
        await page.screenshot({ path: path.join(OUT, 'page-folder.png') });
        assert(!s.error, s.error);
        assert(s.images.count === pngs.length, `read ${s.images.count} images, the folder has ${pngs.length} PNGs`);
        assert(s.losses.length === 3 && s.losses.every(Number.isFinite), `losses ${s.losses.join(', ')}`);
        assert(s.pairsDrawn > 0, 'no box pair drawn');
        return `${s.images.label}; losses ${s.losses.map((l) => l.toFixed(4)).join(', ')}`;
      } finally {
        await page.close();
      }
    });
  } finally {
    await context.close();
    server.close();
    fs.rmSync(userDataDir, { recursive: true, force: true });
  }
  for (const s of speeds) {
    console.log(`speed ${s.backend}: ${s.imagesPerSecond.toFixed(2)} images/s, ${s.secondsPerStep.toFixed(2)} s per step of ${PAGE_RUN.batch} images (median of steps 2-${PAGE_RUN.steps})`);
  }
  fs.writeFileSync(path.join(OUT, 'speeds.json'), JSON.stringify({ run: PAGE_RUN, speeds }, null, 1));
  const passed = results.filter((r) => r.ok).length;
  const failed = results.length - passed;
  console.log(`browser: ${passed} passed, ${failed} failed`);
  console.log(`${passed} passed, ${failed} failed`);
  process.exit(failed ? 1 : 0);
}

main().catch((err) => {
  console.log(`FAIL browser tests: ${err.stack ?? err}`);
  console.log('browser: 0 passed, 1 failed');
  console.log('0 passed, 1 failed');
  process.exit(1);
});
