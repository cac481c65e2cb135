/**
 * Detection fine-tuning evaluator: the same schedule for every backbone initialisation, then
 * COCO box AP on a validation set. This is how the paper's transfer claim is measured, in
 * miniature.
 *
 * BatchNorm: the paper fine-tunes with synchronised BN (batch statistics over a large total
 * batch). `bn: 'batch'` (the default) is the one-process analogue: the backbone runs in
 * training mode, normalising with each mini-batch's statistics, training the affine
 * parameters and updating the running statistics that evaluation then uses. It is the
 * fair choice across initialisations because a random init has no meaningful running
 * statistics to freeze. Its cost is noise from small batches. `bn: 'frozen'` runs the
 * backbone in inference mode (running statistics of the initialisation) and does not train
 * the BN parameters, as detectron2 does for supervised ImageNet inits; choose it for
 * pretrained inits with very small batches.
 *
 * `freezeBackbone: true` trains only the FPN and the head: every backbone weight (convolutions
 * and BatchNorm scale/shift) keeps its initial value, while BatchNorm keeps normalising as `bn`
 * says (with `bn: 'batch'`, batch statistics, so a random init is not handicapped by stale
 * running statistics). It measures how good the initialisation's features are for detection
 * as they are (experiments/oracle: it separates pretrained from random init far more widely
 * than full fine-tuning with many labels).
 */
import * as tf from '@tensorflow/tfjs-core';
import type { RgbImage } from '@scrl/augment';
import type { NamedParameter } from '@scrl/models';
import { imagesToTensor, type Backbone } from '../backbone';
import {
  evaluateCoco,
  type CocoDetection,
  type CocoEvalResult,
  type CocoGroundTruth,
} from '../coco/evaluate-coco';
import { globalNorm, multiStepLearningRateAt, SgdMomentum } from '@scrl/optim';
import { mulberry32Open, NonFiniteLossError } from '@scrl/util';
import {
  createFcosDetector,
  decodeFcos,
  fcosLoss,
  fcosTargets,
  type DecodeOptions,
  type DetectionTargetsInput,
  type FcosDetection,
  type FcosDetector,
  type FcosLevel,
  type FcosOutputs,
  type FcosOptions,
} from './fcos';

/** One image of a COCO-style detection set, decoded. */
export interface DetectionSample {
  /** COCO image id. */
  id: number;
  image: RgbImage;
  /** Boxes `[x, y, width, height]` in the image's pixels (COCO's bbox format). */
  bboxes: number[][];
  /** COCO category id per box. */
  categoryIds: number[];
  /** COCO `area` per box (default width * height). */
  areas?: number[];
  /** COCO `iscrowd` per box (default 0). Crowd boxes are not training targets. */
  iscrowd?: number[];
}

export interface DetectionCategory {
  id: number;
  name: string;
}

/**
 * The fine-tuning schedule. Every initialisation of a comparison must use the same one. The
 * defaults are the documented schedule of docs/evaluators.md ("Detection"): torchvision FCOS's
 * recipe at CPU scale (batch 16, SGD lr 0.02, 100 warmup steps, cosine decay, GroupNorm head,
 * centre sampling).
 */
export interface DetectionFineTuneConfig {
  /** Optimiser steps (default 1500). */
  steps: number;
  /** Images per step (default 16). */
  batchSize: number;
  /** Peak learning rate of SGD with momentum (default 0.01). */
  lr: number;
  /** SGD momentum (default 0.9). */
  momentum: number;
  /** L2 weight decay on conv / linear weights only (roles `weight`), default 1e-4. */
  weightDecay: number;
  /** Linear warmup steps from `warmupFactor * lr` (default 100 and 0.001, as detectron2). */
  warmupSteps: number;
  warmupFactor: number;
  /**
   * Decay after warmup: 'cosine' (default) multiplies the lr by 0.5 * (1 + cos(pi * step /
   * steps)), detectron2's WarmupCosineLR; 'step' drops it 10x at each `lrDecayAt`.
   */
  lrSchedule: 'cosine' | 'step';
  /** Fractions of `steps` where lr drops by 10x with `lrSchedule: 'step'` (default [2/3, 8/9], detectron2's 1x shape). */
  lrDecayAt: number[];
  /** Gradient global-norm clip (default 10; 0 disables). */
  clipGradNorm: number;
  /** Square training / evaluation side; images are resized to it (default 64). */
  imageSize: number;
  /** Probability of a horizontal flip per training image (default 0.5). */
  flipProb: number;
  /** BatchNorm handling, see the module comment (default 'batch'). */
  bn: 'batch' | 'frozen';
  /** Train only FPN + head; the backbone's weights stay as initialised (default false; see the module comment). */
  freezeBackbone: boolean;
  /** Seed of batch order, flips and head initialisation (default 0). */
  seed: number;
  /** FPN / head width and depth, head normalisation (see `FcosOptions`). */
  fpnChannels: number;
  headConvs: number;
  headNorm: 'group' | 'none';
  /** Centre sampling radius of the label assignment in strides (see `fcosTargets`; 0 = off). */
  centerSampling: number;
  /** Post-processing for evaluation. */
  decode: DecodeOptions;
}

