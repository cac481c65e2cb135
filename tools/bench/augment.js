#!/usr/bin/env node
/**
 * Throughput of @scrl/augment's per-image path (decode, two SCRL views of 224 px, box pairs)
 * against torchvision transforms on PIL images (tools/bench/augment_torch.py), measured in the
 * same run on the same JPEG files. Requires the built package (`npm run build` or
 * `npx tsc -b packages/augment`) and /usr/bin/python3 with torchvision.
 *
 *   node tools/bench/augment.js [--images 200] [--files 8] [--dir /tmp/scrl-augment-bench] [--json FILE]
 *
 * Inputs: `--files` generated 640x480 "natural-ish" JPEGs (smooth gradients, sinusoids, shapes,
 * noise, quality 90), written once to `--dir`; both sides read the same bytes into memory first.
 * Both sides run single-process: TF.js is not involved; sharp gets one libvips thread
 * (sharp.concurrency(1)) and this script sets UV_THREADPOOL_SIZE=1 for itself, torch gets
 * torch.set_num_threads(1). Modes: `decode` (JPEG bytes -> views + pairs) and `predecoded`
 * (RGB pixels -> views + pairs). Two JS variants: `sequential` renders view 1 then view 2
 * (one thread busy at a time), `viewPair` renders both concurrently as the data loader does.
 * The machine is shared, so load changes during a run: the two sides run alternately in rounds
 * of `--chunk` images (Python stays up as a server), and each side's totals are summed over
 * all rounds. Prints images/s, CPU ms per image, and the ratios JS / PyTorch.
 */
if (process.env.UV_THREADPOOL_SIZE !== '1') {
  // Must be set before libuv starts its pool: re-exec ourselves with it.
  const { spawnSync } = require('node:child_process');
  const r = spawnSync(process.execPath, process.argv.slice(1), { stdio: 'inherit', env: { ...process.env, UV_THREADPOOL_SIZE: '1' } });
  process.exit(r.status ?? 1);
}
const { spawn } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const root = path.join(__dirname, '..', '..');
const sharp = require('sharp');
const aug = require('@scrl/augment');
const { arg } = require('../args');

const nImages = Number(arg('images', '200'));
const chunk = Number(arg('chunk', '10'));
const nFiles = Number(arg('files', '8'));
const dir = arg('dir', path.join(os.tmpdir(), 'scrl-augment-bench'));

/** A 640x480 photo stand-in: gradients, sinusoids, filled shapes, noise; deterministic per index. */
async function makeImage(index, file) {
  const W = 640;
  const H = 480;
  const r = aug.createRng(`bench-image-${index}`);
  const px = new Float32Array(W * H * 3);
  const base = [0, 1, 2].map(() => [r.uniform(40, 200), r.uniform(-80, 80), r.uniform(-80, 80)]);
  const waves = Array.from({ length: 4 }, () => [r.uniform(0.005, 0.05), r.uniform(0.005, 0.05), r.uniform(0, 6.28), r.uniform(5, 30), r.int(0, 2)]);
  for (let y = 0; y < H; y++) {
    for (let x = 0; x < W; x++) {
      const p = (y * W + x) * 3;
      for (let c = 0; c < 3; c++) px[p + c] = base[c][0] + (base[c][1] * x) / W + (base[c][2] * y) / H;
      for (const [fx, fy, ph, amp, c] of waves) px[p + c] += amp * Math.sin(fx * x + fy * y + ph);
    }
  }
  for (let s = 0; s < 25; s++) {
    const cx = r.uniform(0, W), cy = r.uniform(0, H), rx = r.uniform(10, 120), ry = r.uniform(10, 120);
    const col = [r.uniform(0, 255), r.uniform(0, 255), r.uniform(0, 255)];
    const ellipse = r.bool(0.5);
    for (let y = Math.max(0, Math.floor(cy - ry)); y < Math.min(H, cy + ry); y++) {
      for (let x = Math.max(0, Math.floor(cx - rx)); x < Math.min(W, cx + rx); x++) {
        if (ellipse && ((x - cx) / rx) ** 2 + ((y - cy) / ry) ** 2 > 1) continue;
        const p = (y * W + x) * 3;
        const shade = 0.8 + 0.2 * ((y - cy + ry) / (2 * ry));
        for (let c = 0; c < 3; c++) px[p + c] = col[c] * shade;
      }
    }
  }
  const bytes = new Uint8Array(W * H * 3);
  for (let i = 0; i < bytes.length; i++) bytes[i] = Math.max(0, Math.min(255, Math.round(px[i] + (r.next() + r.next() + r.next() - 1.5) * 12)));
  await sharp(bytes, { raw: { width: W, height: H, channels: 3 } }).blur(0.7).jpeg({ quality: 90 }).toFile(file);
}

