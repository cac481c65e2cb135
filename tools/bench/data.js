#!/usr/bin/env node
/**
 * Throughput of @scrl/data's view-pair loader (worker threads: decode, two SCRL views of 224 px,
 * box pairs, batching) against a PyTorch DataLoader with torchvision transforms
 * (tools/bench/data_torch.py), with 1 and 2 workers, on the same image files, in the same run.
 * Requires the built packages (`npm run build`) and /usr/bin/python3 with torchvision.
 *
 *   node tools/bench/data.js [--images 128] [--size 320] [--batch 16] [--epochs 2] [--dir DIR]
 *                            [--workers 1,2] [--json FILE]
 *
 * Images: built-in scenes generated at --size px (seed 0), saved as JPEG quality 90 in DIR.
 * Both sides: shuffle, drop the last partial batch, persistent workers, timing from the first
 * batch to the end of the last epoch (start-up excluded). Library thread settings are left at
 * their defaults on both sides (sharp/libvips and torch in DataLoader workers).
 * Prints view pairs/s and box pairs/s for each side and the ratio JS / PyTorch, and CPU seconds
 * per view pair over the whole run (all threads / processes, start-up included), which is less
 * sensitive than wall time to other load on a shared machine.
 */
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const root = path.join(__dirname, '..', '..');
const data = require('@scrl/data');
const sharp = require('sharp');
const { arg } = require('../args');

const nImages = Number(arg('images', '128'));
const size = Number(arg('size', '320'));
const batchSize = Number(arg('batch', '16'));
const epochs = Number(arg('epochs', '2'));
const dir = arg('dir', path.join(os.tmpdir(), `scrl-data-bench-${nImages}-${size}`));

async function prepareImages() {
  const scenes = path.join(dir, 'scenes');
  const jpgDir = path.join(dir, 'jpg');
  await data.ensureScenes(scenes, { images: nImages, seed: 0, size });
  if (!fs.existsSync(jpgDir) || fs.readdirSync(jpgDir).length !== nImages) {
    fs.rmSync(jpgDir, { recursive: true, force: true });
    fs.mkdirSync(jpgDir, { recursive: true });
    const ds = await data.loadScenes(scenes);
    for (const im of ds.images) {
      await sharp(im.file).jpeg({ quality: 90 }).toFile(path.join(jpgDir, path.basename(im.file, '.png') + '.jpg'));
    }
  }
  return jpgDir;
}

async function runJs(files, workers) {
  const loader = data.createViewPairLoader(files, { batchSize, workers, viewSize: 224, seed: 0 });
  let pairs = 0;
  let boxes = 0;
  let t0 = null;
  const c0 = process.cpuUsage(); // whole process: the worker threads included
  try {
    for (let epoch = 0; epoch < epochs; epoch++) {
      for await (const b of loader.epoch(epoch)) {
        if (t0 === null) {
          t0 = process.hrtime.bigint(); // first batch: start-up excluded
          continue;
        }
        pairs += b.batchSize;
        for (const p of b.boxPairs) boxes += p.length;
      }
    }
  } finally {
    await loader.close();
  }
  const wall = Number(process.hrtime.bigint() - t0) / 1e9;
  const cpu = process.cpuUsage(c0);
  const cpuPerPair = (cpu.user + cpu.system) / 1e6 / (pairs + batchSize);
  return { workers, pairs, boxes, wall_s: wall, pairs_per_s: pairs / wall, boxes_per_s: boxes / wall, cpu_s_per_pair: cpuPerPair };
}

function runTorch(imageDir, workers) {
  const py = spawnSync(
    '/usr/bin/python3',
    [path.join(__dirname, 'data_torch.py'), '--dir', imageDir, '--workers', String(workers), '--batch', String(batchSize), '--epochs', String(epochs)],
    { encoding: 'utf8' },
  );
  if (py.status !== 0) throw new Error(`data_torch.py failed (${py.status}): ${py.stderr}`);
  return JSON.parse(py.stdout.trim().split('\n').pop());
}

async function main() {
  const imageDir = await prepareImages();
  const files = fs.readdirSync(imageDir).sort().map((f) => path.join(imageDir, f));
  console.log(
    `[data bench] ${files.length} JPEG scenes ${size}x${size} in ${imageDir}; batch ${batchSize}, ${epochs} epochs, views 224 px, 10 box pairs/image`,
  );
  console.log(
    `[data bench] node ${process.version}, sharp ${sharp.versions.sharp}, ${os.cpus().length} CPUs, load ${os.loadavg().map((x) => x.toFixed(2)).join(' ')}`,
  );
  const results = [];
  for (const workers of arg('workers', '1,2').split(',').map(Number)) {
    const js = await runJs(files, workers);
    const torch = runTorch(imageDir, workers);
    results.push({ workers, js, torch });
    console.log(
      `workers ${workers}:  @scrl/data ${js.pairs_per_s.toFixed(2)} pairs/s (${js.boxes_per_s.toFixed(1)} box pairs/s)  ` +
        `torch DataLoader ${torch.pairs_per_s.toFixed(2)} pairs/s (${torch.boxes_per_s.toFixed(1)} box pairs/s)  ` +
        `ratio JS/PyTorch x${(js.pairs_per_s / torch.pairs_per_s).toFixed(2)}; ` +
        `CPU per pair ${(js.cpu_s_per_pair * 1000).toFixed(0)} ms vs ${(torch.cpu_s_per_pair * 1000).toFixed(0)} ms`,
    );
  }
  console.log(`[data bench] load after: ${os.loadavg().map((x) => x.toFixed(2)).join(' ')}`);
  console.log(JSON.stringify(results));
  const jsonFile = arg('json', null);
  if (jsonFile) {
    const t = results[0]?.torch ?? {};
    fs.writeFileSync(
      jsonFile,
      JSON.stringify({
        bench: 'data', images: files.length, size, batch: batchSize, epochs, sharp: sharp.versions.sharp,
        torch: { torch: t.torch, maxRssKb: Math.max(...results.map((r) => r.torch.maxRssKb ?? 0)), workerMaxRssKb: Math.max(...results.map((r) => r.torch.workerMaxRssKb ?? 0)) },
        rows: results, node: process.version, maxRssKb: process.resourceUsage().maxRSS, loadavgEnd: os.loadavg(),
      }, null, 1),
    );
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
