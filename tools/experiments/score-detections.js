#!/usr/bin/env node
/**
 * Scores COCO-format detections (a results JSON: [{ image_id, category_id, bbox, score }]) on the
 * test split of a COCO folder with @scrl/eval's `evaluateCoco`, the evaluator `scrl eval
 * detection` reports. The test split is the one `scrl eval detection` holds out: the last --val
 * fraction (rounded, at least one) of the images in annotations.json order. Used by
 * tools/experiments/fcos_torch.py so that the PyTorch oracle and our detector are scored alike.
 *
 *   node tools/experiments/score-detections.js --data DIR --detections FILE [--val 0.2] [--image-ids FILE]
 *
 * --image-ids FILE (a JSON list of image ids) scores on those images instead of the test split:
 * fcos_torch.py's --sweep-val uses it to score on a validation split of the training images.
 *
 * Prints the 12 COCO stats by name (AP, AP50, ...; fractions, -1 = undefined) as JSON.
 */
'use strict';
const fs = require('node:fs');
const path = require('node:path');
const { evaluateCoco } = require('@scrl/eval');
const { arg } = require('../args');

function main() {
  const data = arg('data');
  const file = arg('detections');
  if (!data || !fs.existsSync(path.join(data, 'annotations.json'))) throw new Error('--data DIR must be a COCO folder with annotations.json');
  if (!file || !fs.existsSync(file)) throw new Error('--detections FILE must be a COCO results JSON');
  const valFraction = Number(arg('val', '0.2'));
  if (!(valFraction > 0 && valFraction < 1)) throw new Error(`--val must be a fraction in (0, 1), got ${arg('val')}`);
  const coco = JSON.parse(fs.readFileSync(path.join(data, 'annotations.json'), 'utf8'));
  let images;
  const idsFile = arg('image-ids');
  if (idsFile) {
    const wanted = new Set(JSON.parse(fs.readFileSync(idsFile, 'utf8')));
    images = coco.images.filter((im) => wanted.has(im.id));
    if (images.length !== wanted.size) throw new Error(`--image-ids ${idsFile}: ${wanted.size - images.length} ids are not images of ${data}`);
  } else {
    const nVal = Math.max(1, Math.round(coco.images.length * valFraction));
    images = coco.images.slice(coco.images.length - nVal);
  }
  const ids = new Set(images.map((im) => im.id));
  const groundTruth = {
    images: images.map((im) => ({ id: im.id, width: im.width, height: im.height })),
    categories: coco.categories.map((c) => ({ id: c.id, name: c.name })),
    annotations: coco.annotations
      .filter((a) => ids.has(a.image_id))
      .map((a) => ({ ...a, area: a.area ?? a.bbox[2] * a.bbox[3], iscrowd: a.iscrowd ?? 0 })),
  };
  const detections = JSON.parse(fs.readFileSync(file, 'utf8'));
  const result = evaluateCoco(groundTruth, detections);
  process.stdout.write(JSON.stringify(result.named) + '\n');
}

main();
