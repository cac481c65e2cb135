/**
 * A small FCOS detector (Tian et al., "FCOS: Fully Convolutional One-Stage Object Detection",
 * ICCV 2019), with torchvision 0.14's `FCOS` semantics (`torchvision/models/detection/fcos.py`),
 * on top of any `Backbone`:
 *
 * - FPN over the backbone's c3, c4, c5 (P3-P5; no P6/P7, which would be 1x1 or smaller on
 *   CPU-scale images). Strides are whatever the backbone gives: 8, 16, 32 for a standard
 *   ResNet, 2, 4, 8 for a `smallInput` one. Lateral 1x1 convs, nearest 2x top-down
 *   upsampling, 3x3 output convs (no norm), as torchvision's `FeaturePyramidNetwork`.
 * - A head shared by all levels (torchvision's `FCOSHead`): a classification tower and a box
 *   tower of `headConvs` 3x3 conv + GroupNorm(32) + ReLU layers (`headNorm: 'none'` drops the
 *   GroupNorm), class logits (bias at the focal-loss prior -log((1 - p) / p), p = 0.01), box
 *   distances (l, t, r, b) = relu(x) in units of the level's stride, and centre-ness on the box
 *   tower.
 * - Locations: a level's location (i, j) sits at pixel (j * stride, i * stride), the centre of
 *   torchvision's anchor of size `stride` there.
 * - Targets (torchvision's `FCOS.compute_loss`): a location is a candidate for a ground-truth
 *   box when it lies strictly inside the box, its largest distance max(l, t, r, b) lies in the
 *   level's open range (lo, hi) with lo = 4 * stride (0 on the first level) and hi =
 *   8 * stride (infinite on the last), and (centre sampling) it is within
 *   `centerSampling * stride` of the box centre in both x and y (Chebyshev distance, strict;
 *   `centerSampling: 0` turns centre sampling off). Among candidates the smallest-area box wins.
 *   For strides 8, 16, 32 the ranges are FCOS's (0, 64), (64, 128), (128, inf); for 2, 4, 8
 *   they are (0, 16), (16, 32), (32, inf).
 * - Loss: sigmoid focal loss (alpha 0.25, gamma 2) over all locations and classes, GIoU loss on
 *   positives, centre-ness binary cross-entropy on positives, each summed and divided by the
 *   number of positives (at least 1).
 * - Decoding (torchvision's `postprocess_detections`): per level, locations and classes with
 *   score sqrt(p_class * p_centreness) > scoreThreshold, the top `preNmsTopK`, boxes clipped to
 *   the image, then class-aware NMS (IoU 0.6) over all levels, at most `maxDetections` per
 *   image.
 */
import * as tf from '@tensorflow/tfjs-core';
import { groupNorm } from './group-norm';
import type { Module, NamedBuffer, NamedParameter } from '@scrl/models';
import { batchedNmsArray } from '@scrl/roi-align';
import type { Backbone } from '../backbone';
import { mulberry32Open, normalSampler } from '@scrl/util';

export interface FcosOptions {
  /** Number of object classes (contiguous indices 0..numClasses-1). */
  numClasses: number;
  /** Channels of the FPN levels and of the head (default 64 here, 32 in DEFAULT_DETECTION_CONFIG; detectron2 uses 256). */
  fpnChannels?: number;
  /** 3x3 conv (+ GroupNorm) + ReLU layers in each head tower (default 2; torchvision uses 4). */
  headConvs?: number;
  /**
   * Normalisation in the head towers: 'group' (default) is torchvision's GroupNorm with 32
   * groups (min(32, fpnChannels); fpnChannels must be a multiple of it), 'none' leaves it out.
   */
  headNorm?: 'group' | 'none';
  /** Focal-loss prior for the class-logit bias (default 0.01). */
  priorProb?: number;
  /** Seed of the FPN and head initialisation (default 0). */
  seed?: number;
}

/** Where each FPN level's locations sit in the flattened location axis. */
export interface FcosLevel {
  stride: number;
  height: number;
  width: number;
  /** Index of the level's first location in the concatenated [N, L, ...] outputs. */
  offset: number;
}