export const DEFAULT_DETECTION_CONFIG: DetectionFineTuneConfig = {
  steps: 1500,
  batchSize: 16,
  lr: 0.02,
  momentum: 0.9,
  weightDecay: 1e-4,
  warmupSteps: 100,
  warmupFactor: 0.001,
  lrSchedule: 'cosine',
  lrDecayAt: [2 / 3, 8 / 9],
  clipGradNorm: 10,
  imageSize: 64,
  flipProb: 0.5,
  bn: 'batch',
  freezeBackbone: false,
  seed: 0,
  fpnChannels: 32,
  headConvs: 2,
  headNorm: 'group',
  centerSampling: 1.5,
  decode: {},
};

export interface DetectionStepInfo {
  step: number;
  steps: number;
  loss: number;
  lossCls: number;
  lossBox: number;
  lossCtr: number;
  lr: number;
  /** Milliseconds since training started, and the estimated time left. */
  elapsedMs: number;
  etaMs: number;
}

export interface DetectionFineTuneInput {
  /** The initialisation to evaluate (random, BYOL, SCRL, torchvision...). It is trained in place. */
  backbone: Backbone;
  categories: DetectionCategory[];
  train: DetectionSample[];
  val: DetectionSample[];
  config?: Partial<DetectionFineTuneConfig>;
  /** Called after every step (progress bars). */
  onStep?: (info: DetectionStepInfo) => void;
  /**
   * Continue a fine-tuning from a state that `onCheckpoint` received, with the same config,
   * data and initialisation; the result is then bit-identical to an uninterrupted run.
   */
  resumeFrom?: DetectionTrainingState;
  /** Steps between `onCheckpoint` calls (default 0: never); the last step always gets one. */
  checkpointEvery?: number;
  /** Receives the training state after each `checkpointEvery`-th step (e.g. to write it to disk). */
  onCheckpoint?: (state: DetectionTrainingState) => void;
}

export interface DetectionEvalResult {
  config: DetectionFineTuneConfig;
  /** COCO box evaluation of the validation set. */
  coco: CocoEvalResult;
  /** Validation detections in COCO results format (original image pixels). */
  detections: CocoDetection[];
  /** Validation ground truth as a COCO dict. */
  groundTruth: CocoGroundTruth;
  /** Per-step losses and learning rates. */
  history: DetectionStepInfo[];
  /** The trained detector; the caller disposes it (`dispose()` frees FPN and head, not the backbone). */
  detector: FcosDetector;
}

/** Learning rate at `step`: linear warmup times cosine or step decay (see `lrSchedule`). */
export function detectionLearningRate(config: DetectionFineTuneConfig, step: number): number {
  if (config.lrSchedule !== 'cosine') {
    return multiStepLearningRateAt(step, {
      baseLr: config.lr,
      milestones: config.lrDecayAt.map((f) => Math.floor(f * config.steps)),
      gamma: 0.1,
      warmupSteps: config.warmupSteps,
      warmupFactor: config.warmupFactor,
    });
  }
  let lr = config.lr * 0.5 * (1 + Math.cos((Math.PI * step) / config.steps));
  if (step < config.warmupSteps) {
    const alpha = step / config.warmupSteps;
    lr *= config.warmupFactor * (1 - alpha) + alpha;
  }
  return lr;
}