async function decode(buf) {
  const { data, info } = await sharp(buf).removeAlpha().raw().toBuffer({ resolveWithObject: true });
  return { data: new Uint8Array(data.buffer, data.byteOffset, data.length), width: info.width, height: info.height };
}

function makeJsRunner(blobs, decoded) {
  const pipe = aug.createViewPipeline();
  const root = aug.createRng('bench');
  let k = 0;
  return async (n, mode, variant) => {
    let pairs = 0;
    const t0 = process.hrtime.bigint();
    const c0 = process.cpuUsage();
    for (let i = 0; i < n; i++, k++) {
      const image = mode === 'decode' ? await decode(blobs[k % blobs.length]) : decoded[k % decoded.length];
      const rng = root.fork(k);
      let v1, v2;
      if (variant === 'viewPair') {
        [v1, v2] = await pipe.viewPair(image, rng);
      } else {
        const d1 = pipe.decide(image, rng, 1);
        const d2 = pipe.decide(image, rng, 2);
        v1 = await pipe.apply(image, d1);
        v2 = await pipe.apply(image, d2);
      }
      pairs += aug.sampleBoxPairs(v1.geometry, v2.geometry, { viewSize: 224 }, rng).length;
    }
    const cpu = process.cpuUsage(c0);
    return { images: n, wall_s: Number(process.hrtime.bigint() - t0) / 1e9, cpu_s: (cpu.user + cpu.system) / 1e6, pairs };
  };
}