export interface FcosOutputs {
  /** Class logits [N, L, numClasses] over the locations of all levels. */
  cls: tf.Tensor3D;
  /** Distances (l, t, r, b) to the box sides in units of the level's stride, > 0: [N, L, 4]. */
  box: tf.Tensor3D;
  /** Centre-ness logits [N, L]. */
  ctr: tf.Tensor2D;
  levels: FcosLevel[];
}

export interface FcosLossTerms {
  total: tf.Scalar;
  cls: tf.Scalar;
  box: tf.Scalar;
  ctr: tf.Scalar;
}

/** Ground truth of one image for training: boxes (x1, y1, x2, y2) in input pixels. */
export interface DetectionTargetsInput {
  boxes: Array<[number, number, number, number]>;
  /** Class index per box, in [0, numClasses). */
  labels: number[];
}

export interface FcosTargets {
  /** One-hot classes [N, L, C] (all zero for background). */
  cls: Float32Array;
  /** (l, t, r, b) / stride [N, L, 4] (0 for background). */
  box: Float32Array;
  /** Centre-ness target [N, L] (0 for background). */
  ctr: Float32Array;
  /** 1 for positive locations [N, L]. */
  pos: Float32Array;
  numPos: number;
}

export interface FcosDetection {
  /** (x1, y1, x2, y2) in input pixels. */
  boxes: Array<[number, number, number, number]>;
  scores: number[];
  labels: number[];
}

export interface DecodeOptions {
  /** Minimum score sqrt(p_class * p_centreness) before NMS (default 0.05; torchvision's default is 0.2). */
  scoreThreshold?: number;
  /** Candidates kept per level before NMS (default 1000). */
  preNmsTopK?: number;
  /** IoU above which NMS drops a box of the same class (default 0.6). */
  nmsThreshold?: number;
  /** Detections kept per image (default 100). */
  maxDetections?: number;
}

export interface FcosDetector extends Module {
  readonly backbone: Backbone;
  readonly numClasses: number;
  readonly fpnChannels: number;
  /**
   * Runs backbone, FPN and head. `training` is passed to the backbone (BatchNorm batch
   * statistics when true).
   */
  forward(x: tf.Tensor4D, opts: { training: boolean }): FcosOutputs;
  /** FPN and head parameters only (`parameters()` adds the backbone's, prefixed `backbone.`). */
  headParameters(): NamedParameter[];
}

class ConvLayer {
  constructor(
    readonly weight: tf.Variable,
    readonly bias: tf.Variable,
  ) {}
  apply(x: tf.Tensor4D): tf.Tensor4D {
    return tf.add(tf.conv2d(x, this.weight as tf.Tensor4D, 1, 'same'), this.bias) as tf.Tensor4D;
  }
}

/** A trainable variable holding `init`'s values; `init` is released. */
function variableFrom(init: tf.Tensor, name: string): tf.Variable {
  const v = tf.variable(init, true, name);
  init.dispose();
  return v;
}

class GroupNormLayer {
  constructor(
    readonly groups: number,
    readonly weight: tf.Variable,
    readonly bias: tf.Variable,
  ) {}
  apply(x: tf.Tensor4D): tf.Tensor4D {
    return groupNorm(x, this.groups, this.weight as tf.Tensor1D, this.bias as tf.Tensor1D);
  }
}

/** Nearest-neighbour upsampling to [h, w] (at most 2x), built from broadcasting so its gradient works on every backend. */
function upsample2x(x: tf.Tensor4D, h: number, w: number): tf.Tensor4D {
  const [n, xh, xw, c] = x.shape;
  const big = tf.reshape(tf.mul(tf.reshape(x, [n, xh, 1, xw, 1, c]), tf.ones([1, 1, 2, 1, 2, 1])), [n, 2 * xh, 2 * xw, c]);
  return tf.slice(big, [0, 0, 0, 0], [n, h, w, c]) as tf.Tensor4D;
}

let detectorCount = 0;