/** `im` mirrored left to right (a new image). */
export function flipImage(im: RgbImage): RgbImage {
  const out = new Uint8Array(im.data.length);
  for (let y = 0; y < im.height; y++) {
    for (let x = 0; x < im.width; x++) {
      const src = (y * im.width + x) * 3;
      const dst = (y * im.width + (im.width - 1 - x)) * 3;
      out[dst] = im.data[src];
      out[dst + 1] = im.data[src + 1];
      out[dst + 2] = im.data[src + 2];
    }
  }
  return { data: out, width: im.width, height: im.height };
}

function checkSamples(fn: string, what: string, samples: DetectionSample[], catIndex: Map<number, number>): void {
  if (!Array.isArray(samples) || samples.length === 0) throw new Error(`${fn}: ${what} must be a non-empty array of samples.`);
  samples.forEach((s, i) => {
    if (s.bboxes.length !== s.categoryIds.length) {
      throw new Error(`${fn}: ${what}[${i}] (image ${s.id}) has ${s.bboxes.length} bboxes but ${s.categoryIds.length} categoryIds.`);
    }
    s.categoryIds.forEach((c) => {
      if (!catIndex.has(c)) {
        throw new Error(`${fn}: ${what}[${i}] (image ${s.id}) uses category id ${c}, which is not in categories [${[...catIndex.keys()]}].`);
      }
    });
  });
}

/** Validation ground truth of `samples` as a COCO dict. */
export function samplesToCoco(samples: DetectionSample[], categories: DetectionCategory[]): CocoGroundTruth {
  let annId = 1;
  return {
    images: samples.map((s) => ({ id: s.id, width: s.image.width, height: s.image.height })),
    categories: categories.map((c) => ({ id: c.id, name: c.name })),
    annotations: samples.flatMap((s) =>
      s.bboxes.map((b, j) => ({
        id: annId++,
        image_id: s.id,
        category_id: s.categoryIds[j],
        bbox: b.slice(0, 4),
        area: s.areas?.[j] ?? b[2] * b[3],
        iscrowd: s.iscrowd?.[j] ?? 0,
      })),
    ),
  };
}

/**
 * Detections of `detector` on `images`, in each image's own pixels (images are resized to
 * `imageSize` for the network and boxes scaled back). Runs in inference mode.
 */
export function detectImages(
  detector: FcosDetector,
  images: RgbImage[],
  options: { imageSize: number; batchSize?: number; decode?: DecodeOptions },
): FcosDetection[] {
  const size = options.imageSize;
  const batchSize = options.batchSize ?? 8;
  const out: FcosDetection[] = [];
  for (let start = 0; start < images.length; start += batchSize) {
    const chunk = images.slice(start, start + batchSize);
    let levels: FcosLevel[] = [];
    const [cls, box, ctr] = tf.tidy(() => {
      const o = detector.forward(imagesToTensor(chunk, { size }), { training: false });
      levels = o.levels;
      return [o.cls, o.box, o.ctr];
    });
    const outputs: FcosOutputs = { cls: cls as tf.Tensor3D, box: box as tf.Tensor3D, ctr: ctr as tf.Tensor2D, levels };
    const dets = decodeFcos(outputs, size, size, options.decode);
    tf.dispose([outputs.cls, outputs.box, outputs.ctr]);
    dets.forEach((d, i) => {
      const sx = chunk[i].width / size;
      const sy = chunk[i].height / size;
      out.push({
        boxes: d.boxes.map(([x1, y1, x2, y2]) => [x1 * sx, y1 * sy, x2 * sx, y2 * sy] as [number, number, number, number]),
        scores: d.scores,
        labels: d.labels,
      });
    });
  }
  return out;
}

/**
 * Fine-tunes an FCOS detector on `train` starting from `backbone` and scores it on `val` with
 * `evaluateCoco`. The backbone is trained in place: pass a fresh copy per evaluation.
 */
/**
 * The detector, its trainable parameters and the optimiser of a fine-tuning with `config`
 * around `backbone` (trained in place): what `detectionTrainStep` needs.
 */
