/**
 * Box operations on tensors, named and defined as in `torchvision.ops.boxes`. Boxes are float32
 * `[K, 4]` tensors `(x1, y1, x2, y2)`. The elementwise ones (area, IoU, convert, clip) are
 * built from core ops and run on the active backend; `nms` and `batchedNms` are sequential and
 * read their inputs back, like `tf.image.nonMaxSuppression`, computing in float32 like
 * torchvision's CPU kernel.
 */
import * as tf from '@tensorflow/tfjs-core';
import { BOX_FORMATS, type BoxFormat, batchedNmsOrdered, checkImageSize, nmsOrdered, orderByScore } from './box-array';

function fail(op: string, message: string): never {
  throw new Error(`Error in ${op}: ${message}`);
}

function checkBoxes(boxes: unknown, op: string, arg = 'boxes'): tf.Tensor2D {
  if (!(boxes instanceof tf.Tensor)) fail(op, `${arg} must be a Tensor2D [K, 4] but got ${typeof boxes}`);
  if (boxes.rank !== 2 || boxes.shape[1] !== 4) fail(op, `${arg} must have shape [K, 4] but had shape [${boxes.shape.join(',')}]`);
  if (boxes.dtype !== 'float32') fail(op, `${arg} must be float32 but had dtype ${boxes.dtype}`);
  return boxes as tf.Tensor2D;
}

function columns(boxes: tf.Tensor2D): tf.Tensor1D[] {
  return tf.unstack(boxes, 1) as tf.Tensor1D[];
}

/** `torchvision.ops.box_area`: `[K]` areas `(x2 - x1) * (y2 - y1)`. */
export function boxArea(boxes: tf.Tensor2D): tf.Tensor1D {
  checkBoxes(boxes, 'boxArea');
  return tf.tidy(() => {
    const [x1, y1, x2, y2] = columns(boxes);
    return tf.mul(tf.sub(x2, x1), tf.sub(y2, y1));
  });
}

/** `torchvision.ops.box_iou`: `[N, M]` pairwise IoU of `boxes1` `[N, 4]` and `boxes2` `[M, 4]`. */
export function boxIou(boxes1: tf.Tensor2D, boxes2: tf.Tensor2D): tf.Tensor2D {
  checkBoxes(boxes1, 'boxIou', 'boxes1');
  checkBoxes(boxes2, 'boxIou', 'boxes2');
  return tf.tidy(() => {
    const a = tf.expandDims(boxes1, 1); // [N, 1, 4]
    const b = tf.expandDims(boxes2, 0); // [1, M, 4]
    const lt = tf.maximum(tf.slice(a, [0, 0, 0], [-1, -1, 2]), tf.slice(b, [0, 0, 0], [-1, -1, 2]));
    const rb = tf.minimum(tf.slice(a, [0, 0, 2], [-1, -1, 2]), tf.slice(b, [0, 0, 2], [-1, -1, 2]));
    const wh = tf.relu(tf.sub(rb, lt));
    const inter = tf.prod(wh, 2);
    const union = tf.sub(tf.add(tf.expandDims(boxArea(boxes1), 1), tf.expandDims(boxArea(boxes2), 0)), inter);
    return tf.div(inter, union) as tf.Tensor2D;
  });
}