/** Builds an FCOS detector around `backbone` (which it uses, not copies; `dispose()` leaves it alone). */
export function createFcosDetector(backbone: Backbone, options: FcosOptions): FcosDetector {
  const fn = 'createFcosDetector';
  const numClasses = options.numClasses;
  if (!Number.isInteger(numClasses) || numClasses < 1) {
    throw new Error(`${fn}: numClasses must be a positive integer, got ${numClasses}.`);
  }
  const fpnChannels = options.fpnChannels ?? 64;
  const headConvs = options.headConvs ?? 2;
  const headNorm = options.headNorm ?? 'group';
  if (headNorm !== 'group' && headNorm !== 'none') {
    throw new Error(`${fn}: headNorm must be 'group' or 'none', got ${JSON.stringify(headNorm)}.`);
  }
  const groups = Math.min(32, fpnChannels);
  if (headNorm === 'group' && fpnChannels % groups !== 0) {
    throw new Error(`${fn}: fpnChannels (${fpnChannels}) must be a multiple of 32 (or below 32) for the head's GroupNorm(32); change it or pass headNorm: 'none'.`);
  }
  const priorProb = options.priorProb ?? 0.01;
  const normal = normalSampler(mulberry32Open(options.seed ?? 0));
  const uniform = mulberry32Open((options.seed ?? 0) + 7919);
  const params: NamedParameter[] = [];
  // Variable names must be unique per process, also for two detectors of one seed.
  const uid = `${Math.floor(uniform() * 1e9)}_${++detectorCount}`;

  const makeConv = (name: string, k: number, cin: number, cout: number, init: 'xavier' | 'normal', bias = 0): ConvLayer => {
    const n = k * k * cin * cout;
    const values = new Float32Array(n);
    if (init === 'xavier') {
      // detectron2's c2_xavier_fill: kaiming_uniform with a = 1, bound sqrt(3 / fan_in).
      const bound = Math.sqrt(3 / (k * k * cin));
      for (let i = 0; i < n; i++) values[i] = (2 * uniform() - 1) * bound;
    } else {
      for (let i = 0; i < n; i++) values[i] = 0.01 * normal();
    }
    const w = variableFrom(tf.tensor4d(values, [k, k, cin, cout]), `fcos${uid}.${name}.weight`);
    const b = variableFrom(tf.fill([cout], bias), `fcos${uid}.${name}.bias`);
    params.push({ name: `${name}.weight`, variable: w, role: 'weight' }, { name: `${name}.bias`, variable: b, role: 'bias' });
    return new ConvLayer(w, b);
  };

  // Channel counts come from one small dry run, so any backbone with the features contract works.
  const inChannels = tf.tidy(() => {
    const f = backbone.features(tf.zeros([1, 64, 64, 3]), { training: false });
    return [f.c3.shape[3], f.c4.shape[3], f.c5.shape[3]];
  });
  const lateral = inChannels.map((c, i) => makeConv(`fpn.lateral${i + 3}`, 1, c, fpnChannels, 'xavier'));
  const output = inChannels.map((_, i) => makeConv(`fpn.output${i + 3}`, 3, fpnChannels, fpnChannels, 'xavier'));
  const makeNorm = (name: string): GroupNormLayer | null => {
    if (headNorm === 'none') return null;
    const w = variableFrom(tf.ones([fpnChannels]), `fcos${uid}.${name}.weight`);
    const b = variableFrom(tf.zeros([fpnChannels]), `fcos${uid}.${name}.bias`);
    // Norm parameters: no weight decay, like BatchNorm's (role decides, see @scrl/models).
    params.push({ name: `${name}.weight`, variable: w, role: 'bn-weight' }, { name: `${name}.bias`, variable: b, role: 'bn-bias' });
    return new GroupNormLayer(groups, w, b);
  };
  const makeTower = (prefix: string) =>
    Array.from({ length: headConvs }, (_, i) => ({
      conv: makeConv(`${prefix}.${i}`, 3, fpnChannels, fpnChannels, 'normal'),
      norm: makeNorm(`${prefix}.${i}.norm`),
    }));
  const clsTower = makeTower('head.cls_tower');
  const boxTower = makeTower('head.bbox_tower');
  const runTower = (tower: typeof clsTower, x: tf.Tensor4D): tf.Tensor4D => {
    let y = x;
    for (const { conv, norm } of tower) {
      y = conv.apply(y);
      if (norm) y = norm.apply(y);
      y = tf.relu(y);
    }
    return y;
  };
  const clsLogits = makeConv('head.cls_logits', 3, fpnChannels, numClasses, 'normal', -Math.log((1 - priorProb) / priorProb));
  const boxPred = makeConv('head.bbox_pred', 3, fpnChannels, 4, 'normal');
  const ctrPred = makeConv('head.centerness', 3, fpnChannels, 1, 'normal');

  const forward = (x: tf.Tensor4D, opts: { training: boolean }): FcosOutputs => {
    if (x.rank !== 4 || x.shape[3] !== 3) {
      throw new Error(`FcosDetector.forward: x must be NHWC [N, H, W, 3], got shape [${x.shape}].`);
    }
    const [n, inH, inW] = x.shape;
    const f = backbone.features(x, opts);
    const cs = [f.c3, f.c4, f.c5];
    // Top-down pathway.
    const lat = cs.map((c, i) => lateral[i].apply(c));
    const merged: tf.Tensor4D[] = new Array(3);
    merged[2] = lat[2];
    for (let i = 1; i >= 0; i--) {
      merged[i] = tf.add(lat[i], upsample2x(merged[i + 1], lat[i].shape[1], lat[i].shape[2])) as tf.Tensor4D;
    }
    const pyramid = merged.map((m, i) => output[i].apply(m));
    const levels: FcosLevel[] = [];
    const clsOut: tf.Tensor3D[] = [];
    const boxOut: tf.Tensor3D[] = [];
    const ctrOut: tf.Tensor2D[] = [];
    let offset = 0;
    for (const p of pyramid) {
      const [, h, w] = p.shape;
      levels.push({ stride: Math.round(inW / w) || Math.round(inH / h), height: h, width: w, offset });
      offset += h * w;
      const c = runTower(clsTower, p);
      const b = runTower(boxTower, p);
      clsOut.push(tf.reshape(clsLogits.apply(c), [n, h * w, numClasses]));
      boxOut.push(tf.reshape(tf.relu(boxPred.apply(b)), [n, h * w, 4]));
      ctrOut.push(tf.reshape(ctrPred.apply(b), [n, h * w]));
    }
    return {
      cls: tf.concat(clsOut, 1),
      box: tf.concat(boxOut, 1),
      ctr: tf.concat(ctrOut, 1),
      levels,
    };
  };

  return {
    backbone,
    numClasses,
    fpnChannels,
    forward,
    headParameters: () => params.slice(),
    parameters: () => [
      ...backbone.parameters().map((p) => ({ ...p, name: `backbone.${p.name}` })),
      ...params,
    ],
    buffers: (): NamedBuffer[] => backbone.buffers().map((b) => ({ ...b, name: `backbone.${b.name}` })),
    dispose: () => params.forEach((p) => p.variable.dispose()),
  };
}

