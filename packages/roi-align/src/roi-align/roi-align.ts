/**
 * roiAlign: Region of Interest (RoI) Align from Mask R-CNN (He et al., ICCV 2017), with the
 * semantics of `torchvision.ops.roi_align`, on NHWC TensorFlow.js tensors.
 */
import * as tf from '@tensorflow/tfjs-core';
import { roiAlignComposite } from './composite';
import { RoiAlign, type RoiAlignKernelAttrs } from './kernel-names';
import './register';
import type { RoiAlignAttrs } from './sampling';

/** Options of {@link roiAlign}, named after torchvision's arguments. */
export interface RoiAlignOptions {
  /**
   * Scale that maps box coordinates to input coordinates: 1/16 for a stride-16 feature map and
   * boxes in image pixels. Default 1.
   */
  spatialScale?: number;
  /**
   * Sampling points per output bin along each axis. A value <= 0 samples adaptively,
   * `ceil(roi_height / output_height)` by `ceil(roi_width / output_width)` points. Default -1.
   */
  samplingRatio?: number;
  /**
   * If true, shift box coordinates by -0.5 so that pixel centres align with their neighbours
   * (Detectron2's RoIAlignV2), and do not clamp RoIs to at least 1x1. Default false.
   */
  aligned?: boolean;
}

/** Output size: one number for a square output, or `[height, width]`. */
export type RoiAlignOutputSize = number | readonly [number, number];

const OP = 'roiAlign';

function fail(message: string): never {
  throw new Error(`Error in ${OP}: ${message}`);
}

function shapeOf(t: tf.Tensor): string {
  return `[${t.shape.join(',')}]`;
}

function describeValue(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'object') return (value as object).constructor?.name ?? 'an object';
  return `${typeof value} ${String(value)}`;
}

function isNumberRow(row: unknown): row is ArrayLike<number> {
  return (Array.isArray(row) || ArrayBuffer.isView(row)) && Array.from(row as ArrayLike<unknown>).every((v) => typeof v === 'number');
}

function toBoxes(boxes: tf.Tensor | ArrayLike<ArrayLike<number>>): tf.Tensor {
  if (boxes instanceof tf.Tensor) return boxes;
  if (!Array.isArray(boxes)) fail(`boxes must be a Tensor2D or an array of [x1, y1, x2, y2] but got ${describeValue(boxes)}`);
  boxes.forEach((row, i) => {
    if (!isNumberRow(row) || row.length !== 4) {
      fail(`boxes must have shape [K, 4] but boxes[${i}] is ${isNumberRow(row) ? `of length ${row.length}` : describeValue(row)}`);
    }
  });
  return tf.tensor2d(boxes.flatMap((r) => Array.from(r as ArrayLike<number>)), [boxes.length, 4], 'float32');
}

function toBoxIndices(boxIndices: tf.Tensor | ArrayLike<number>): tf.Tensor {
  if (boxIndices instanceof tf.Tensor) return boxIndices;
  if (!Array.isArray(boxIndices) && !(boxIndices instanceof Int32Array)) {
    fail(`boxIndices must be an int32 Tensor1D, an Int32Array or a number[] but got ${describeValue(boxIndices)}`);
  }
  const values = Array.from(boxIndices);
  values.forEach((v, i) => {
    if (!Number.isInteger(v)) fail(`boxIndices must be integers but boxIndices[${i}] is ${String(v)}`);
  });
  return tf.tensor1d(values, 'int32');
}

/** Validates and normalises the non-tensor arguments into kernel attributes. */
export function roiAlignAttrs(outputSize: RoiAlignOutputSize, options: RoiAlignOptions = {}): RoiAlignAttrs {
  const size = typeof outputSize === 'number' ? [outputSize, outputSize] : outputSize;
  if (!Array.isArray(size) || size.length !== 2 || !size.every((s) => Number.isInteger(s) && s >= 1)) {
    fail(
      `outputSize must be a positive integer or [height, width] of positive integers but got ` +
        `${JSON.stringify(outputSize)}`,
    );
  }
  if (options === null || typeof options !== 'object') fail(`options must be an object but got ${describeValue(options)}`);
  const { spatialScale = 1, samplingRatio = -1, aligned = false } = options;
  if (typeof spatialScale !== 'number' || !Number.isFinite(spatialScale) || spatialScale <= 0) {
    fail(`options.spatialScale must be a finite number > 0 but got ${String(spatialScale)}`);
  }
  if (!Number.isInteger(samplingRatio)) {
    fail(`options.samplingRatio must be an integer (<= 0 for adaptive) but got ${String(samplingRatio)}`);
  }
  if (typeof aligned !== 'boolean') fail(`options.aligned must be a boolean but got ${String(aligned)}`);
  return { pooledHeight: size[0], pooledWidth: size[1], spatialScale, samplingRatio, aligned };
}

