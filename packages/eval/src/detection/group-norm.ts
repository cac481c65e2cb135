/**
 * PyTorch's `GroupNorm` on NHWC tensors, with its gradient.
 *
 * Two implementations of one definition. On the cpu backend with @scrl/optim's host loops on
 * (`onHost()`), forward and backward are each a few passes of JavaScript over the data
 * (statistics summed in float64) inside one `tf.customGrad` op: for the FCOS head's shape
 * ([16, 32, 32, 32], 32 groups) forward+backward took 25 ms against 578 ms for the tensor ops
 * (load average 7.8). On wasm the tensor ops are faster than these loops at that shape (30 ms
 * against 59 ms: the SIMD kernels beat the copies in and out of the heap), and on webgl/webgpu
 * the data should not leave the device, so everywhere but cpu GroupNorm is written with tensor
 * ops and TF.js derives the gradient.
 */
import * as tf from '@tensorflow/tfjs-core';
import { onHost } from '@scrl/optim';

const EPS = 1e-5;

/** The group of each of `c` channels. */
function groupOf(c: number, groups: number): Int32Array {
  const per = c / groups;
  return Int32Array.from({ length: c }, (_, ch) => Math.floor(ch / per));
}

function checkGroups(c: number, groups: number): void {
  if (!Number.isInteger(groups) || groups < 1 || c % groups !== 0) {
    throw new Error(`groupNorm: groups must be a positive divisor of the ${c} channels, got ${groups}.`);
  }
}

/** The tensor-op definition (TF.js differentiates it). */
export function groupNormOps(x: tf.Tensor4D, groups: number, weight: tf.Tensor1D, bias: tf.Tensor1D): tf.Tensor4D {
  const [n, h, w, c] = x.shape;
  checkGroups(c, groups);
  return tf.tidy(() => {
    const g = tf.reshape(x, [n, h, w, groups, c / groups]);
    const { mean, variance } = tf.moments(g, [1, 2, 4], true);
    const y = tf.reshape(tf.mul(tf.sub(g, mean), tf.rsqrt(tf.add(variance, EPS))), [n, h, w, c]);
    return tf.add(tf.mul(y, weight), bias) as tf.Tensor4D;
  });
}

/**
 * Per (image, group): mean and 1/sqrt(var + eps) of x (biased variance, float64 sums), for x
 * laid out as [n, hw, c] with `per` consecutive channels per group.
 */
function statistics(xs: Float32Array, n: number, hw: number, c: number, groups: number): { mean: Float64Array; rstd: Float64Array } {
  const per = c / groups;
  const grp = groupOf(c, groups);
  const mean = new Float64Array(n * groups);
  const rstd = new Float64Array(n * groups);
  const s1 = new Float64Array(groups);
  const s2 = new Float64Array(groups);
  const count = hw * per;
  for (let b = 0; b < n; b++) {
    s1.fill(0);
    s2.fill(0);
    // First pass: mean; second: centred sum of squares (two passes keep the variance exact).
    let o = b * hw * c;
    for (let p = 0; p < hw; p++, o += c) {
      for (let ch = 0; ch < c; ch++) s1[grp[ch]] += xs[o + ch];
    }
    for (let g = 0; g < groups; g++) mean[b * groups + g] = s1[g] / count;
    o = b * hw * c;
    for (let p = 0; p < hw; p++, o += c) {
      for (let ch = 0; ch < c; ch++) {
        const g = grp[ch];
        const d = xs[o + ch] - mean[b * groups + g];
        s2[g] += d * d;
      }
    }
    for (let g = 0; g < groups; g++) rstd[b * groups + g] = 1 / Math.sqrt(s2[g] / count + EPS);
  }
  return { mean, rstd };
}

