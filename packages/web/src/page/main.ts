/**
 * The page (issue 16, item 3): images (generated scenes, or a folder from the user's disk), two
 * augmented views with their matched box pairs, live SCRL/BYOL pretraining on the best backend
 * (webgpu, webgl, wasm; selectable) with a loss chart and images/s, the box probe against
 * random init, and the backbone as torchvision-named safetensors for `scrl eval`.
 *
 * URL parameters (used by the browser tests, handy by hand): `backend`, `method`, `steps`,
 * `batch`, `lr` (LARS base learning rate, before the batch/256 scaling; default the cpu
 * preset's), `autorun=1`. The page's state is mirrored in `window.scrl` (see PageStatus).
 */
import { availableBackends, type BrowserBackend, useBackend } from './backends';
import * as tf from '@tensorflow/tfjs-core';
import { createRng, createViewPipeline, PAIR_COLOURS, sampleBoxPairs, type BoxPair, type RgbImage, type View } from '@scrl/augment';
import { renderScene, SCENE_CLASSES } from '@scrl/data';
import { boxProbe, type BoxProbeResult, type DetectionCategory, type DetectionSample } from '@scrl/eval';
import { createResNet, exportTorchvisionWeights } from '@scrl/models';
import {
  createPretrainModel,
  disposePretrainModel,
  learningRateAt,
  momentumAt,
  presetConfig,
  pretrainStep,
  scaledLearningRate,
  validateConfig,
  type PretrainBatch,
  type PretrainModel,
  type TrainConfig,
} from '@scrl/trainer';

/** What the page shows, for scripts and tests. */
export interface PageStatus {
  backends: BrowserBackend[];
  backend: string | null;
  running: boolean;
  method: string;
  step: number;
  steps: number;
  losses: number[];
  imagesPerSecond: number[];
  /** The images pretraining uses: how many, and from where. */
  images: { count: number; label: string };
  /** Box pairs drawn on the two view canvases at the last step. */
  pairsDrawn: number;
  probe: Array<{ init: string; top1: number; knnTop1: number }>;
  error: string | null;
}

const status: PageStatus = {
  backends: [],
  backend: null,
  running: false,
  method: 'scrl',
  step: 0,
  steps: 0,
  losses: [],
  imagesPerSecond: [],
  images: { count: 0, label: '' },
  pairsDrawn: 0,
  probe: [],
  error: null,
};
(window as unknown as { scrl: PageStatus }).scrl = status;

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
const params = new URLSearchParams(location.search);
const SCENE_SIZE = 96;
const SCENE_SEED = 16;
const PROBE_SEED = 1016;

function log(line: string): void {
  const el = $('log');
  el.textContent += `${new Date().toISOString().slice(11, 19)} ${line}\n`;
  el.scrollTop = el.scrollHeight;
  console.log(`[scrl] ${line}`);
}

function fail(err: unknown): void {
  status.error = String((err as Error)?.message ?? err);
  status.running = false;
  log(`error: ${status.error}`);
  setButtons();
}

// ---- images ----

let images: RgbImage[] = [];
let imagesLabel = '';

function scenes(seed: number, count: number): ReturnType<typeof renderScene>[] {
  return Array.from({ length: count }, (_, i) => renderScene(seed, i, { size: SCENE_SIZE }));
}

function setImages(list: RgbImage[], label: string): void {
  images = list;
  imagesLabel = label;
  status.images = { count: list.length, label };
  log(`images: ${label}`);
}

function useScenes(): void {
  setImages(scenes(SCENE_SEED, 256).map((s) => s.image), `256 generated scenes (${SCENE_SIZE} px)`);
}

/** Decodes image files with the browser, each scaled to at most `maxSide` px, as RGB bytes. */
async function loadFolder(files: File[], maxSide = 256): Promise<RgbImage[]> {
  const out: RgbImage[] = [];
  const canvas = document.createElement('canvas');
  const ctx = canvas.getContext('2d', { willReadFrequently: true }) as CanvasRenderingContext2D;
  for (const file of files.filter((f) => f.type.startsWith('image/'))) {
    try {
      const bitmap = await createImageBitmap(file);
      const s = Math.min(1, maxSide / Math.max(bitmap.width, bitmap.height));
      canvas.width = Math.max(1, Math.round(bitmap.width * s));
      canvas.height = Math.max(1, Math.round(bitmap.height * s));
      ctx.drawImage(bitmap, 0, 0, canvas.width, canvas.height);
      const rgba = ctx.getImageData(0, 0, canvas.width, canvas.height).data;
      const data = new Uint8Array(canvas.width * canvas.height * 3);
      for (let i = 0, j = 0; i < rgba.length; i += 4, j += 3) {
        data[j] = rgba[i];
        data[j + 1] = rgba[i + 1];
        data[j + 2] = rgba[i + 2];
      }
      out.push({ data, width: canvas.width, height: canvas.height });
    } catch (err) {
      log(`skipped ${file.name}: ${(err as Error).message}`);
    }
  }
  return out;
}