export function createDetectionTraining(
  backbone: Backbone,
  numClasses: number,
  config: DetectionFineTuneConfig,
): DetectionTrainStepContext & { trainable: NamedParameter[] } {
  const fcosOptions: FcosOptions = {
    numClasses,
    fpnChannels: config.fpnChannels,
    headConvs: config.headConvs,
    headNorm: config.headNorm,
    seed: config.seed,
  };
  const detector = createFcosDetector(backbone, fcosOptions);
  // bn: 'frozen' freezes the backbone's BatchNorm parameters, freezeBackbone all of its
  // parameters; the FPN and the head (its GroupNorm included) always train.
  const backboneNames = new Set(backbone.parameters().map((p) => `backbone.${p.name}`));
  const trainable: NamedParameter[] = detector
    .parameters()
    .filter((p) => !(config.freezeBackbone && backboneNames.has(p.name)))
    .filter((p) => config.bn === 'batch' || !backboneNames.has(p.name) || (p.role !== 'bn-weight' && p.role !== 'bn-bias'));
  const vars = trainable.map((p) => p.variable);
  const sgd = new SgdMomentum(trainable, { momentum: config.momentum, weightDecay: config.weightDecay });
  return { detector, trainable, vars, sgd, numClasses, config };
}

/** What one detection training step needs (see `detectionTrainStep`). */
export interface DetectionTrainStepContext {
  detector: FcosDetector;
  /** The variables trained, in the optimiser's order. */
  vars: tf.Variable[];
  sgd: SgdMomentum;
  numClasses: number;
  config: Pick<DetectionFineTuneConfig, 'bn' | 'centerSampling' | 'clipGradNorm' | 'imageSize'>;
}

/**
 * One fine-tuning step of `fineTuneDetection` on a batch: forward in training mode (or frozen
 * BatchNorm), FCOS targets and loss, backward, gradient global-norm clip, SGD with momentum at
 * `lr`. Returns the total loss and its three terms (classification, box, centre-ness); when the
 * loss is not finite nothing is updated and the caller decides (fineTuneDetection stops with a
 * NonFiniteLossError). Exported so that benchmarks time exactly the step the evaluator runs.
 */
export function detectionTrainStep(
  ctx: DetectionTrainStepContext,
  images: RgbImage[],
  targets: DetectionTargetsInput[],
  lr: number,
): { loss: number; terms: number[] } {
  const { detector, vars, sgd, config } = ctx;
  const x = imagesToTensor(images, { size: config.imageSize });
  let terms: number[] = [];
  const { value, grads } = tf.variableGrads(() => {
    const outputs = detector.forward(x, { training: config.bn === 'batch' });
    const t = fcosTargets(outputs.levels, targets, ctx.numClasses, { centerSampling: config.centerSampling });
    const loss = fcosLoss(outputs, t);
    terms = [loss.cls, loss.box, loss.ctr].map((s) => s.dataSync()[0]);
    return loss.total;
  }, vars);
  const loss = value.dataSync()[0];
  try {
    if (!Number.isFinite(loss)) return { loss, terms };
    let scale = 1;
    if (config.clipGradNorm > 0) {
      const norm = globalNorm(vars.filter((v) => grads[v.name] !== undefined).map((v) => grads[v.name]));
      if (norm > config.clipGradNorm) scale = config.clipGradNorm / norm;
    }
    // A parameter the loss does not reach (e.g. an unused classifier) has no gradient: left as is.
    sgd.step(grads, lr, scale);
  } finally {
    tf.dispose([x, value, ...Object.values(grads)]);
  }
  return { loss, terms };
}