/** The host-loop implementation (forward and gradient in JavaScript); exported for tests. */
export function groupNormHost(x: tf.Tensor4D, groups: number, weight: tf.Tensor1D, bias: tf.Tensor1D): tf.Tensor4D {
  const [n, h, w, c] = x.shape;
  checkGroups(c, groups);
  const hw = h * w;
  const per = c / groups;
  const grpOf = groupOf(c, groups);
  // tf.customGrad's typing takes a rest list of tensors followed by the save function.
  const op = tf.customGrad(((xIn: tf.Tensor, gammaIn: tf.Tensor, betaIn: tf.Tensor, save: tf.GradSaveFunc) => {
    const xs = xIn.dataSync() as Float32Array;
    const gamma = gammaIn.dataSync() as Float32Array;
    const beta = betaIn.dataSync() as Float32Array;
    const { mean, rstd } = statistics(xs, n, hw, c, groups);
    const out = new Float32Array(xs.length);
    for (let b = 0; b < n; b++) {
      let o = b * hw * c;
      for (let p = 0; p < hw; p++, o += c) {
        for (let ch = 0; ch < c; ch++) {
          const k = b * groups + grpOf[ch];
          out[o + ch] = (xs[o + ch] - mean[k]) * rstd[k] * gamma[ch] + beta[ch];
        }
      }
    }
    save([xIn, gammaIn]);
    return {
      value: tf.tensor4d(out, [n, h, w, c]),
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [xSaved, gammaSaved] = saved;
        const xv = xSaved.dataSync() as Float32Array;
        const g = gammaSaved.dataSync() as Float32Array;
        const dys = dy.dataSync() as Float32Array;
        // Recomputed rather than kept: two cheap passes, and no float64 arrays held between passes.
        const st = statistics(xv, n, hw, c, groups);
        const dx = new Float32Array(xv.length);
        const dgamma = new Float64Array(c);
        const dbeta = new Float64Array(c);
        const sumDxhat = new Float64Array(groups);
        const sumDxhatXhat = new Float64Array(groups);
        const count = hw * per;
        for (let b = 0; b < n; b++) {
          sumDxhat.fill(0);
          sumDxhatXhat.fill(0);
          let o = b * hw * c;
          for (let p = 0; p < hw; p++, o += c) {
            for (let ch = 0; ch < c; ch++) {
              const grp = grpOf[ch];
              const k = b * groups + grp;
              const xhat = (xv[o + ch] - st.mean[k]) * st.rstd[k];
              const d = dys[o + ch];
              dgamma[ch] += d * xhat;
              dbeta[ch] += d;
              const dxhat = d * g[ch];
              sumDxhat[grp] += dxhat;
              sumDxhatXhat[grp] += dxhat * xhat;
            }
          }
          o = b * hw * c;
          for (let p = 0; p < hw; p++, o += c) {
            for (let ch = 0; ch < c; ch++) {
              const grp = grpOf[ch];
              const k = b * groups + grp;
              const xhat = (xv[o + ch] - st.mean[k]) * st.rstd[k];
              const dxhat = dys[o + ch] * g[ch];
              dx[o + ch] = st.rstd[k] * (dxhat - sumDxhat[grp] / count - (xhat * sumDxhatXhat[grp]) / count);
            }
          }
        }
        return [tf.tensor4d(dx, [n, h, w, c]), tf.tensor1d(Float32Array.from(dgamma)), tf.tensor1d(Float32Array.from(dbeta))];
      },
    };
  }) as unknown as Parameters<typeof tf.customGrad>[0]);
  return op(x, weight, bias) as tf.Tensor4D;
}

/**
 * PyTorch's `GroupNorm` on NHWC input: each image's channels split into `groups` consecutive
 * groups, each normalised by its mean and biased variance over (H, W, channels of the group),
 * eps 1e-5, then the per-channel affine `weight`, `bias`.
 */
export function groupNorm(x: tf.Tensor4D, groups: number, weight: tf.Tensor1D, bias: tf.Tensor1D): tf.Tensor4D {
  checkGroups(x.shape[3], groups);
  if (x.dtype !== 'float32' || !onHost() || tf.getBackend() !== 'cpu') return groupNormOps(x, groups, weight, bias);
  return groupNormHost(x, groups, weight, bias);
}