// ---- views and box pairs ----

const MEAN = [0.485, 0.456, 0.406];
const STD = [0.229, 0.224, 0.225];

function drawView(canvas: HTMLCanvasElement, view: View, boxes: Array<[number, number, number, number]>): void {
  const S = view.size;
  const off = document.createElement('canvas');
  off.width = S;
  off.height = S;
  const octx = off.getContext('2d') as CanvasRenderingContext2D;
  const img = octx.createImageData(S, S);
  for (let p = 0; p < S * S; p++) {
    for (let c = 0; c < 3; c++) img.data[4 * p + c] = Math.max(0, Math.min(255, Math.round((view.pixels[3 * p + c] * STD[c] + MEAN[c]) * 255)));
    img.data[4 * p + 3] = 255;
  }
  octx.putImageData(img, 0, 0);
  const ctx = canvas.getContext('2d') as CanvasRenderingContext2D;
  ctx.imageSmoothingEnabled = false;
  ctx.drawImage(off, 0, 0, canvas.width, canvas.height);
  const k = canvas.width / S;
  ctx.lineWidth = 2;
  boxes.forEach(([x1, y1, x2, y2], j) => {
    const [r, g, b] = PAIR_COLOURS[j % PAIR_COLOURS.length];
    ctx.strokeStyle = `rgb(${r},${g},${b})`;
    ctx.strokeRect(x1 * k + 1, y1 * k + 1, (x2 - x1) * k - 2, (y2 - y1) * k - 2);
  });
}

function showPairs(v1: View, v2: View, pairs: BoxPair[]): void {
  drawView($<HTMLCanvasElement>('view1'), v1, pairs.map((p) => p.view1));
  drawView($<HTMLCanvasElement>('view2'), v2, pairs.map((p) => p.view2));
  status.pairsDrawn = pairs.length;
  $('pairs').textContent = `${pairs.length} matched box pair${pairs.length === 1 ? '' : 's'} (same colour = same image region)`;
}

// ---- chart ----

function drawChart(): void {
  const canvas = $<HTMLCanvasElement>('chart');
  const ctx = canvas.getContext('2d') as CanvasRenderingContext2D;
  const { width: W, height: H } = canvas;
  ctx.clearRect(0, 0, W, H);
  ctx.fillStyle = '#555';
  ctx.font = '11px sans-serif';
  const L = status.losses;
  if (L.length === 0) return;
  const lo = Math.min(...L);
  const hi = Math.max(...L);
  const span = hi - lo || 1;
  const n = Math.max(status.steps, L.length, 2);
  const x = (i: number) => 40 + ((W - 50) * i) / (n - 1);
  const y = (v: number) => H - 20 - ((H - 30) * (v - lo)) / span;
  ctx.fillText(hi.toFixed(3), 2, 14);
  ctx.fillText(lo.toFixed(3), 2, H - 20);
  ctx.fillText(`step (${status.method.toUpperCase()} loss)`, W / 2 - 40, H - 4);
  ctx.strokeStyle = '#1f77b4';
  ctx.lineWidth = 1.5;
  ctx.beginPath();
  L.forEach((v, i) => (i === 0 ? ctx.moveTo(x(i), y(v)) : ctx.lineTo(x(i), y(v))));
  ctx.stroke();
}

function showStats(): void {
  const ips = status.imagesPerSecond;
  $('s-backend').textContent = `backend: ${status.backend ?? '-'}`;
  $('s-step').textContent = `step: ${status.step}/${status.steps}`;
  $('s-loss').textContent = `loss: ${status.losses.length ? status.losses[status.losses.length - 1].toFixed(4) : '-'}`;
  $('s-ips').textContent = `images/s: ${ips.length ? ips[ips.length - 1].toFixed(2) : '-'}`;
}

// ---- pretraining ----

let model: PretrainModel | null = null;
let modelConfig: TrainConfig | null = null;
let stopRequested = false;