/** Pixel coordinates of a level's locations: x = j * stride, y = i * stride (torchvision's anchor centres). */
function locationOf(level: FcosLevel, k: number): [number, number] {
  const j = k % level.width;
  const i = Math.floor(k / level.width);
  return [j * level.stride, i * level.stride];
}

export interface FcosTargetOptions {
  /**
   * Centre sampling radius in strides (default 1.5, torchvision's): a location is positive
   * only within `centerSampling * stride` of the box centre in x and y. 0 turns it off (every
   * location inside the box, the original FCOS rule).
   */
  centerSampling?: number;
}

/** FCOS training targets for a batch (see the module comment for the assignment rule). */
export function fcosTargets(
  levels: FcosLevel[],
  batch: DetectionTargetsInput[],
  numClasses: number,
  options: FcosTargetOptions = {},
): FcosTargets {
  const radius = options.centerSampling ?? 1.5;
  if (!(radius >= 0) || !Number.isFinite(radius)) {
    throw new Error(`fcosTargets: centerSampling must be a number >= 0 (0 = off), got ${radius}.`);
  }
  const L = levels.reduce((s, l) => s + l.height * l.width, 0);
  const N = batch.length;
  const cls = new Float32Array(N * L * numClasses);
  const box = new Float32Array(N * L * 4);
  const ctr = new Float32Array(N * L);
  const pos = new Float32Array(N * L);
  let numPos = 0;
  batch.forEach((t, n) => {
    if (t.boxes.length !== t.labels.length) {
      throw new Error(`fcosTargets: image ${n} has ${t.boxes.length} boxes but ${t.labels.length} labels.`);
    }
    t.labels.forEach((l, g) => {
      if (!Number.isInteger(l) || l < 0 || l >= numClasses) {
        throw new Error(`fcosTargets: image ${n} box ${g} has label ${l}, expected an integer in [0, ${numClasses}).`);
      }
    });
    levels.forEach((level, li) => {
      const lo = li === 0 ? 0 : 4 * level.stride;
      const hi = li === levels.length - 1 ? Infinity : 8 * level.stride;
      for (let k = 0; k < level.height * level.width; k++) {
        const [x, y] = locationOf(level, k);
        let best = -1;
        let bestArea = Infinity;
        let bl = 0;
        let bt = 0;
        let br = 0;
        let bb = 0;
        t.boxes.forEach(([x1, y1, x2, y2], g) => {
          const l = x - x1;
          const tp = y - y1;
          const r = x2 - x;
          const b = y2 - y;
          if (Math.min(l, tp, r, b) <= 0) return;
          const m = Math.max(l, tp, r, b);
          if (m <= lo || m >= hi) return;
          if (radius > 0 && Math.max(Math.abs(x - (x1 + x2) / 2), Math.abs(y - (y1 + y2) / 2)) >= radius * level.stride) return;
          const area = (x2 - x1) * (y2 - y1);
          if (area < bestArea) {
            bestArea = area;
            best = g;
            bl = l;
            bt = tp;
            br = r;
            bb = b;
          }
        });
        if (best < 0) continue;
        const idx = n * L + level.offset + k;
        pos[idx] = 1;
        numPos++;
        cls[idx * numClasses + t.labels[best]] = 1;
        const s = level.stride;
        box.set([bl / s, bt / s, br / s, bb / s], idx * 4);
        ctr[idx] = Math.sqrt((Math.min(bl, br) / Math.max(bl, br)) * (Math.min(bt, bb) / Math.max(bt, bb)));
      }
    });
  });
  return { cls, box, ctr, pos, numPos };
}