export function fineTuneDetection(input: DetectionFineTuneInput): DetectionEvalResult {
  const fn = 'fineTuneDetection';
  const config: DetectionFineTuneConfig = { ...DEFAULT_DETECTION_CONFIG, ...(input.config ?? {}) };
  for (const k of ['steps', 'batchSize', 'imageSize'] as const) {
    if (!Number.isInteger(config[k]) || config[k] < 1) throw new Error(`${fn}: config.${k} must be a positive integer, got ${config[k]}.`);
  }
  if (config.bn !== 'batch' && config.bn !== 'frozen') {
    throw new Error(`${fn}: config.bn must be 'batch' or 'frozen', got ${JSON.stringify(config.bn)}.`);
  }
  if (typeof config.freezeBackbone !== 'boolean') {
    throw new Error(`${fn}: config.freezeBackbone must be true or false, got ${JSON.stringify(config.freezeBackbone)}.`);
  }
  if (config.lrSchedule !== 'cosine' && config.lrSchedule !== 'step') {
    throw new Error(`${fn}: config.lrSchedule must be 'cosine' or 'step', got ${JSON.stringify(config.lrSchedule)}.`);
  }
  if (!Array.isArray(input.categories) || input.categories.length === 0) {
    throw new Error(`${fn}: categories must list at least one { id, name }.`);
  }
  const catIndex = new Map(input.categories.map((c, i) => [c.id, i]));
  checkSamples(fn, 'train', input.train, catIndex);
  checkSamples(fn, 'val', input.val, catIndex);

  const ctx = createDetectionTraining(input.backbone, input.categories.length, config);
  const { detector, trainable, vars, sgd } = ctx;
  // The momentum buffers, in `trainable`'s order: checkpoints save and restore them.
  const velocity = sgd.buffers;
  const rand = countingRng(mulberry32Open(config.seed + 1));
  const size = config.imageSize;
  const history: DetectionStepInfo[] = [];
  const t0 = Date.now();
  let order: number[] = [];
  let cursor = 0;
  const nextIndex = (): number => {
    if (cursor >= order.length) {
      order = input.train.map((_, i) => i);
      for (let i = order.length - 1; i > 0; i--) {
        const j = Math.floor(rand() * (i + 1));
        [order[i], order[j]] = [order[j], order[i]];
      }
      cursor = 0;
    }
    return order[cursor++];
  };

  let firstStep = 0;
  try {
    if (input.resumeFrom) {
      const resumed = restoreTrainingState(fn, input.resumeFrom, config, trainable, velocity, detector, rand);
      ({ order, cursor, step: firstStep } = resumed);
      history.push(...resumed.history);
    }
    for (let step = firstStep; step < config.steps; step++) {
      const images: RgbImage[] = [];
      const targets: DetectionTargetsInput[] = [];
      for (let b = 0; b < config.batchSize; b++) {
        const s = input.train[nextIndex()];
        const flip = rand() < config.flipProb;
        const sx = size / s.image.width;
        const sy = size / s.image.height;
        images.push(flip ? flipImage(s.image) : s.image);
        const boxes: Array<[number, number, number, number]> = [];
        const labels: number[] = [];
        s.bboxes.forEach((bb, j) => {
          if (s.iscrowd?.[j]) return;
          let x1 = bb[0] * sx;
          let x2 = (bb[0] + bb[2]) * sx;
          if (flip) [x1, x2] = [size - x2, size - x1];
          boxes.push([x1, bb[1] * sy, x2, (bb[1] + bb[3]) * sy]);
          labels.push(catIndex.get(s.categoryIds[j])!);
        });
        targets.push({ boxes, labels });
      }
      const lr = detectionLearningRate(config, step);
      const { loss, terms } = detectionTrainStep(ctx, images, targets, lr);
      if (!Number.isFinite(loss)) {
        throw new NonFiniteLossError(
          `Error in ${fn}: the loss became ${loss} at step ${step + 1} (lr ${lr}); stopping. Lower config.lr or keep config.clipGradNorm on.`,
          step + 1,
        );
      }
      const elapsedMs = Date.now() - t0;
      const info: DetectionStepInfo = {
        step: step + 1,
        steps: config.steps,
        loss,
        lossCls: terms[0],
        lossBox: terms[1],
        lossCtr: terms[2],
        lr,
        elapsedMs,
        etaMs: (elapsedMs / (step + 1)) * (config.steps - step - 1),
      };
      history.push(info);
      input.onStep?.(info);
      const every = input.checkpointEvery ?? 0;
      if (input.onCheckpoint && every > 0 && ((step + 1) % every === 0 || step + 1 === config.steps)) {
        input.onCheckpoint(captureTrainingState(step + 1, config, trainable, velocity, detector, rand.draws, order, cursor, history));
      }
    }
  } catch (e) {
    detector.dispose();
    throw e;
  } finally {
    sgd.dispose();
  }

  const groundTruth = samplesToCoco(input.val, input.categories);
  const dets = detectImages(detector, input.val.map((s) => s.image), { imageSize: size, decode: config.decode });
  const detections: CocoDetection[] = dets.flatMap((d, i) =>
    d.boxes.map(([x1, y1, x2, y2], j) => ({
      image_id: input.val[i].id,
      category_id: input.categories[d.labels[j]].id,
      bbox: [x1, y1, x2 - x1, y2 - y1],
      score: d.scores[j],
    })),
  );
  const coco = evaluateCoco(groundTruth, detections);
  return { config, coco, detections, groundTruth, history, detector };
}