function trainConfig(method: 'scrl' | 'byol', steps: number, batch: number): TrainConfig {
  const c = presetConfig('cpu');
  c.method = method;
  c.batch.size = batch;
  c.schedule.steps = steps;
  c.schedule.warmupSteps = Math.min(c.schedule.warmupSteps ?? 0, Math.floor(steps / 10));
  const lr = params.get('lr');
  if (lr !== null) c.optimizer.baseLr = Number(lr);
  return validateConfig(c, 'the page settings');
}

async function pretrain(): Promise<void> {
  const method = $<HTMLSelectElement>('method').value as 'scrl' | 'byol';
  const steps = Number($<HTMLInputElement>('steps').value);
  const batch = Number($<HTMLInputElement>('batch').value);
  const backend = $<HTMLSelectElement>('backend').value as BrowserBackend;
  if (!(await useBackend(backend))) throw new Error(`backend ${backend} did not start in this browser; pick another.`);
  status.backend = tf.getBackend();
  const config = trainConfig(method, steps, batch);
  if (model) disposePretrainModel(model);
  model = createPretrainModel(config);
  modelConfig = config;
  Object.assign(status, { running: true, method, step: 0, steps, losses: [], imagesPerSecond: [], probe: [], error: null });
  stopRequested = false;
  setButtons();
  $('probe-table').querySelectorAll('tr.result').forEach((r) => r.remove());
  log(`pretraining ${method.toUpperCase()} on ${status.backend}: ResNet-${config.model.depth} (width ${config.model.baseWidth}), ${config.views.size} px views, batch ${batch}, ${steps} steps, ${imagesLabel}`);

  const S = config.views.size;
  const pipeline = createViewPipeline({ viewSize: S, scale: config.views.scale, blur: config.views.blur });
  const boxOptions = {
    viewSize: S,
    minSize: config.boxes.minSize ?? model.nets.online.backbone.stride.c5,
    boxesPerImage: config.boxes.perImage,
    iouThreshold: config.boxes.iouThreshold,
    maxTries: config.boxes.maxTries,
    jitter: config.boxes.jitter,
  };
  const peakLr = scaledLearningRate(config.optimizer.baseLr, batch);
  const schedule = { peakLr, warmupSteps: config.schedule.warmupSteps ?? 0, totalSteps: steps };
  const seedRng = createRng(config.seed);
  const per = S * S * 3;
  for (let step = 0; step < steps && !stopRequested; step++) {
    const t0 = performance.now();
    const b: PretrainBatch = { view1: new Float32Array(batch * per), view2: new Float32Array(batch * per), size: S, batchSize: batch, boxPairs: [] };
    for (let i = 0; i < batch; i++) {
      const index = (step * batch + i) % images.length;
      const rng = seedRng.fork('item').fork(Math.floor((step * batch + i) / images.length)).fork(index);
      const [v1, v2] = await pipeline.viewPair(images[index], rng);
      b.view1.set(v1.pixels, i * per);
      b.view2.set(v2.pixels, i * per);
      const pairs = sampleBoxPairs(v1.geometry, v2.geometry, boxOptions, rng.fork('boxes'));
      b.boxPairs.push(pairs);
      if (i === 0) showPairs(v1, v2, pairs);
    }
    const r = await pretrainStep(model, [b], { lr: learningRateAt(step, schedule), momentum: momentumAt(step, config.ema.baseMomentum, steps) });
    const seconds = (performance.now() - t0) / 1000;
    status.step = step + 1;
    if (!r.skipped) status.losses.push(r.loss);
    status.imagesPerSecond.push(batch / seconds);
    showStats();
    drawChart();
    if (step === 0 || (step + 1) % 10 === 0 || step + 1 === steps) {
      log(`step ${step + 1}/${steps}: loss ${r.loss.toFixed(4)}, ${r.boxPairs} box pairs, ${(batch / seconds).toFixed(2)} images/s, ${tf.memory().numTensors} tensors`);
    }
    await new Promise((resolve) => setTimeout(resolve, 0)); // let the page paint
  }
  status.running = false;
  setButtons();
  log(stopRequested ? `stopped at step ${status.step}` : `pretraining done: ${status.step} steps`);
}

// ---- box probe and export ----

function probeSamples(seed: number, count: number): DetectionSample[] {
  return scenes(seed, count).map((s, i) => ({
    id: i + 1,
    image: s.image,
    bboxes: s.objects.map((o) => [...o.bbox]),
    categoryIds: s.objects.map((o) => o.classIndex + 1),
  }));
}

