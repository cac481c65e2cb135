/**
 * What the evaluators need from a backbone: `@scrl/models`' ResNet satisfies it, and so does
 * any module with the same `features` contract.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { RgbImage } from '@scrl/augment';
import type { Module } from '@scrl/models';
import { ScrlError } from '@scrl/util';

export interface BackboneFeatureMaps {
  c2: tf.Tensor4D;
  c3: tf.Tensor4D;
  c4: tf.Tensor4D;
  c5: tf.Tensor4D;
  /** Global average pool of c5: [N, C5]. */
  pooled: tf.Tensor2D;
}

/** A feature extractor: NHWC float32 input [N, H, W, 3] to stage outputs (ResNet's c2..c5). */
export interface Backbone extends Module {
  features(x: tf.Tensor4D, opts: { training: boolean }): BackboneFeatureMaps;
}

/** ImageNet normalisation used by torchvision and by SCRL's views. */
export const IMAGENET_MEAN: readonly [number, number, number] = [0.485, 0.456, 0.406];
export const IMAGENET_STD: readonly [number, number, number] = [0.229, 0.224, 0.225];

export interface ImagesToTensorOptions {
  /** Output side length; images are resized (bilinear, half-pixel centres). Default: keep size. */
  size?: number;
  mean?: readonly [number, number, number];
  std?: readonly [number, number, number];
}

/**
 * Packs 8-bit RGB images into a normalised NHWC float32 batch `[N, size, size, 3]`:
 * `(pixel / 255 - mean) / std`. Without `size` all images must share one size.
 */
export function imagesToTensor(images: RgbImage[], options: ImagesToTensorOptions = {}): tf.Tensor4D {
  const fn = 'imagesToTensor';
  if (images.length === 0) throw new ScrlError(`Error in ${fn}: images is empty; pass at least one image.`);
  const mean = options.mean ?? IMAGENET_MEAN;
  const std = options.std ?? IMAGENET_STD;
  const size = options.size;
  if (size !== undefined && (!Number.isInteger(size) || size < 1)) {
    throw new ScrlError(`Error in ${fn}: size must be a positive integer, got ${size}.`);
  }
  return tf.tidy(() => {
    const batch = images.map((im, i) => {
      if (im.data.length !== im.width * im.height * 3) {
        throw new ScrlError(
          `Error in ${fn}: image ${i} has ${im.data.length} bytes, expected width*height*3 = ${im.width * im.height * 3} (8-bit RGB, HWC).`,
        );
      }
      if (size === undefined && (im.width !== images[0].width || im.height !== images[0].height)) {
        throw new ScrlError(
          `Error in ${fn}: image ${i} is ${im.width}x${im.height} but image 0 is ${images[0].width}x${images[0].height}; pass options.size to resize.`,
        );
      }
      let t: tf.Tensor3D = tf.tensor3d(Float32Array.from(im.data), [im.height, im.width, 3]);
      if (size !== undefined && (im.width !== size || im.height !== size)) {
        t = tf.image.resizeBilinear(t, [size, size], false, true);
      }
      return t;
    });
    const x = tf.div(tf.stack(batch), 255) as tf.Tensor4D;
    return tf.div(tf.sub(x, tf.tensor1d([...mean])), tf.tensor1d([...std])) as tf.Tensor4D;
  });
}
