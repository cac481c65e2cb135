/**
 * `Conv2DBackpropFilter` (the weight gradient of conv2d) as one forward `Conv2D` of the backend.
 *
 * The weight gradient of y = conv2d(x, w, stride s, pad p) is
 *   dw[kh, kw, ci, co] = sum_{n, oh, ow} xpad[n, oh*s + kh, ow*s + kw, ci] * dy[n, oh, ow, co],
 * which is itself a stride-1 convolution whose "batch" is the input channel, whose "channels"
 * are the batch, whose filter is dy, and whose dilation is s:
 *   x' = x as [ci, H, W, n],  f' = dy as [oh, ow, n, co],
 *   dw' = conv2d(x', f', stride 1, dilation s, pad p) : [ci, kh, kw, co],  dw = dw' as [kh, kw, ci, co].
 * On wasm that puts the work in XNNPACK's convolution (wasm has no kernel for it at all); on cpu
 * it runs the cpu backend's conv2d loop, which is much faster than its stock backprop-filter loop.
 * Rows and columns of x that no output reads (a stride that does not divide the input) are cut
 * off first, so the convolution produces exactly kh x kw outputs.
 */
import * as tf from '@tensorflow/tfjs-core';
import { convGeometry, release, runBackendKernel } from './kernel-utils';

export function conv2dBackpropFilterViaConv2D(args: {
  inputs: tf.NamedTensorInfoMap;
  backend: tf.KernelBackend;
  attrs: tf.NamedAttrMap;
}): tf.TensorInfo {
  const { inputs, backend } = args;
  const attrs = args.attrs as unknown as tf.Conv2DBackpropFilterAttrs;
  const { x, dy } = inputs as { x: tf.TensorInfo; dy: tf.TensorInfo };
  const g = convGeometry('Conv2DBackpropFilter', x.shape, attrs.filterShape, attrs);
  if (dy.shape[1] !== g.outHeight || dy.shape[2] !== g.outWidth || dy.shape[3] !== g.outChannels) {
    throw new Error(
      `Conv2DBackpropFilter: dy has shape [${dy.shape}] but x [${x.shape}] with filter ` +
        `[${attrs.filterShape}] gives outputs [${g.batch},${g.outHeight},${g.outWidth},${g.outChannels}].`,
    );
  }
  // Input rows/columns the forward pass read, counted from the top-left of x.
  const usedH = Math.min(g.inHeight, (g.outHeight - 1) * g.strideHeight + g.filterHeight - g.padTop);
  const usedW = Math.min(g.inWidth, (g.outWidth - 1) * g.strideWidth + g.filterWidth - g.padLeft);
  const padBottom = (g.outHeight - 1) * g.strideHeight + g.filterHeight - g.padTop - usedH;
  const padRight = (g.outWidth - 1) * g.strideWidth + g.filterWidth - g.padLeft - usedW;

  const temps: tf.TensorInfo[] = [];
  try {
    let xUsed = x;
    if (usedH < g.inHeight || usedW < g.inWidth) {
      xUsed = runBackendKernel('Slice', backend, { x }, {
        begin: [0, 0, 0, 0],
        size: [g.batch, usedH, usedW, g.inChannels],
      });
      temps.push(xUsed);
    }
    const xT = runBackendKernel('Transpose', backend, { x: xUsed }, { perm: [3, 1, 2, 0] });
    temps.push(xT);
    const dyT = runBackendKernel('Transpose', backend, { x: dy }, { perm: [1, 2, 0, 3] });
    temps.push(dyT);
    const dwT = runBackendKernel('Conv2D', backend, { x: xT, filter: dyT }, {
      strides: [1, 1],
      pad: [
        [0, 0],
        [g.padTop, padBottom],
        [g.padLeft, padRight],
        [0, 0],
      ],
      dataFormat: 'NHWC',
      dilations: [g.strideHeight, g.strideWidth],
      dimRoundingMode: 'floor',
    } as unknown as tf.NamedAttrMap);
    temps.push(dwT);
    return runBackendKernel('Transpose', backend, { x: dwT }, { perm: [1, 2, 0, 3] });
  } finally {
    for (const t of temps) release(backend, t);
  }
}