async function probe(): Promise<void> {
  if (!model || !modelConfig) throw new Error('pretrain first: the probe compares the pretrained backbone with random init.');
  const m = modelConfig.model;
  const categories: DetectionCategory[] = SCENE_CLASSES.map((name, i) => ({ id: i + 1, name }));
  const train = probeSamples(PROBE_SEED, 96);
  const test = probeSamples(PROBE_SEED + 1, 48);
  const random = createResNet({ depth: m.depth, smallInput: m.smallInput, baseWidth: m.baseWidth, seed: modelConfig.seed + 1 });
  status.probe = [];
  try {
    for (const [init, backbone] of [
      ['random', random],
      [status.method.toUpperCase(), model.nets.online.backbone],
    ] as const) {
      log(`box probe of ${init}: 96 training scenes, 48 test scenes`);
      await new Promise((resolve) => setTimeout(resolve, 0));
      const r: BoxProbeResult = boxProbe(backbone, train, test, categories, { steps: 200, batchSize: 32 });
      status.probe.push({ init, top1: r.top1, knnTop1: r.knnTop1 });
      const row = document.createElement('tr');
      row.className = 'result';
      row.innerHTML = `<td>${init}</td><td>${(100 * r.top1).toFixed(1)} %</td><td>${(100 * r.knnTop1).toFixed(1)} %</td>`;
      $('probe-table').appendChild(row);
    }
  } finally {
    random.dispose();
  }
}

function download(): void {
  if (!model || !modelConfig) throw new Error('pretrain first.');
  const bytes = exportTorchvisionWeights(model.nets.online.backbone);
  const m = modelConfig.model;
  const name = `scrl-web-${status.method}-resnet${m.depth}-w${m.baseWidth}-step${status.step}.safetensors`;
  const url = URL.createObjectURL(new Blob([bytes as Uint8Array<ArrayBuffer>], { type: 'application/octet-stream' }));
  const a = document.createElement('a');
  a.href = url;
  a.download = name;
  document.body.appendChild(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
  log(`downloaded ${name} (${bytes.length} bytes): scrl eval detection --init ${name} --data data/scenes`);
}

// ---- wiring ----

function setButtons(): void {
  $<HTMLButtonElement>('start').disabled = status.running;
  $<HTMLButtonElement>('stop').disabled = !status.running;
  $<HTMLButtonElement>('probe').disabled = status.running || !model;
  $<HTMLButtonElement>('download').disabled = status.running || !model;
}

async function init(): Promise<void> {
  status.backends = await availableBackends();
  const select = $<HTMLSelectElement>('backend');
  for (const b of status.backends) select.add(new Option(b, b));
  const wanted = params.get('backend');
  if (wanted && status.backends.includes(wanted as BrowserBackend)) select.value = wanted;
  log(`backends that start here: ${status.backends.join(', ')}`);
  for (const [id, key] of [['method', 'method'], ['steps', 'steps'], ['batch', 'batch']] as const) {
    const v = params.get(key);
    if (v) ($(id) as HTMLInputElement).value = v;
  }
  useScenes();
  // A first look at the views before any training.
  const pipeline = createViewPipeline({ viewSize: 32 });
  const rng = createRng(0);
  const [v1, v2] = await pipeline.viewPair(images[0], rng);
  showPairs(v1, v2, sampleBoxPairs(v1.geometry, v2.geometry, { viewSize: 32, minSize: 8 }, rng.fork('boxes')));

  $('start').onclick = () => void pretrain().catch(fail);
  $('stop').onclick = () => (stopRequested = true);
  $('probe').onclick = () => void probe().catch(fail).finally(setButtons);
  $('download').onclick = () => {
    try {
      download();
    } catch (err) {
      fail(err);
    }
  };
  $<HTMLSelectElement>('source').onchange = (e) => {
    if ((e.target as HTMLSelectElement).value === 'folder') $('folder').click();
    else useScenes();
  };
  $<HTMLInputElement>('folder').onchange = async (e) => {
    const files = Array.from((e.target as HTMLInputElement).files ?? []);
    const loaded = await loadFolder(files);
    if (loaded.length === 0) {
      log('no image could be read from that folder; keeping the current images.');
      return;
    }
    setImages(loaded, `${loaded.length} images from the folder`);
  };
  setButtons();
  if (params.get('autorun') === '1') await pretrain();
}

init().catch(fail);
