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
import { allocate, convGeometry, release, runBackendKernel, view } from './kernel-utils';
import { conv2dBackpropFilterSimd } from './conv2d-backprop-filter-simd';

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
      `Error in Conv2DBackpropFilter: dy has shape [${dy.shape}] but x [${x.shape}] with filter ` +
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

/**
 * The same gradient as one matrix product, for the cpu backend, whose Conv2D loop is slow when
 * its channel count (here: the batch) is small:
 *   cols[(kh, kw, ci), (n, oh, ow)] = xpad[n, oh*s + kh, ow*s + kw, ci]   (im2col, transposed)
 *   dw[(kh, kw, ci), co] = cols @ dy[(n, oh, ow), co]                        (backend BatchMatMul)
 */
export function conv2dBackpropFilterIm2col(args: {
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
      `Error in Conv2DBackpropFilter: dy has shape [${dy.shape}] but x [${x.shape}] with filter ` +
        `[${attrs.filterShape}] gives outputs [${g.batch},${g.outHeight},${g.outWidth},${g.outChannels}].`,
    );
  }
  const { batch, inHeight: H, inWidth: W, inChannels: ci, outHeight: oh, outWidth: ow } = g;
  const { filterHeight: kh, filterWidth: kw, strideHeight: sh, strideWidth: sw, padTop, padLeft } = g;
  const K = kh * kw * ci;
  const P = batch * oh * ow;
  const temps: tf.TensorInfo[] = [];
  try {
    const cols = allocate(backend, [1, K, P], 'float32');
    temps.push(cols.info);
    const xv = view(backend, x) as Float32Array;
    const c = cols.data;
    for (let i = 0; i < kh; i++) {
      for (let j = 0; j < kw; j++) {
        for (let ch = 0; ch < ci; ch++) {
          const rowBase = ((i * kw + j) * ci + ch) * P;
          for (let n = 0; n < batch; n++) {
            for (let r = 0; r < oh; r++) {
              const xr = r * sh + i - padTop;
              if (xr < 0 || xr >= H) continue; // stays 0
              const dst = rowBase + (n * oh + r) * ow;
              const src = ((n * H + xr) * W) * ci + ch;
              for (let q = 0; q < ow; q++) {
                const xc = q * sw + j - padLeft;
                if (xc >= 0 && xc < W) c[dst + q] = xv[src + xc * ci];
              }
            }
          }
        }
      }
    }
    const dy3 = runBackendKernel('Reshape', backend, { x: dy }, { shape: [1, P, g.outChannels] });
    temps.push(dy3);
    const dw = runBackendKernel('BatchMatMul', backend, { a: cols.info, b: dy3 }, { transposeA: false, transposeB: false });
    temps.push(dw);
    return runBackendKernel('Reshape', backend, { x: dw }, { shape: [kh, kw, ci, g.outChannels] });
  } finally {
    for (const t of temps) release(backend, t);
  }
}

/**
 * wasm with input channels a multiple of 4 and output channels a multiple of 8: the SIMD loop
 * of conv2d-backprop-filter-simd.ts (2x to 10x faster than the conv formulation for the 3x3
 * and 1x1 shapes of the SCRL/BYOL step and the detection step; docs/backends.md). Otherwise, cpu
 * and wasm: the matrix product for 1x1 filters (im2col is then a strided copy), the conv
 * formulation otherwise (as fast or faster for 3x3 and 7x7, where the im2col buffer is kh*kw
 * times the input). cpu: im2col measured 4-6x faster for 1x1 at batch 2 and 8. wasm (XNNPACK
 * product): 5-20x faster for the stride-2 1x1 downsample convolutions of the SCRL step (the
 * conv formulation's dilated 1x1 "filter" runs slowly there), slower for its 3x3 filters.
 */
export function conv2dBackpropFilterByShape(args: {
  inputs: tf.NamedTensorInfoMap;
  backend: tf.KernelBackend;
  attrs: tf.NamedAttrMap;
}): tf.TensorInfo {
  const simd = conv2dBackpropFilterSimd(args);
  if (simd) return simd;
  const [kh, kw] = (args.attrs as unknown as tf.Conv2DBackpropFilterAttrs).filterShape;
  return kh === 1 && kw === 1 ? conv2dBackpropFilterIm2col(args) : conv2dBackpropFilterViaConv2D(args);
}
