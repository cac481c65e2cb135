import * as fs from 'node:fs';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { describeEachBackend, expectNoLeak } from '@scrl/testing';
import {
  batchedNms,
  batchedNmsArray,
  boxArea,
  boxAreaArray,
  boxConvert,
  boxConvertArray,
  boxIou,
  boxIouArray,
  boxPairIou,
  clipBoxes,
  clipBoxesArray,
  nms,
  nmsArray,
} from '../index';

interface BoxCase {
  boxes: number[][];
  other: number[][];
  scores: number[];
  idxs: number[];
  area: number[];
  iou: Array<Array<number | null>>;
  clip: number[][];
  convert: Record<string, number[][]>;
  nms: Record<string, number[]>;
  batchedNms: Record<string, number[]>;
}

const fixture = JSON.parse(
  fs.readFileSync(path.join(__dirname, '..', '__fixtures__', 'roi_align_boxes.json'), 'utf8'),
) as { torchvision: string; clipSize: [number, number]; cases: BoxCase[] };

function expectClose(actual: ArrayLike<number>, expected: Array<number | null>, tol = 1e-5): void {
  expect(actual.length).toBe(expected.length);
  for (let i = 0; i < expected.length; i++) {
    const e = expected[i];
    if (e === null) expect(Number.isNaN(actual[i])).toBe(true);
    else expect(Math.abs(actual[i] - e)).toBeLessThanOrEqual(tol * Math.max(1, Math.abs(e)));
  }
}

const boxes2d = (b: number[][]) => tf.tensor2d(b.flat(), [b.length, 4]);

describe(`box ops on plain arrays match torchvision ${fixture.torchvision}`, () => {
  it.each(fixture.cases.map((c, i) => [i, c.boxes.length, c] as const))('case %i (%i boxes)', (_i, _k, c) => {
    expectClose(boxAreaArray(c.boxes), c.area);
    expectClose(boxIouArray(c.boxes, c.other).flat(), c.iou.flat());
    expectClose(clipBoxesArray(c.boxes, fixture.clipSize).flat(), c.clip.flat());
    for (const [key, expected] of Object.entries(c.convert)) {
      const [from, to] = key.split('->') as ['xyxy' | 'xywh' | 'cxcywh', 'xyxy' | 'xywh' | 'cxcywh'];
      expectClose(boxConvertArray(c.boxes, from, to).flat(), expected.flat());
    }
    for (const [t, expected] of Object.entries(c.nms)) expect(nmsArray(c.boxes, c.scores, Number(t))).toEqual(expected);
    for (const [t, expected] of Object.entries(c.batchedNms)) {
      expect(batchedNmsArray(c.boxes, c.scores, c.idxs, Number(t))).toEqual(expected);
    }
  });

  it('accepts flat arrays and typed rows', () => {
    const flat = new Float32Array([0, 0, 2, 2, 1, 1, 3, 3]);
    expect(boxIouArray(flat, [[0, 0, 2, 2]])).toEqual([[1], [1 / 7]]);
    expect(boxIouArray([0, 0, 2, 2, 1, 1, 3, 3], [[0, 0, 2, 2]])).toEqual([[1], [1 / 7]]);
    expect(batchedNmsArray([0, 0, 10, 10, 1, 1, 10, 10], [0.8, 0.9], [0, 0], 0.5)).toEqual([1]);
    expect(() => boxAreaArray([0, 0, 1, 1, 2, 2, 3])).toThrow(
      'Error in boxAreaArray: boxes as a flat array must have a length divisible by 4 but had length 7',
    );
    expect(() => boxAreaArray([0, 0, 1, '1'] as unknown as number[])).toThrow(
      "Error in boxAreaArray: boxes[3] must be a number (flat boxes) but got string 1",
    );
    expect(boxAreaArray([new Float64Array([0, 0, 2, 3])])).toEqual([6]);
    expect(boxPairIou([0, 0, 2, 2], [1, 1, 3, 3])).toBeCloseTo(1 / 7, 12);
    expect(Number.isNaN(boxPairIou([1, 1, 1, 1], [1, 1, 1, 1]))).toBe(true);
  });

  it('keeps the higher-scoring box, suppresses only above the threshold, and keeps classes apart', () => {
    const b = [[0, 0, 10, 10], [0, 0, 10, 5], [20, 20, 30, 30]];
    // IoU of the first two is exactly 0.5: suppressed only when the threshold is below it.
    expect(nmsArray(b, [0.5, 0.9, 0.1], 0.5)).toEqual([1, 0, 2]);
    expect(nmsArray(b, [0.5, 0.9, 0.1], 0.49)).toEqual([1, 2]);
    expect(batchedNmsArray(b, [0.5, 0.9, 0.1], [0, 1, 0], 0.1)).toEqual([1, 0, 2]);
    expect(batchedNmsArray(b, [0.5, 0.9, 0.1], [1, 1, 0], 0.1)).toEqual([1, 2]);
    expect(nmsArray([], [], 0.5)).toEqual([]);
  });

  it('fails with the function, the argument and what it got', () => {
    expect(() => boxIouArray([[0, 0, 1]], [[0, 0, 1, 1]])).toThrow(
      'Error in boxIouArray: boxes1 must have shape [K, 4] but boxes1[0] has length 3',
    );
    expect(() => boxAreaArray(new Float32Array(5))).toThrow(
      'Error in boxAreaArray: boxes as a flat array must have a length divisible by 4 but had length 5',
    );
    expect(() => nmsArray([[0, 0, 1, 1]], [0.1, 0.2], 0.5)).toThrow(
      'Error in nmsArray: scores must have one entry per box (1) but had 2',
    );
    expect(() => boxConvertArray([[0, 0, 1, 1]], 'xyxy', 'yxyx' as 'xyxy')).toThrow(
      'Error in boxConvertArray: outFmt must be one of xyxy, xywh, cxcywh but got "yxyx"',
    );
    expect(() => clipBoxesArray([[0, 0, 1, 1]], [10] as unknown as [number, number])).toThrow(
      'Error in clipBoxesArray: size must be [height, width] of finite numbers >= 0 but got [10]',
    );
  });
});

