/**
 * `Conv2DBackpropInput` (the input gradient of conv2d) as one forward `Conv2D` of the backend.
 *
 * The input gradient of y = conv2d(x, w, stride s, pad p) is the "full" correlation of dy,
 * zero-upsampled by s (s - 1 zeros between neighbours), with the spatially flipped filter whose
 * in/out channels are swapped:
 *   u = upsample(dy, s) : [n, (oh-1)*s + 1, (ow-1)*s + 1, co]
 *   w'[i, j, co, ci] = w[kh-1-i, kw-1-j, ci, co]
 *   dx = conv2d(u, w', stride 1, pad top = kh-1-p_top, bottom = H + p_top - 1 - (oh-1)*s, ...)
 * The wasm backend's stock kernel is a scalar loop; this puts the work in XNNPACK.
 */
import * as tf from '@tensorflow/tfjs-core';
import { allocate, convGeometry, release, runBackendKernel, view } from './kernel-utils';

/** Returns null when the geometry needs negative padding (a pad larger than the filter). */
export function conv2dBackpropInputViaConv2D(args: {
  inputs: tf.NamedTensorInfoMap;
  backend: tf.KernelBackend;
  attrs: tf.NamedAttrMap;
}): tf.TensorInfo | null {
  const { inputs, backend } = args;
  const attrs = args.attrs as unknown as tf.Conv2DBackpropInputAttrs;
  const { dy, filter } = inputs as { dy: tf.TensorInfo; filter: tf.TensorInfo };
  const g = convGeometry('Conv2DBackpropInput', attrs.inputShape, filter.shape, attrs);
  if (dy.shape[0] !== g.batch || dy.shape[1] !== g.outHeight || dy.shape[2] !== g.outWidth || dy.shape[3] !== g.outChannels) {
    throw new Error(
      `Conv2DBackpropInput: dy has shape [${dy.shape}] but inputShape [${attrs.inputShape}] with filter ` +
        `[${filter.shape}] gives outputs [${g.batch},${g.outHeight},${g.outWidth},${g.outChannels}].`,
    );
  }
  const { strideHeight: sh, strideWidth: sw, filterHeight: kh, filterWidth: kw } = g;
  const upH = (g.outHeight - 1) * sh + 1;
  const upW = (g.outWidth - 1) * sw + 1;
  const padTop = kh - 1 - g.padTop;
  const padLeft = kw - 1 - g.padLeft;
  const padBottom = g.inHeight + g.padTop - 1 - (g.outHeight - 1) * sh;
  const padRight = g.inWidth + g.padLeft - 1 - (g.outWidth - 1) * sw;
  if (padTop < 0 || padLeft < 0 || padBottom < 0 || padRight < 0) return null;

  const ci = g.inChannels;
  const co = g.outChannels;
  const temps: tf.TensorInfo[] = [];
  try {
    // Flipped filter with swapped channels: [kh, kw, co, ci].
    const flipped = allocate(backend, [kh, kw, co, ci], 'float32');
    temps.push(flipped.info);
    const w = view(backend, filter) as Float32Array;
    const fw = flipped.data;
    for (let i = 0; i < kh; i++) {
      for (let j = 0; j < kw; j++) {
        const src = ((kh - 1 - i) * kw + (kw - 1 - j)) * ci * co;
        const dst = (i * kw + j) * co * ci;
        for (let c = 0; c < ci; c++) {
          for (let o = 0; o < co; o++) fw[dst + o * ci + c] = w[src + c * co + o];
        }
      }
    }

    let up = dy;
    if (sh > 1 || sw > 1) {
      const u = allocate(backend, [g.batch, upH, upW, co], 'float32');
      temps.push(u.info);
      up = u.info;
      const d = view(backend, dy) as Float32Array;
      const ud = u.data;
      for (let n = 0; n < g.batch; n++) {
        for (let r = 0; r < g.outHeight; r++) {
          for (let c = 0; c < g.outWidth; c++) {
            const src = ((n * g.outHeight + r) * g.outWidth + c) * co;
            const dst = ((n * upH + r * sh) * upW + c * sw) * co;
            ud.set(d.subarray(src, src + co), dst);
          }
        }
      }
    }
    return runBackendKernel('Conv2D', backend, { x: up, filter: flipped.info }, {
      strides: [1, 1],
      pad: [
        [0, 0],
        [padTop, padBottom],
        [padLeft, padRight],
        [0, 0],
      ],
      dataFormat: 'NHWC',
      dilations: [1, 1],
      dimRoundingMode: 'floor',
    } as unknown as tf.NamedAttrMap);
  } finally {
    for (const t of temps) release(backend, t);
  }
}