/** `torchvision.ops.box_convert`: converts `[K, 4]` boxes between `xyxy`, `xywh`, `cxcywh`. */
export function boxConvert(boxes: tf.Tensor2D, inFmt: BoxFormat, outFmt: BoxFormat): tf.Tensor2D {
  checkBoxes(boxes, 'boxConvert');
  for (const [arg, fmt] of [['inFmt', inFmt], ['outFmt', outFmt]] as const) {
    if (!BOX_FORMATS.includes(fmt)) fail('boxConvert', `${arg} must be one of ${BOX_FORMATS.join(', ')} but got ${JSON.stringify(fmt)}`);
  }
  if (inFmt === outFmt) return tf.clone(boxes);
  return tf.tidy(() => {
    let [x1, y1, x2, y2] = columns(boxes);
    if (inFmt === 'xywh') {
      [x2, y2] = [tf.add(x1, x2), tf.add(y1, y2)];
    } else if (inFmt === 'cxcywh') {
      const [cx, cy, hw, hh] = [x1, y1, tf.mul(x2, 0.5), tf.mul(y2, 0.5)];
      [x1, y1, x2, y2] = [tf.sub(cx, hw), tf.sub(cy, hh), tf.add(cx, hw), tf.add(cy, hh)];
    }
    let out: tf.Tensor1D[];
    if (outFmt === 'xyxy') out = [x1, y1, x2, y2];
    else if (outFmt === 'xywh') out = [x1, y1, tf.sub(x2, x1), tf.sub(y2, y1)];
    else out = [tf.div(tf.add(x1, x2), 2), tf.div(tf.add(y1, y2), 2), tf.sub(x2, x1), tf.sub(y2, y1)];
    return tf.stack(out, 1) as tf.Tensor2D;
  });
}

/**
 * `torchvision.ops.clip_boxes_to_image`: clamps x to `[0, width]` and y to `[0, height]`.
 * @param size `[height, width]`, as in torchvision.
 */
export function clipBoxes(boxes: tf.Tensor2D, size: readonly [number, number]): tf.Tensor2D {
  checkBoxes(boxes, 'clipBoxes');
  const [height, width] = checkImageSize(size, 'clipBoxes');
  return tf.tidy(() => {
    const [x1, y1, x2, y2] = columns(boxes);
    const cx = (v: tf.Tensor1D) => tf.clipByValue(v, 0, width);
    const cy = (v: tf.Tensor1D) => tf.clipByValue(v, 0, height);
    return tf.stack([cx(x1), cy(y1), cx(x2), cy(y2)], 1) as tf.Tensor2D;
  });
}

function checkVector(t: unknown, k: number, op: string, arg: string): tf.Tensor1D {
  if (!(t instanceof tf.Tensor)) fail(op, `${arg} must be a Tensor1D [K] but got ${typeof t}`);
  if (t.rank !== 1 || t.shape[0] !== k) fail(op, `${arg} must have shape [K] = [${k}] (one per box) but had shape [${t.shape.join(',')}]`);
  return t as tf.Tensor1D;
}

function checkThreshold(t: unknown, op: string): void {
  if (typeof t !== 'number' || Number.isNaN(t)) fail(op, `iouThreshold must be a number but got ${String(t)}`);
}

/**
 * `torchvision.ops.nms`: greedy non-maximum suppression of `boxes` `[K, 4]` by `scores` `[K]`.
 * Drops a box whose IoU with a kept, higher-scoring box is > `iouThreshold`. Returns int32
 * `[kept]` indices by decreasing score (equal scores: lower index first).
 */
export function nms(boxes: tf.Tensor2D, scores: tf.Tensor1D, iouThreshold: number): tf.Tensor1D {
  checkBoxes(boxes, 'nms');
  checkVector(scores, boxes.shape[0], 'nms', 'scores');
  checkThreshold(iouThreshold, 'nms');
  const s = scores.dataSync();
  const keep = nmsOrdered(boxes.dataSync(), orderByScore(s), iouThreshold, Math.fround);
  return tf.tensor1d(keep, 'int32');
}

/**
 * `torchvision.ops.batched_nms`: NMS per category `idxs` `[K]` (int32 or float32 category ids);
 * boxes of different categories never suppress each other. Returns int32 kept indices by
 * decreasing score.
 */
export function batchedNms(boxes: tf.Tensor2D, scores: tf.Tensor1D, idxs: tf.Tensor1D, iouThreshold: number): tf.Tensor1D {
  checkBoxes(boxes, 'batchedNms');
  checkVector(scores, boxes.shape[0], 'batchedNms', 'scores');
  checkVector(idxs, boxes.shape[0], 'batchedNms', 'idxs');
  checkThreshold(iouThreshold, 'batchedNms');
  const keep = batchedNmsOrdered(boxes.dataSync(), scores.dataSync(), idxs.dataSync(), iouThreshold, Math.fround);
  return tf.tensor1d(keep, 'int32');
}
