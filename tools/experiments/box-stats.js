#!/usr/bin/env node
/**
 * Investigation for docs/results.md: what SCRL's matched boxes cover on a scenes set, from
 * geometry alone. Draws crops as the pretraining does (random resized crop with --scale, flip
 * 0.5) at --view px, samples box pairs (minSize --min-size, 10 per image, IoU 0.5), maps every
 * view-1 box back to image pixels and measures how much of it lies inside the annotated
 * (visible) object boxes. Also the object sizes as they appear in a view.
 *
 *   node tools/experiments/box-stats.js --scenes DIR [--scale 0.2,1] [--view 32] [--min-size 8] [--stride 8]
 */
'use strict';
const fs = require('node:fs');
const path = require('node:path');
const root = path.join(__dirname, '..', '..');
const { createRng, randomResizedCropParams, sampleBoxPairs, viewBoxToImage } = require('@scrl/augment');
const { arg } = require('../args');

const scenes = arg('scenes');
if (!scenes || !fs.existsSync(path.join(scenes, 'annotations.json'))) {
  console.error('box-stats: --scenes DIR must be a scenes folder with annotations.json');
  process.exit(2);
}
const scale = arg('scale', '0.2,1').split(',').map(Number);
const S = Number(arg('view', '32'));
const minSize = Number(arg('min-size', '8'));
const stride = Number(arg('stride', '8'));
const coco = JSON.parse(fs.readFileSync(path.join(scenes, 'annotations.json'), 'utf8'));
const objectsOf = new Map();
for (const a of coco.annotations) {
  if (!objectsOf.has(a.image_id)) objectsOf.set(a.image_id, []);
  objectsOf.get(a.image_id).push(a.bbox);
}
const rng = createRng(0);
const pairsPerImage = [];
const sideCells = [];
const objectFraction = [];
const objectSideInView = [];
let objectCoverage = 0;
for (const img of coco.images) {
  const objects = objectsOf.get(img.id) ?? [];
  const views = [0, 1].map(() => ({ ...randomResizedCropParams(img.height, img.width, rng, scale), flipped: rng.next() < 0.5 }));
  const zoom = S / Math.sqrt(views[0].width * views[0].height);
  for (const o of objects) objectSideInView.push(Math.sqrt(o[2] * o[3]) * zoom);
  let covered = 0;
  for (let y = 0.5; y < img.height; y++) for (let x = 0.5; x < img.width; x++) if (objects.some((o) => x >= o[0] && x < o[0] + o[2] && y >= o[1] && y < o[1] + o[3])) covered++;
  objectCoverage += covered / (img.width * img.height);
  const pairs = sampleBoxPairs(views[0], views[1], { viewSize: S, minSize, boxesPerImage: 10, iouThreshold: 0.5, maxTries: 50 }, rng);
  pairsPerImage.push(pairs.length);
  for (const p of pairs) {
    const b = p.view1;
    sideCells.push(Math.sqrt((b[2] - b[0]) * (b[3] - b[1])) / stride);
    const r = viewBoxToImage(b, views[0], S);
    let inside = 0;
    let n = 0;
    for (let y = r[1] + 0.5; y < r[3]; y++) {
      for (let x = r[0] + 0.5; x < r[2]; x++) {
        n++;
        if (objects.some((o) => x >= o[0] && x < o[0] + o[2] && y >= o[1] && y < o[1] + o[3])) inside++;
      }
    }
    objectFraction.push(n ? inside / n : 0);
  }
}
const quantile = (a, p) => [...a].sort((x, y) => x - y)[Math.floor(p * (a.length - 1))];
const mean = (a) => a.reduce((x, y) => x + y, 0) / a.length;
const q3 = (a, d) => ({ p10: +quantile(a, 0.1).toFixed(d), median: +quantile(a, 0.5).toFixed(d), p90: +quantile(a, 0.9).toFixed(d) });
console.log(
  JSON.stringify(
    {
      scenes,
      images: coco.images.length,
      scale,
      viewSize: S,
      minSize,
      imageAreaInObjectBoxes: +(objectCoverage / coco.images.length).toFixed(3),
      boxPairsPerImage: +mean(pairsPerImage).toFixed(2),
      boxSideInC5Cells: q3(sideCells, 2),
      objectSideInViewPx: q3(objectSideInView, 1),
      meanObjectFractionOfBox: +mean(objectFraction).toFixed(3),
      boxesMostlyObject: +(objectFraction.filter((f) => f >= 0.5).length / objectFraction.length).toFixed(3),
    },
    null,
    1,
  ),
);