// --- Checkpoint and resume ----------------------------------------------------------------

/** Everything a fine-tuning needs to continue exactly where it stopped (plain data). */
export interface DetectionTrainingState {
  /** Steps completed. */
  step: number;
  /** The schedule it ran with; a resume must use the same one. */
  config: DetectionFineTuneConfig;
  /** Trainable parameters and buffers of the detector (backbone's prefixed `backbone.`), and SGD velocities (`velocity.<name>`). */
  tensors: Record<string, { shape: number[]; data: Float32Array }>;
  /** Uniform draws used so far (batch order and flips), the current epoch's order and position. */
  rngDraws: number;
  order: number[];
  cursor: number;
  history: DetectionStepInfo[];
}

/** A generator that counts its draws, so a resume can fast-forward a fresh one to the same point. */
function countingRng(next: () => number): (() => number) & { draws: number } {
  const f = Object.assign(() => {
    f.draws += 1;
    return next();
  }, { draws: 0 });
  return f;
}

function captureTrainingState(
  step: number,
  config: DetectionFineTuneConfig,
  trainable: NamedParameter[],
  velocity: readonly tf.Variable[],
  detector: FcosDetector,
  rngDraws: number,
  order: number[],
  cursor: number,
  history: DetectionStepInfo[],
): DetectionTrainingState {
  const tensors: DetectionTrainingState['tensors'] = {};
  const put = (name: string, t: tf.Tensor) => {
    tensors[name] = { shape: t.shape.slice(), data: Float32Array.from(t.dataSync() as Float32Array) };
  };
  for (const p of detector.parameters()) put(p.name, p.variable);
  for (const b of detector.buffers()) put(b.name, b.variable);
  trainable.forEach((p, i) => put(`velocity.${p.name}`, velocity[i]));
  return { step, config, tensors, rngDraws, order: order.slice(), cursor, history: history.map((h) => ({ ...h })) };
}

function restoreTrainingState(
  fn: string,
  state: DetectionTrainingState,
  config: DetectionFineTuneConfig,
  trainable: NamedParameter[],
  velocity: readonly tf.Variable[],
  detector: FcosDetector,
  rand: (() => number) & { draws: number },
): { step: number; order: number[]; cursor: number; history: DetectionStepInfo[] } {
  const differs = (Object.keys(config) as Array<keyof DetectionFineTuneConfig>).filter(
    (k) => JSON.stringify(config[k]) !== JSON.stringify(state.config?.[k]),
  );
  if (differs.length > 0) {
    throw new Error(
      `${fn}: resumeFrom was saved with another schedule (${differs.map((k) => `${k}: ${JSON.stringify(state.config?.[k])} then, ${JSON.stringify(config[k])} now`).join('; ')}). ` +
        'Resume with the same settings, or start a new fine-tuning.',
    );
  }
  if (!Number.isInteger(state.step) || state.step < 0 || state.step > config.steps) {
    throw new Error(`${fn}: resumeFrom.step must be an integer in [0, ${config.steps}], got ${state.step}.`);
  }
  const assign = (name: string, v: tf.Variable) => {
    const t = state.tensors[name];
    if (!t || t.shape.join(',') !== v.shape.join(',')) {
      throw new Error(
        `${fn}: resumeFrom has ${t ? `shape [${t.shape}]` : 'no tensor'} for '${name}', the detector needs [${v.shape}]; ` +
          'it comes from another architecture or number of classes.',
      );
    }
    v.assign(tf.tensor(t.data, t.shape, 'float32'));
  };
  tf.tidy(() => {
    for (const p of detector.parameters()) assign(p.name, p.variable);
    for (const b of detector.buffers()) assign(b.name, b.variable);
    trainable.forEach((p, i) => assign(`velocity.${p.name}`, velocity[i]));
  });
  while (rand.draws < state.rngDraws) rand();
  return { step: state.step, order: state.order.slice(), cursor: state.cursor, history: state.history.map((h) => ({ ...h })) };
}