describeEachBackend('box ops on tensors match torchvision', () => {
  it.each(fixture.cases.map((c, i) => [i, c.boxes.length, c] as const))('case %i (%i boxes)', async (_i, _k, c) => {
    await expectNoLeak(() => {
      tf.tidy(() => {
        const b = boxes2d(c.boxes);
        expectClose(boxArea(b).dataSync(), c.area);
        expectClose(boxIou(b, boxes2d(c.other)).dataSync(), c.iou.flat());
        expectClose(clipBoxes(b, fixture.clipSize).dataSync(), c.clip.flat());
        for (const [key, expected] of Object.entries(c.convert)) {
          const [from, to] = key.split('->') as ['xyxy' | 'xywh' | 'cxcywh', 'xyxy' | 'xywh' | 'cxcywh'];
          expectClose(boxConvert(b, from, to).dataSync(), expected.flat());
        }
        const s = tf.tensor1d(c.scores);
        for (const [t, expected] of Object.entries(c.nms)) {
          const keep = nms(b, s, Number(t));
          expect(keep.dtype).toBe('int32');
          expect(Array.from(keep.dataSync())).toEqual(expected);
        }
        const idxs = tf.tensor1d(c.idxs, 'int32');
        for (const [t, expected] of Object.entries(c.batchedNms)) {
          expect(Array.from(batchedNms(b, s, idxs, Number(t)).dataSync())).toEqual(expected);
        }
      });
    });
  });

  it('validates shapes in the TF.js style', () => {
    expect(() => boxIou(tf.zeros([3, 5]) as tf.Tensor2D, tf.zeros([1, 4]) as tf.Tensor2D)).toThrow(
      'Error in boxIou: boxes1 must have shape [K, 4] but had shape [3,5]',
    );
    expect(() => nms(tf.zeros([2, 4]) as tf.Tensor2D, tf.zeros([3]) as tf.Tensor1D, 0.5)).toThrow(
      'Error in nms: scores must have shape [K] = [2] (one per box) but had shape [3]',
    );
  });
});