/** The Python side as a line-based server (augment_torch.py --serve). */
function startTorch() {
  const child = spawn('/usr/bin/python3', [path.join(__dirname, 'augment_torch.py'), '--dir', dir, '--serve'], {
    env: { ...process.env, OMP_NUM_THREADS: '1', MKL_NUM_THREADS: '1' },
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const lines = [];
  const waiting = [];
  let buf = '';
  child.stdout.on('data', (d) => {
    buf += d;
    let i;
    while ((i = buf.indexOf('\n')) >= 0) {
      const line = JSON.parse(buf.slice(0, i));
      buf = buf.slice(i + 1);
      if (waiting.length) waiting.shift()(line);
      else lines.push(line);
    }
  });
  const next = () => (lines.length ? Promise.resolve(lines.shift()) : new Promise((resolve) => waiting.push(resolve)));
  return {
    ready: next,
    run(n, mode) {
      child.stdin.write(`${mode} ${n}\n`);
      return next();
    },
    close: () => child.stdin.end(),
  };
}

function add(total, r) {
  for (const key of ['images', 'wall_s', 'cpu_s', 'pairs']) total[key] = (total[key] ?? 0) + r[key];
  return total;
}

async function main() {
  sharp.concurrency(1);
  sharp.cache(false);
  fs.mkdirSync(dir, { recursive: true });
  const files = [];
  for (let i = 0; i < nFiles; i++) {
    const f = path.join(dir, `photo-${i}.jpg`);
    if (!fs.existsSync(f)) await makeImage(i, f);
    files.push(f);
  }
  const blobs = files.map((f) => fs.readFileSync(f));
  const decoded = await Promise.all(blobs.map(decode));
  console.log(`[augment bench] ${nFiles} JPEGs 640x480 in ${dir}, ${nImages} images per measurement, views 224 px, 10 pairs`);
  console.log(`[augment bench] node ${process.version}, sharp ${sharp.versions.sharp} (libvips ${sharp.versions.vips}), concurrency ${sharp.concurrency()}, UV_THREADPOOL_SIZE ${process.env.UV_THREADPOOL_SIZE}, ${os.cpus().length} CPUs, load ${os.loadavg().map((x) => x.toFixed(2)).join(' ')}`);

  const runJs = makeJsRunner(blobs, decoded);
  const torch = startTorch();
  const info = await torch.ready();
  console.log(`[augment bench] torch ${info.torch}, torchvision ${info.torchvision}, PIL ${info.pil} (1 thread); rounds of ${chunk} images, sides alternating`);
  await runJs(16, 'decode', 'sequential'); // warm-up (JIT, caches); Python warmed up on start
  const totals = {};
  let torchMaxRssKb = 0;
  const torchRun = async (n, mode) => {
    const r = await torch.run(n, mode);
    torchMaxRssKb = Math.max(torchMaxRssKb, r.maxRssKb ?? 0);
    return r;
  };
  for (const mode of ['decode', 'predecoded']) {
    for (let done = 0; done < nImages; done += chunk) {
      const n = Math.min(chunk, nImages - done);
      add((totals[`torch/${mode}`] ??= {}), await torchRun(n, mode));
      for (const variant of ['sequential', 'viewPair']) add((totals[`js/${mode}/${variant}`] ??= {}), await runJs(n, mode, variant));
    }
  }
  torch.close();
  const rate = (r) => r.images / r.wall_s;
  const cpu = (r) => r.cpu_s / r.images;
  const fmt = (r) => `${rate(r).toFixed(1).padStart(6)} img/s  ${(cpu(r) * 1000).toFixed(1).padStart(6)} ms CPU/img`;
  for (const mode of ['decode', 'predecoded']) {
    const t = totals[`torch/${mode}`];
    console.log(`\n${mode} (${t.images} images per side):`);
    console.log(`  pytorch (PIL + torchvision)   ${fmt(t)}`);
    for (const variant of ['sequential', 'viewPair']) {
      const r = totals[`js/${mode}/${variant}`];
      console.log(`  @scrl/augment ${variant.padEnd(15)} ${fmt(r)}   throughput x${(rate(r) / rate(t)).toFixed(2)}, CPU/img x${(cpu(t) / cpu(r)).toFixed(2)}`);
    }
  }
  console.log(`\nload after: ${os.loadavg().map((x) => x.toFixed(2)).join(' ')}`);
  console.log(JSON.stringify(totals));
  const jsonFile = arg('json', null);
  if (jsonFile) {
    const rows = [];
    for (const mode of ['decode', 'predecoded']) {
      const t = totals[`torch/${mode}`];
      for (const variant of ['sequential', 'viewPair']) {
        const r = totals[`js/${mode}/${variant}`];
        rows.push({ mode, variant, images: r.images, oursImagesPerSec: rate(r), torchImagesPerSec: rate(t), oursCpuMsPerImage: cpu(r) * 1000, torchCpuMsPerImage: cpu(t) * 1000 });
      }
    }
    fs.writeFileSync(
      jsonFile,
      JSON.stringify({
        bench: 'augment', images: nImages, chunk, files: nFiles, sharp: sharp.versions.sharp, libvips: sharp.versions.vips,
        torch: { torch: info.torch, torchvision: info.torchvision, pil: info.pil, python: info.python, threads: 1, maxRssKb: torchMaxRssKb },
        rows, node: process.version, maxRssKb: process.resourceUsage().maxRSS, loadavgEnd: os.loadavg(),
      }, null, 1),
    );
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
