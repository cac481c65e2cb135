#!/usr/bin/env node
/**
 * The supervised ceiling of docs/evaluators.md: a backbone trained *with labels* on the
 * training split of the built-in evaluation scenes (the scenes and split `scrl eval detection`
 * uses: 1000 images of 64 px, seed 0, the last 20 % held out and never seen here).
 *
 * Task: box classification. Every ground-truth box of a training image is pooled with RoIAlign
 * (aligned, 2 samples per bin) from C4 (stride 4) and C5 (stride 8) to k x k, the two are
 * flattened and concatenated, and a linear layer predicts the class; softmax cross-entropy
 * averaged over the batch's boxes trains backbone and head together. Adam (PyTorch's, betas
 * 0.9 / 0.999; or SGD with momentum 0.9), linear warmup then cosine decay, L2 weight decay
 * added to the gradient of conv/linear weights (not BatchNorm),
 * horizontal flips. BatchNorm in training mode, so its running statistics are those of the
 * trained network.
 *
 *   node tools/experiments/supervised-backbone.js --out FILE.safetensors [--seed 0] [--steps 500]
 *     [--batch-size 16] [--optimizer adam|sgd] [--lr 1e-3] [--width 16] [--pool 2] [--save-every 100] [--scenes DIR]
 *
 * Writes torchvision-named weights (`scrl eval detection --init FILE` loads them) to --out,
 * every --save-every steps and at the end, plus FILE.json with the command, settings and the
 * loss / training accuracy curve. Deterministic for a given --seed on one backend.
 */
'use strict';
const fs = require('node:fs');
const path = require('node:path');
const root = path.join(__dirname, '..', '..');
const tf = require('@tensorflow/tfjs-core');
const { initBackend, roiAlign } = require('@scrl/roi-align');
const { createRng } = require('@scrl/augment');
const { ensureScenes, loadScenes } = require('@scrl/data');
const { createResNet, exportTorchvisionWeights } = require('@scrl/models');
const { flipImage, imagesToTensor, loadDetectionSamples } = require('@scrl/eval');
const { EVAL_SCENES, splitSamples } = require('@scrl/cli');
const { arg, numberArg } = require('../args');

