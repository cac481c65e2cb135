#!/usr/bin/env node
/**
 * Step-level parity of `scrl eval detection`'s FCOS with torchvision 0.14's FCOS: builds our
 * detector (small-input ResNet-18, FPN on C3-C5, GroupNorm head), runs `--steps` fine-tuning
 * steps of @scrl/eval's detectionTrainStep on one batch of the built-in scenes (no flips, lr
 * --lr, SGD momentum 0.9, weight decay 1e-4 on conv weights, clip 10), and hands the initial
 * weights, the first step's loss terms and gradients, every step's loss and the final weights to
 * tools/experiments/fcos_parity.py, which loads the same weights into torchvision's FCOS
 * (fcos_torch.py's build_fcos), repeats the steps with torch.optim.SGD and prints the worst
 * differences. One command:
 *
 *   node tools/experiments/fcos-parity.js [--backend cpu] [--width 8] [--batch 8] [--steps 5] [--lr 0.01]
 *        [--write-init FILE.json]
 *
 * --write-init also writes our detector's initial weights (width --width, seed 0: the weights
 * `scrl eval detection` starts from) in torchvision's names and layout, for
 * `fcos_torch.py --detector-init FILE.json`: PyTorch trained from exactly our initialisation.
 */
'use strict';
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { spawnSync } = require('node:child_process');
const root = path.join(__dirname, '..', '..');
const tf = require(require.resolve('@tensorflow/tfjs-core', { paths: [root] }));
const ev = require('@scrl/eval');
const models = require('@scrl/models');
const roi = require('@scrl/roi-align');
const { ensureScenes, loadScenes } = require('@scrl/data');
const { arg } = require('../args');

/** Our detector's parameter names -> torchvision FCOS state_dict names. */
function torchName(n) {
  let m;
  if (n.startsWith('backbone.')) return `backbone.body.${n.slice('backbone.'.length)}`;
  if ((m = n.match(/^fpn\.lateral(\d)\.(weight|bias)$/))) return `backbone.fpn.inner_blocks.${Number(m[1]) - 3}.0.${m[2]}`;
  if ((m = n.match(/^fpn\.output(\d)\.(weight|bias)$/))) return `backbone.fpn.layer_blocks.${Number(m[1]) - 3}.0.${m[2]}`;
  const tower = (t) => `head.${t === 'cls' ? 'classification' : 'regression'}_head.conv`;
  if ((m = n.match(/^head\.(cls|bbox)_tower\.(\d)\.norm\.(weight|bias)$/))) return `${tower(m[1])}.${3 * Number(m[2]) + 1}.${m[3]}`;
  if ((m = n.match(/^head\.(cls|bbox)_tower\.(\d)\.(weight|bias)$/))) return `${tower(m[1])}.${3 * Number(m[2])}.${m[3]}`;
  if ((m = n.match(/^head\.cls_logits\.(weight|bias)$/))) return `head.classification_head.cls_logits.${m[1]}`;
  if ((m = n.match(/^head\.bbox_pred\.(weight|bias)$/))) return `head.regression_head.bbox_reg.${m[1]}`;
  if ((m = n.match(/^head\.centerness\.(weight|bias)$/))) return `head.regression_head.bbox_ctrness.${m[1]}`;
  throw new Error(`fcos-parity: no torchvision name for our parameter ${n}`);
}

/** { torchName: { shape, data } } in torch layout (conv HWIO -> OIHW). */
function dump(named) {
  const out = {};
  for (const [name, t] of named) {
    const u = t.rank === 4 ? tf.transpose(t, [3, 2, 0, 1]) : t;
    out[torchName(name)] = { shape: u.shape, data: Array.from(u.dataSync()) };
    if (u !== t) u.dispose();
  }
  return out;
}

async function main() {
  const backend = arg('backend', 'cpu');
  const width = Number(arg('width', '8'));
  const batchSize = Number(arg('batch', '8'));
  const steps = Number(arg('steps', '5'));
  const lr = Number(arg('lr', '0.01'));
  await roi.initBackend({ backend, log: null });
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'scrl-fcos-parity-'));
  try {
    const scenes = path.join(tmp, 'scenes');
    await ensureScenes(scenes, { images: batchSize, size: 64, seed: 0 }, () => {});
    const ds = await loadScenes(scenes);
    const samples = await ev.loadDetectionSamples(ds);
    const catIndex = new Map(ds.categories.map((c, i) => [c.id, i]));
    const images = samples.map((s) => s.image);
    const targets = samples.map((s) => ({
      boxes: s.bboxes.map((b) => [b[0], b[1], b[0] + b[2], b[1] + b[3]]),
      labels: s.categoryIds.map((c) => catIndex.get(c)),
    }));
    const backbone = models.createResNet({ depth: 18, smallInput: true, baseWidth: width, seed: 0 });
    const ctx = ev.createDetectionTraining(backbone, ds.categories.length, { ...ev.DEFAULT_DETECTION_CONFIG });
    const params = ctx.detector.parameters();
    const out = { data: scenes, width, steps, lr, weights: dump(params.map((p) => [p.name, p.variable])) };
    const initFile = arg('write-init', null);
    if (initFile) fs.writeFileSync(initFile, JSON.stringify(out.weights));
    // First step's loss terms and gradients, without updating.
    const x = ev.imagesToTensor(images, { size: 64 });
    let terms = [];
    const { value, grads } = tf.variableGrads(() => {
      const o = ctx.detector.forward(x, { training: true });
      const loss = ev.fcosLoss(o, ev.fcosTargets(o.levels, targets, ds.categories.length, { centerSampling: 1.5 }));
      terms = [loss.cls, loss.box, loss.ctr].map((s) => s.dataSync()[0]);
      return loss.total;
    }, ctx.vars);
    out.terms = terms;
    out.grads = dump(params.filter((p) => grads[p.variable.name]).map((p) => [p.name, grads[p.variable.name]]));
    tf.dispose([x, value, ...Object.values(grads)]);
    out.losses = [];
    for (let k = 0; k < steps; k++) out.losses.push(ev.detectionTrainStep(ctx, images, targets, lr).loss);
    out.after = dump(params.map((p) => [p.name, p.variable]));
    const file = path.join(tmp, 'ours.json');
    fs.writeFileSync(file, JSON.stringify(out));
    const r = spawnSync('/usr/bin/python3', [path.join(__dirname, 'fcos_parity.py'), file], { stdio: 'inherit' });
    process.exitCode = r.status ?? 1;
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