/** FCOS loss of `outputs` against `targets` (see the module comment). */
export function fcosLoss(outputs: FcosOutputs, targets: FcosTargets): FcosLossTerms {
  return tf.tidy(() => {
    const [n, L, C] = outputs.cls.shape;
    const tCls = tf.tensor3d(targets.cls, [n, L, C]);
    const tBox = tf.tensor3d(targets.box, [n, L, 4]);
    const tCtr = tf.tensor2d(targets.ctr, [n, L]);
    const pos = tf.tensor2d(targets.pos, [n, L]);
    const numPos = Math.max(1, targets.numPos);

    // Sigmoid focal loss, alpha 0.25, gamma 2.
    const x = outputs.cls;
    const p = tf.sigmoid(x);
    const ce = tf.add(tf.sub(tf.relu(x), tf.mul(x, tCls)), tf.log1p(tf.exp(tf.neg(tf.abs(x)))));
    const pT = tf.add(tf.mul(p, tCls), tf.mul(tf.sub(1, p), tf.sub(1, tCls)));
    const alphaT = tf.add(tf.mul(0.25, tCls), tf.mul(0.75, tf.sub(1, tCls)));
    const focal = tf.mul(tf.mul(alphaT, ce), tf.square(tf.sub(1, pT)));
    const lossCls = tf.div(tf.sum(focal), numPos) as tf.Scalar;

    // GIoU between predicted and target (l, t, r, b) around the same point.
    // Split along the first axis after a transpose: wasm's Unpack along the last axis (and the
    // Pack of its gradient) is a strided slice per part, 10x slower than a transpose and
    // contiguous parts ([16, 1344, 4]: about 10 ms each way against 1 ms).
    const [pl, pt, pr, pb] = tf.unstack(tf.transpose(outputs.box, [2, 0, 1]));
    const [gl, gt, gr, gb] = tf.unstack(tf.transpose(tBox, [2, 0, 1]));
    const predArea = tf.mul(tf.add(pl, pr), tf.add(pt, pb));
    const gtArea = tf.mul(tf.add(gl, gr), tf.add(gt, gb));
    const iw = tf.add(tf.minimum(pl, gl), tf.minimum(pr, gr));
    const ih = tf.add(tf.minimum(pt, gt), tf.minimum(pb, gb));
    const inter = tf.mul(iw, ih);
    const union = tf.add(tf.sub(tf.add(predArea, gtArea), inter), 1e-7);
    const ew = tf.add(tf.maximum(pl, gl), tf.maximum(pr, gr));
    const eh = tf.add(tf.maximum(pt, gt), tf.maximum(pb, gb));
    const enclose = tf.add(tf.mul(ew, eh), 1e-7);
    const giou = tf.sub(tf.div(inter, union), tf.div(tf.sub(enclose, union), enclose));
    const lossBox = tf.div(tf.sum(tf.mul(pos, tf.sub(1, giou))), numPos) as tf.Scalar;

    // Centre-ness BCE on positives.
    const c = outputs.ctr;
    const bce = tf.add(tf.sub(tf.relu(c), tf.mul(c, tCtr)), tf.log1p(tf.exp(tf.neg(tf.abs(c)))));
    const lossCtr = tf.div(tf.sum(tf.mul(pos, bce)), numPos) as tf.Scalar;
    return { total: tf.addN([lossCls, lossBox, lossCtr]) as tf.Scalar, cls: lossCls, box: lossBox, ctr: lossCtr };
  });
}