/**
 * Performs Region of Interest (RoI) Align, as in Mask R-CNN, with the semantics of
 * `torchvision.ops.roi_align` (same sampling, same handling of boxes partly outside the map).
 *
 * @param input Feature map, float32 `[N, H, W, C]` (NHWC, TF.js layout).
 * @param boxes float32 `[K, 4]` boxes `(x1, y1, x2, y2)` in the coordinates of the image the
 *   map was computed from (`spatialScale` maps them onto the map). Boxes may lie partly or
 *   wholly outside the map, and may be empty or inverted.
 * @param boxIndices int32 `[K]`: the image in `input` each box belongs to, in `[0, N)`.
 * @param outputSize Pooled output size: `h` for `h x h`, or `[h, w]`.
 * @param options `spatialScale` (default 1), `samplingRatio` (default -1, adaptive),
 *   `aligned` (default false); see {@link RoiAlignOptions}.
 * @returns float32 `[K, h, w, C]`. Differentiable with respect to `input` (not `boxes`).
 */
export function roiAlign(
  input: tf.Tensor4D,
  boxes: tf.Tensor2D | ArrayLike<ArrayLike<number>>,
  boxIndices: tf.Tensor1D | ArrayLike<number>,
  outputSize: RoiAlignOutputSize,
  options: RoiAlignOptions = {},
): tf.Tensor4D {
  if (!(input instanceof tf.Tensor)) fail(`input must be a Tensor4D [N, H, W, C] but got ${describeValue(input)}`);
  if (input.rank !== 4) fail(`input must be rank 4 [N, H, W, C] but had rank ${input.rank} (shape ${shapeOf(input)})`);
  if (input.dtype !== 'float32') fail(`input must be float32 but had dtype ${input.dtype}`);
  const attrs = roiAlignAttrs(outputSize, options);
  return tf.tidy(() => {
    const b = toBoxes(boxes);
    const bi = toBoxIndices(boxIndices);
    if (b.rank !== 2 || b.shape[1] !== 4) fail(`boxes must have shape [K, 4] but had shape ${shapeOf(b)}`);
    if (b.dtype !== 'float32') fail(`boxes must be float32 but had dtype ${b.dtype}`);
    if (bi.rank !== 1 || bi.shape[0] !== b.shape[0]) {
      fail(`boxIndices must have shape [K] = [${b.shape[0]}] (one per box) but had shape ${shapeOf(bi)}`);
    }
    if (bi.dtype !== 'int32') fail(`boxIndices must be int32 but had dtype ${bi.dtype}`);
    const boxValues = b.dataSync();
    const indexValues = bi.dataSync() as Int32Array;
    const N = input.shape[0];
    for (let k = 0; k < indexValues.length; k++) {
      const n = indexValues[k];
      if (n < 0 || n >= N) {
        fail(`boxIndices[${k}] is ${n} but input has batch size ${N}; box indices must be in [0, ${N - 1}]`);
      }
      for (let j = 0; j < 4; j++) {
        const v = boxValues[4 * k + j];
        if (!Number.isFinite(v)) {
          fail(`boxes must be finite but boxes[${k}] is [${Array.from(boxValues.subarray(4 * k, 4 * k + 4)).join(', ')}]`);
        }
      }
    }
    if (tf.getKernel(RoiAlign, tf.getBackend()) != null) {
      return tf.engine().runKernel(
        RoiAlign,
        { x: input, boxes: b, boxIndices: bi } as unknown as tf.NamedTensorMap,
        attrs as RoiAlignKernelAttrs,
      ) as tf.Tensor4D;
    }
    return roiAlignComposite(input, boxValues, indexValues, attrs);
  });
}

/**
 * A configured {@link roiAlign}, like torchvision's `RoIAlign` module:
 * `new RoIAlign(1, { spatialScale: 1 / 32 }).apply(features, boxes, boxIndices)`.
 */
export class RoIAlign {
  readonly outputSize: [number, number];
  readonly spatialScale: number;
  readonly samplingRatio: number;
  readonly aligned: boolean;

  constructor(outputSize: RoiAlignOutputSize, options: RoiAlignOptions = {}) {
    const a = roiAlignAttrs(outputSize, options);
    this.outputSize = [a.pooledHeight, a.pooledWidth];
    this.spatialScale = a.spatialScale;
    this.samplingRatio = a.samplingRatio;
    this.aligned = a.aligned;
  }

  /** Pools `boxes` of `input`; see {@link roiAlign} for shapes. */
  apply(
    input: tf.Tensor4D,
    boxes: tf.Tensor2D | ArrayLike<ArrayLike<number>>,
    boxIndices: tf.Tensor1D | ArrayLike<number>,
  ): tf.Tensor4D {
    return roiAlign(input, boxes, boxIndices, this.outputSize, {
      spatialScale: this.spatialScale,
      samplingRatio: this.samplingRatio,
      aligned: this.aligned,
    });
  }

  toString(): string {
    return (
      `RoIAlign(outputSize=[${this.outputSize.join(', ')}], spatialScale=${this.spatialScale}, ` +
      `samplingRatio=${this.samplingRatio}, aligned=${this.aligned})`
    );
  }
}