async function main() {
  const out = arg('out');
  if (!out || !out.endsWith('.safetensors')) throw new Error('--out FILE.safetensors is required');
  const seed = numberArg('seed', 0, { integer: true, min: 0 });
  const steps = numberArg('steps', 500, { integer: true, min: 1 });
  const batchSize = numberArg('batch-size', 16, { integer: true, min: 2 });
  const optimizerName = arg('optimizer', 'adam');
  if (optimizerName !== 'adam' && optimizerName !== 'sgd') throw new Error(`--optimizer must be adam or sgd, got '${optimizerName}'`);
  const peakLr = numberArg('lr', optimizerName === 'adam' ? 1e-3 : 0.02, { min: 0 });
  const width = numberArg('width', 16, { integer: true, min: 1 });
  const pool = numberArg('pool', 2, { integer: true, min: 1 });
  const saveEvery = numberArg('save-every', 100, { integer: true, min: 1 });
  const warmup = numberArg('warmup', Math.min(25, Math.floor(steps / 10)), { integer: true, min: 0 });
  const weightDecay = numberArg('weight-decay', 1e-4, { min: 0 });
  const backend = await initBackend({ backend: process.env.SCRL_BACKEND ?? 'wasm', log: null });

  let scenes = arg('scenes');
  if (!scenes) {
    scenes = path.join(process.env.SCRL_CACHE_DIR ?? path.join(root, '.scrl-cache'), `scenes-${EVAL_SCENES.images}x${EVAL_SCENES.size}-seed0`);
    await ensureScenes(scenes, { images: EVAL_SCENES.images, size: EVAL_SCENES.size, seed: 0 }, (l) => console.error(l));
  }
  const dataset = await loadScenes(scenes);
  const catIndex = new Map(dataset.categories.map((c, i) => [c.id, i]));
  const numClasses = dataset.categories.length;
  const { train } = splitSamples(await loadDetectionSamples(dataset), 0.2);

  const model = createResNet({ depth: 18, smallInput: true, baseWidth: width, seed });
  const rng = createRng(seed).fork('supervised-backbone');
  const headRng = rng.fork('head');
  const featDim = (model.channels.c4 + model.channels.c5) * pool * pool;
  // torch.nn.Linear's default init: U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for weight and bias.
  const bound = 1 / Math.sqrt(featDim);
  const headW = tf.variable(tf.tensor2d(Float32Array.from({ length: featDim * numClasses }, () => headRng.uniform(-bound, bound)), [featDim, numClasses]), true, 'head.weight');
  const headB = tf.variable(tf.tensor1d(Float32Array.from({ length: numClasses }, () => headRng.uniform(-bound, bound))), true, 'head.bias');
  const params = [...model.parameters(), { name: 'head.weight', variable: headW, role: 'weight' }, { name: 'head.bias', variable: headB, role: 'bias' }];
  const vars = params.map((p) => p.variable);
  // SGD's momentum buffers, or Adam's moments (PyTorch's Adam: bias-corrected, eps 1e-8).
  const velocity = params.map((p) => tf.variable(tf.zerosLike(p.variable), false));
  const second = params.map((p) => tf.variable(tf.zerosLike(p.variable), false));
  const orderRng = rng.fork('order');
  const flipRng = rng.fork('flip');
  let order = [];
  let cursor = 0;
  const nextIndex = () => {
    if (cursor >= order.length) {
      order = train.map((_, i) => i);
      for (let i = order.length - 1; i > 0; i--) {
        const j = orderRng.int(0, i);
        [order[i], order[j]] = [order[j], order[i]];
      }
      cursor = 0;
    }
    return order[cursor++];
  };
  const lrAt = (step) => {
    if (step < warmup) return (peakLr * (step + 1)) / warmup;
    return 0.5 * peakLr * (1 + Math.cos((Math.PI * (step - warmup)) / Math.max(1, steps - warmup)));
  };
  const command = `node tools/experiments/supervised-backbone.js ${process.argv.slice(2).join(' ')}`;
  const history = [];
  const save = (step) => {
    fs.mkdirSync(path.dirname(path.resolve(out)), { recursive: true });
    fs.writeFileSync(out, exportTorchvisionWeights(model));
    fs.writeFileSync(
      out.replace(/\.safetensors$/, '.json'),
      JSON.stringify(
        {
          command,
          step,
          settings: { seed, steps, batchSize, optimizer: optimizerName, lr: peakLr, warmup, weightDecay, width, pool, flipProb: 0.5 },
          data: { scenes, trainImages: train.length, split: 'splitSamples(samples, 0.2): last 20 % of images held out, not used' },
          backend,
          history,
        },
        null,
        1,
      ) + '\n',
    );
  };
  const t0 = Date.now();
  let runLoss = 0;
  let runHit = 0;
  let runBoxes = 0;
  for (let step = 0; step < steps; step++) {
    const images = [];
    const boxes = [];
    const boxIndex = [];
    const labels = [];
    for (let b = 0; b < batchSize; b++) {
      const s = train[nextIndex()];
      const flip = flipRng.bool(0.5);
      const w = s.image.width;
      images.push(flip ? flipImage(s.image) : s.image);
      s.bboxes.forEach((bb, j) => {
        let x1 = bb[0];
        let x2 = bb[0] + bb[2];
        if (flip) [x1, x2] = [w - x2, w - x1];
        boxes.push([x1, bb[1], x2, bb[1] + bb[3]]);
        boxIndex.push(b);
        labels.push(catIndex.get(s.categoryIds[j]));
      });
    }
    if (boxes.length === 0) continue;
    const x = imagesToTensor(images);
    const y = tf.tidy(() => tf.oneHot(tf.tensor1d(labels, 'int32'), numClasses).toFloat());
    let logitsData = null;
    const { value, grads } = tf.variableGrads(() => {
      const f = model.features(x, { training: true });
      const r4 = roiAlign(f.c4, boxes, boxIndex, pool, { spatialScale: 1 / model.stride.c4, samplingRatio: 2, aligned: true });
      const r5 = roiAlign(f.c5, boxes, boxIndex, pool, { spatialScale: 1 / model.stride.c5, samplingRatio: 2, aligned: true });
      const feats = tf.concat([tf.reshape(r4, [boxes.length, -1]), tf.reshape(r5, [boxes.length, -1])], 1);
      const logits = tf.add(tf.matMul(feats, headW), headB);
      logitsData = tf.keep(tf.argMax(logits, 1));
      return tf.losses.softmaxCrossEntropy(y, logits);
    }, vars);
    const loss = value.dataSync()[0];
    if (!Number.isFinite(loss)) throw new Error(`loss became ${loss} at step ${step}; lower --lr`);
    const pred = logitsData.dataSync();
    for (let i = 0; i < labels.length; i++) if (pred[i] === labels[i]) runHit++;
    runBoxes += labels.length;
    runLoss += loss;
    const lr = lrAt(step);
    tf.tidy(() => {
      params.forEach((p, i) => {
        const g0 = grads[p.variable.name];
        if (!g0) return;
        const g = p.role === 'weight' && weightDecay > 0 ? tf.add(g0, tf.mul(p.variable, weightDecay)) : g0;
        if (optimizerName === 'sgd') {
          const v = tf.add(tf.mul(velocity[i], 0.9), g);
          velocity[i].assign(v);
          p.variable.assign(tf.sub(p.variable, tf.mul(v, lr)));
          return;
        }
        const m1 = tf.add(tf.mul(velocity[i], 0.9), tf.mul(g, 0.1));
        const m2 = tf.add(tf.mul(second[i], 0.999), tf.mul(tf.square(g), 0.001));
        velocity[i].assign(m1);
        second[i].assign(m2);
        const c1 = 1 - Math.pow(0.9, step + 1);
        const c2 = 1 - Math.pow(0.999, step + 1);
        p.variable.assign(tf.sub(p.variable, tf.mul(tf.div(tf.div(m1, c1), tf.add(tf.sqrt(tf.div(m2, c2)), 1e-8)), lr)));
      });
    });
    tf.dispose([x, y, value, logitsData, ...Object.values(grads)]);
    if ((step + 1) % 20 === 0 || step + 1 === steps) {
      const entry = { step: step + 1, loss: runLoss / 20, trainTop1: runHit / Math.max(1, runBoxes), lr, seconds: (Date.now() - t0) / 1000 };
      history.push(entry);
      console.error(
        `[supervised] step ${entry.step}/${steps} loss ${entry.loss.toFixed(3)} train-top1 ${(100 * entry.trainTop1).toFixed(1)} lr ${lr.toFixed(4)} ${entry.seconds.toFixed(0)} s`,
      );
      runLoss = 0;
      runHit = 0;
      runBoxes = 0;
    }
    if ((step + 1) % saveEvery === 0 && step + 1 < steps) save(step + 1);
  }
  save(steps);
  console.error(`[supervised] wrote ${out} (${steps} steps, ${((Date.now() - t0) / 1000).toFixed(0)} s)`);
  tf.dispose([headW, headB, ...velocity, ...second]);
  model.dispose();
}

main().catch((e) => {
  console.error(e.stack || String(e));
  process.exit(1);
});