/**
 * Turns raw outputs into detections per image, in input pixels of an image of
 * `imageHeight x imageWidth` (see the module comment for the steps).
 */
export function decodeFcos(
  outputs: FcosOutputs,
  imageHeight: number,
  imageWidth: number,
  options: DecodeOptions = {},
): FcosDetection[] {
  const scoreThreshold = options.scoreThreshold ?? 0.05;
  const preNmsTopK = options.preNmsTopK ?? 1000;
  const nmsThreshold = options.nmsThreshold ?? 0.6;
  const maxDetections = options.maxDetections ?? 100;
  const [n, L, C] = outputs.cls.shape;
  const [clsP, ctrP, box] = tf.tidy(() => [tf.sigmoid(outputs.cls), tf.sigmoid(outputs.ctr), outputs.box]).map((t) => {
    const d = t.dataSync() as Float32Array;
    if (t !== outputs.box) t.dispose();
    return d;
  });
  const result: FcosDetection[] = [];
  for (let b = 0; b < n; b++) {
    const cand: { box: number[]; score: number; label: number }[] = [];
    for (const level of outputs.levels) {
      const levelCand: { k: number; c: number; p: number }[] = [];
      for (let k = 0; k < level.height * level.width; k++) {
        const idx = b * L + level.offset + k;
        const base = idx * C;
        for (let c = 0; c < C; c++) {
          const p = Math.sqrt(clsP[base + c] * ctrP[idx]);
          if (p > scoreThreshold) levelCand.push({ k, c, p });
        }
      }
      // Stable sort: equal scores keep location order.
      levelCand.sort((u, v) => v.p - u.p);
      for (const { k, c, p } of levelCand.slice(0, preNmsTopK)) {
        const idx = b * L + level.offset + k;
        const [x, y] = locationOf(level, k);
        const s = level.stride;
        const x1 = Math.max(0, Math.min(imageWidth, x - box[idx * 4] * s));
        const y1 = Math.max(0, Math.min(imageHeight, y - box[idx * 4 + 1] * s));
        const x2 = Math.max(0, Math.min(imageWidth, x + box[idx * 4 + 2] * s));
        const y2 = Math.max(0, Math.min(imageHeight, y + box[idx * 4 + 3] * s));
        cand.push({ box: [x1, y1, x2, y2], score: p, label: c });
      }
    }
    const keep = batchedNmsArray(
      cand.map((d) => d.box),
      cand.map((d) => d.score),
      cand.map((d) => d.label),
      nmsThreshold,
    ).slice(0, maxDetections);
    result.push({
      boxes: keep.map((i) => cand[i].box as [number, number, number, number]),
      scores: keep.map((i) => cand[i].score),
      labels: keep.map((i) => cand[i].label),
    });
  }
  return result;
}
