/**
 * The GPU kernels' tap tables, checked in Node: a JS copy of the two shaders' gathers (same
 * loops, same zero-weight ends, float32 products) over the tables reproduces torchvision's
 * forward and input gradient on every fixture case. The shaders themselves run in Chromium
 * (npm run test:browser, packages/web).
 */
import { maxRelativeError, relativeNormError } from '@scrl/testing';
import { decodeFloat32, loadRoiAlignFixture, uniform } from '../fixtures.test-util';
import { roiAlignAttrs } from '../roi-align';
import { backwardTables, forwardTables, roundUpPow2 } from './tables';

const fixture = loadRoiAlignFixture();
const f = Math.fround;

function parityError(actual: ArrayLike<number>, expected: ArrayLike<number>): number {
  return Math.max(maxRelativeError(actual, expected, 1e-2), relativeNormError(actual, expected));
}

describe('GPU RoIAlign tap tables', () => {
  it('rounds table widths up to powers of two', () => {
    expect([0, 1, 2, 3, 5, 8, 9].map(roundUpPow2)).toEqual([1, 1, 2, 4, 8, 8, 16]);
  });

  it.each(fixture.cases.map((c) => [c.name, c] as const))('gathers like torchvision: %s', (_name, c) => {
    const [N, H, W, C] = c.inputShape;
    const K = c.boxIndices.length;
    const [PH, PW] = c.outputSize;
    const attrs = roiAlignAttrs(c.outputSize, { spatialScale: c.spatialScale, samplingRatio: c.samplingRatio, aligned: c.aligned });
    const x = uniform(c.seed, N * H * W * C);
    const dy = uniform(c.seed + fixture.gradSeedOffset, K * PH * PW * C);
    const boxes = c.boxes.flat();

    const t = forwardTables(boxes, c.boxIndices, N, H, W, attrs);
    const out = new Float32Array(K * PH * PW * C);
    for (let k = 0; k < K; k++) {
      const n = t.image[k];
      for (let ph = 0; ph < PH; ph++) {
        for (let pw = 0; pw < PW; pw++) {
          for (let ch = 0; ch < C; ch++) {
            let sum = 0;
            const re = (k * PH + ph) * 2 * t.TR;
            const ce = (k * PW + pw) * 2 * t.TC;
            for (let i = 0; i < t.TR && t.rows[re + 2 * i + 1] !== 0; i++) {
              for (let j = 0; j < t.TC && t.cols[ce + 2 * j + 1] !== 0; j++) {
                const v = x[((n * H + t.rows[re + 2 * i]) * W + t.cols[ce + 2 * j]) * C + ch];
                sum = f(sum + f(f(t.rows[re + 2 * i + 1] * t.cols[ce + 2 * j + 1]) * v));
              }
            }
            out[((k * PH + ph) * PW + pw) * C + ch] = sum;
          }
        }
      }
    }
    expect(parityError(out, decodeFloat32(c.forward))).toBeLessThan(1e-4);

    const b = backwardTables(boxes, c.boxIndices, c.inputShape, attrs);
    const dx = new Float32Array(N * H * W * C);
    for (let n = 0; n < N; n++) {
      const first = b.imageRange[2 * n];
      const count = b.imageRange[2 * n + 1];
      for (let r = 0; r < H; r++) {
        for (let col = 0; col < W; col++) {
          for (let ch = 0; ch < C; ch++) {
            let sum = 0;
            for (let tt = 0; tt < b.KMAX && tt < count; tt++) {
              const k = b.order[first + tt];
              const re = (k * H + r) * 2 * b.MR;
              const ce = (k * W + col) * 2 * b.MC;
              for (let i = 0; i < b.MR && b.invRows[re + 2 * i + 1] !== 0; i++) {
                for (let j = 0; j < b.MC && b.invCols[ce + 2 * j + 1] !== 0; j++) {
                  const g = dy[((k * PH + b.invRows[re + 2 * i]) * PW + b.invCols[ce + 2 * j]) * C + ch];
                  sum = f(sum + f(f(b.invRows[re + 2 * i + 1] * b.invCols[ce + 2 * j + 1]) * g));
                }
              }
            }
            dx[((n * H + r) * W + col) * C + ch] = sum;
          }
        }
      }
    }
    expect(parityError(dx, decodeFloat32(c.gradInput))).toBeLessThan(1e-4);
  });

  it('names the box and the fix when a box index is outside the batch', () => {
    const attrs = roiAlignAttrs(2);
    expect(() => forwardTables([0, 0, 1, 1], [3], 2, 4, 4, attrs)).toThrow(/boxIndices\[0\] is 3 but the input has batch size 2/);
  });
});
