import * as tf from '@tensorflow/tfjs-core';
import { createResNet } from '@scrl/models';
import { describeEachBackend } from '@scrl/testing';
import { createFcosDetector, decodeFcos, groupNorm } from '../index';
import type { FcosOutputs } from '../index';

describeEachBackend('groupNorm', () => {
  it("matches PyTorch's definition (per image and group, biased variance, eps 1e-5, then affine)", () => {
    const [n, h, w, c, groups] = [2, 3, 2, 6, 3];
    const values = Float32Array.from({ length: n * h * w * c }, (_, i) => Math.sin(1.7 * i) * (1 + (i % 5)));
    const gamma = [0.5, 1, 1.5, 2, -1, 0.25];
    const beta = [0, 0.1, -0.2, 0.3, 0, 1];
    const out = tf.tidy(() => groupNorm(tf.tensor4d(values, [n, h, w, c]), groups, tf.tensor1d(gamma), tf.tensor1d(beta)).dataSync());
    const per = c / groups;
    for (let b = 0; b < n; b++) {
      for (let g = 0; g < groups; g++) {
        const idx: number[] = [];
        for (let p = 0; p < h * w; p++) for (let k = 0; k < per; k++) idx.push((b * h * w + p) * c + g * per + k);
        const mean = idx.reduce((s, i) => s + values[i], 0) / idx.length;
        const variance = idx.reduce((s, i) => s + (values[i] - mean) ** 2, 0) / idx.length;
        for (const i of idx) {
          const ch = i % c;
          expect(out[i]).toBeCloseTo(((values[i] - mean) / Math.sqrt(variance + 1e-5)) * gamma[ch] + beta[ch], 4);
        }
      }
    }
    expect(() => tf.tidy(() => groupNorm(tf.zeros([1, 1, 1, 6]) as tf.Tensor4D, 4, tf.ones([6]) as tf.Tensor1D, tf.zeros([6]) as tf.Tensor1D))).toThrow(
      /groupNorm: groups must be a positive divisor of the 6 channels, got 4/,
    );
  });
});

describeEachBackend('createFcosDetector', () => {
  it("has torchvision FCOS's parameter count (small-input ResNet-18 width 16, FPN 32 on C3-C5, 2 GroupNorm head convs)", () => {
    // 775322: sum(p.numel()) of tools/experiments/fcos_torch.py's torchvision FCOS with --width 16
    // --fpn 32 --head-convs 2 and 5 classes (printed at its start).
    const backbone = createResNet({ depth: 18, smallInput: true, baseWidth: 16, seed: 0 });
    const det = createFcosDetector(backbone, { numClasses: 5, fpnChannels: 32, headConvs: 2 });
    expect(det.parameters().reduce((s, p) => s + p.variable.size, 0)).toBe(775322);
    const bare = createFcosDetector(backbone, { numClasses: 5, fpnChannels: 32, headConvs: 2, headNorm: 'none' });
    // Without GroupNorm: 2 towers x 2 layers x (32 weights + 32 biases) fewer.
    expect(bare.parameters().reduce((s, p) => s + p.variable.size, 0)).toBe(775322 - 2 * 2 * 64);
    const out = tf.tidy(() => {
      const o = det.forward(tf.zeros([1, 64, 64, 3]), { training: false });
      return o.levels.map((l) => l.stride);
    });
    expect(out).toEqual([2, 4, 8]);
    det.dispose();
    bare.dispose();
    expect(() => createFcosDetector(backbone, { numClasses: 5, fpnChannels: 48 })).toThrow(/fpnChannels \(48\) must be a multiple of 32/);
    backbone.dispose();
  });
});

describeEachBackend('decodeFcos', () => {
  it('scores sqrt(p_class * p_centreness), thresholds that score, and places boxes around (j * stride, i * stride)', () => {
    // One level, stride 4, 1x2 locations at x = 0 and 4 (y = 0); two classes.
    const logit = (p: number): number => Math.log(p / (1 - p));
    const outputs: FcosOutputs = {
      cls: tf.tensor3d([logit(0.9), logit(0.01), logit(0.04), logit(0.3)], [1, 2, 2]),
      box: tf.tensor3d([0, 0, 1, 2, 0.5, 0, 1, 1], [1, 2, 4]),
      ctr: tf.tensor2d([logit(0.64), logit(0.5)], [1, 2]),
      levels: [{ stride: 4, height: 1, width: 2, offset: 0 }],
    };
    const [d] = decodeFcos(outputs, 16, 16, { scoreThreshold: 0.2 });
    // Candidates: (k0, c0) sqrt(0.9 * 0.64) = 0.759; (k1, c1) sqrt(0.3 * 0.5) = 0.387;
    // (k1, c0) sqrt(0.04 * 0.5) = 0.141 and (k0, c1) 0.08 fall under 0.2.
    expect(d.labels).toEqual([0, 1]);
    expect(d.scores[0]).toBeCloseTo(Math.sqrt(0.9 * 0.64), 5);
    expect(d.scores[1]).toBeCloseTo(Math.sqrt(0.3 * 0.5), 5);
    // k0 at (0, 0): l = t = 0, r = 4, b = 8 px. k1 at (4, 0): (4 - 2, 0, 4 + 4, 4).
    expect(d.boxes[0].map((v) => Math.round(v * 1e4) / 1e4)).toEqual([0, 0, 4, 8]);
    expect(d.boxes[1].map((v) => Math.round(v * 1e4) / 1e4)).toEqual([2, 0, 8, 4]);
    tf.dispose([outputs.cls, outputs.box, outputs.ctr]);
  });
});
