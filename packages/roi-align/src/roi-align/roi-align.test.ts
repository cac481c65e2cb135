import * as tf from '@tensorflow/tfjs-core';
import { describeEachBackend, expectNoLeak, maxRelativeError, relativeNormError } from '@scrl/testing';
import { RoIAlign, roiAlign } from '../index';
import { roiAlignComposite } from './composite';
import { decodeFloat32, loadRoiAlignFixture, type RoiAlignFixtureCase, uniform } from './fixtures.test-util';
import { roiAlignAttrs } from './roi-align';

const fixture = loadRoiAlignFixture();
const TOL = 1e-4;

function inputsOf(c: RoiAlignFixtureCase) {
  const [n, h, w, ch] = c.inputShape;
  const [ph, pw] = c.outputSize;
  const k = c.boxIndices.length;
  return {
    x: tf.tensor4d(uniform(c.seed, n * h * w * ch), c.inputShape),
    boxes: tf.tensor2d(c.boxes.flat(), [k, 4]),
    boxIndices: tf.tensor1d(c.boxIndices, 'int32'),
    dy: tf.tensor4d(uniform(c.seed + fixture.gradSeedOffset, k * ph * pw * ch), [k, ph, pw, ch]),
  };
}

function optionsOf(c: RoiAlignFixtureCase) {
  return { spatialScale: c.spatialScale, samplingRatio: c.samplingRatio, aligned: c.aligned };
}

/** Worst error of `actual` against torchvision's `expected`: relative, with a floor of 1e-2. */
function parityError(actual: ArrayLike<number>, expected: ArrayLike<number>): number {
  return Math.max(maxRelativeError(actual, expected, 1e-2), relativeNormError(actual, expected));
}

type Pool = (x: tf.Tensor4D, boxes: tf.Tensor2D, boxIndices: tf.Tensor1D, c: RoiAlignFixtureCase) => tf.Tensor4D;

const viaOp: Pool = (x, boxes, boxIndices, c) => roiAlign(x, boxes, boxIndices, c.outputSize, optionsOf(c));
const viaComposite: Pool = (x, boxes, boxIndices, c) =>
  roiAlignComposite(x, boxes.dataSync(), boxIndices.dataSync(), roiAlignAttrs(c.outputSize, optionsOf(c)));

function checkParity(pool: Pool): void {
  it(`matches torchvision ${fixture.torchvision} forward and input gradient on ${fixture.cases.length} cases`, async () => {
    let worstForward = 0;
    let worstGrad = 0;
    for (const c of fixture.cases) {
      await expectNoLeak(() => {
        const { x, boxes, boxIndices, dy } = inputsOf(c);
        const out = pool(x, boxes, boxIndices, c);
        expect({ name: c.name, shape: out.shape }).toEqual({
          name: c.name,
          shape: [c.boxIndices.length, c.outputSize[0], c.outputSize[1], c.inputShape[3]],
        });
        const fwdErr = parityError(out.dataSync(), decodeFloat32(c.forward));
        const dx = tf.grad((v: tf.Tensor) => tf.sum(tf.mul(pool(v as tf.Tensor4D, boxes, boxIndices, c), dy)))(x);
        const gradErr = parityError(dx.dataSync(), decodeFloat32(c.gradInput));
        expect({ name: c.name, fwdErr: fwdErr < TOL, gradErr: gradErr < TOL }).toEqual({
          name: c.name,
          fwdErr: true,
          gradErr: true,
        });
        worstForward = Math.max(worstForward, fwdErr);
        worstGrad = Math.max(worstGrad, gradErr);
        tf.dispose([x, boxes, boxIndices, dy, out, dx]);
      });
    }
    if (process.env.ROI_ALIGN_REPORT) console.log(`worst forward ${worstForward.toExponential(2)}, gradient ${worstGrad.toExponential(2)}`);
    expect(worstForward).toBeLessThan(TOL);
    expect(worstGrad).toBeLessThan(TOL);
  });
}

describeEachBackend('roiAlign', (backend) => {
  it(`runs a registered kernel on ${backend}`, () => {
    expect(tf.getKernel('RoiAlign', backend)).toBeDefined();
    expect(tf.getKernel('RoiAlignGrad', backend)).toBeDefined();
  });

  checkParity(viaOp);

  it('pools a hand-computed example: the 1x1 aligned bin centre of a 2x2 map is its mean', () => {
    const x = tf.tensor4d([1, 2, 3, 4], [1, 2, 2, 1]);
    const out = roiAlign(x, [[0, 0, 2, 2]], [0], 1, { aligned: true, samplingRatio: 1 });
    expect(Array.from(out.dataSync())).toEqual([2.5]);
    // Not aligned, the single sample sits at (1, 1): pixel (1, 1) exactly.
    expect(Array.from(roiAlign(x, [[0, 0, 2, 2]], [0], 1, { samplingRatio: 1 }).dataSync())).toEqual([4]);
  });

  it('gives tf.variableGrads gradients for a variable feature map', () => {
    const v = tf.variable(tf.tensor4d(uniform(1, 2 * 3 * 3 * 2), [2, 3, 3, 2]));
    const { value, grads } = tf.variableGrads(() =>
      tf.sum(roiAlign(v as unknown as tf.Tensor4D, [[0, 0, 3, 3], [1, 1, 2, 2]], [0, 1], [2, 2])),
    );
    const g = grads[v.name].dataSync();
    // Each output element averages weights summing to 1 over in-map samples: total gradient = 2 * 2 * 2 * C.
    expect(g.reduce((a, b) => a + b, 0)).toBeCloseTo(16, 4);
    expect(value.shape).toEqual([]);
    tf.dispose([value, grads[v.name], v]);
  });

  it('gives boxes a zero gradient, as torchvision does not differentiate them', () => {
    const x = tf.tensor4d(uniform(5, 1 * 4 * 4 * 2), [1, 4, 4, 2]);
    const boxes = tf.tensor2d([[0.5, 0.5, 3, 2.5]]);
    const [, dBoxes] = tf.grads((v: tf.Tensor, b: tf.Tensor) =>
      tf.sum(roiAlign(v as tf.Tensor4D, b as tf.Tensor2D, [0], 2)),
    )([x, boxes]);
    expect(Array.from(dBoxes.dataSync())).toEqual([0, 0, 0, 0]);
  });

  it('returns [0, h, w, C] for no boxes, and a zero gradient', () => {
    const x = tf.ones([1, 3, 3, 2]) as tf.Tensor4D;
    const out = roiAlign(x, tf.zeros([0, 4]) as tf.Tensor2D, tf.zeros([0], 'int32') as tf.Tensor1D, [2, 3]);
    expect(out.shape).toEqual([0, 2, 3, 2]);
    const dx = tf.grad((v: tf.Tensor) => tf.sum(roiAlign(v as tf.Tensor4D, [], [], 2)))(x);
    expect(Array.from(dx.dataSync())).toEqual(new Array(18).fill(0));
  });

  it('RoIAlign wraps the same configuration', () => {
    const layer = new RoIAlign(1, { spatialScale: 1 / 32 });
    expect(layer.toString()).toBe('RoIAlign(outputSize=[1, 1], spatialScale=0.03125, samplingRatio=-1, aligned=false)');
    const x = tf.tensor4d(uniform(3, 1 * 7 * 7 * 3), [1, 7, 7, 3]);
    const boxes = [[10, 20, 150, 200]];
    const a = layer.apply(x, boxes, [0]).dataSync();
    const b = roiAlign(x, boxes, [0], [1, 1], { spatialScale: 1 / 32 }).dataSync();
    expect(Array.from(a)).toEqual(Array.from(b));
  });
});

describeEachBackend('roiAlign composite fallback (core ops, used on tensorflow/webgl/webgpu)', () => {
  checkParity(viaComposite);

  it('gives the same forward and gradient when the gather runs in several chunks', () => {
    const c = fixture.cases.find((fc) => fc.inputShape[3] === 37) as RoiAlignFixtureCase;
    const { x, boxes, boxIndices, dy } = inputsOf(c);
    const attrs = roiAlignAttrs(c.outputSize, optionsOf(c));
    const chunked = (v: tf.Tensor) => roiAlignComposite(v as tf.Tensor4D, boxes.dataSync(), boxIndices.dataSync(), attrs, 100);
    const out = chunked(x);
    expect(parityError(out.dataSync(), decodeFloat32(c.forward))).toBeLessThan(TOL);
    const dx = tf.grad(chunked)(x, dy);
    expect(parityError(dx.dataSync(), decodeFloat32(c.gradInput))).toBeLessThan(TOL);
    tf.dispose([x, boxes, boxIndices, dy, out, dx]);
  });

  it('is what roiAlign runs on a backend without a RoiAlign kernel', () => {
    const backend = tf.getBackend();
    const saved = ['RoiAlign', 'RoiAlignGrad'].map((name) => tf.getKernel(name, backend));
    saved.forEach((k) => tf.unregisterKernel(k.kernelName, k.backendName));
    try {
      const c = fixture.cases.find((fc) => fc.name.startsWith('SCRL')) as RoiAlignFixtureCase;
      const { x, boxes, boxIndices, dy } = inputsOf(c);
      const out = viaOp(x, boxes, boxIndices, c);
      expect(parityError(out.dataSync(), decodeFloat32(c.forward))).toBeLessThan(TOL);
      const dx = tf.grad((v: tf.Tensor) => viaOp(v as tf.Tensor4D, boxes, boxIndices, c))(x, dy);
      expect(parityError(dx.dataSync(), decodeFloat32(c.gradInput))).toBeLessThan(TOL);
      tf.dispose([x, boxes, boxIndices, dy, out, dx]);
    } finally {
      saved.forEach((k) => tf.registerKernel(k));
    }
    expect(tf.getKernel('RoiAlign', backend)).toBeDefined();
  });
});

describeEachBackend('roiAlign input validation', () => {
  const x = () => tf.zeros([2, 4, 4, 3]) as tf.Tensor4D;

  it('names the argument, what it got and what is expected', () => {
    expect(() => roiAlign(tf.zeros([4, 4, 3]) as unknown as tf.Tensor4D, [[0, 0, 1, 1]], [0], 1)).toThrow(
      'Error in roiAlign: input must be rank 4 [N, H, W, C] but had rank 3 (shape [4,4,3])',
    );
    expect(() => roiAlign(tf.zeros([1, 4, 4, 3], 'int32') as tf.Tensor4D, [[0, 0, 1, 1]], [0], 1)).toThrow(
      'Error in roiAlign: input must be float32 but had dtype int32',
    );
    expect(() => roiAlign(x(), tf.zeros([3, 5]) as tf.Tensor2D, [0, 0, 0], 1)).toThrow(
      'Error in roiAlign: boxes must have shape [K, 4] but had shape [3,5]',
    );
    expect(() => roiAlign(x(), [[0, 0, 1]], [0], 1)).toThrow(
      'Error in roiAlign: boxes must have shape [K, 4] but boxes[0] is of length 3',
    );
    expect(() => roiAlign(x(), tf.zeros([1, 4], 'int32') as tf.Tensor2D, [0], 1)).toThrow(
      'Error in roiAlign: boxes must be float32 but had dtype int32',
    );
    expect(() => roiAlign(x(), [[0, 0, 1, 1]], [0, 1], 1)).toThrow(
      'Error in roiAlign: boxIndices must have shape [K] = [1] (one per box) but had shape [2]',
    );
    expect(() => roiAlign(x(), [[0, 0, 1, 1]], tf.tensor1d([0], 'float32'), 1)).toThrow(
      'Error in roiAlign: boxIndices must be int32 but had dtype float32',
    );
    expect(() => roiAlign(x(), [[0, 0, 1, 1], [0, 0, 2, 2]], [0, 2], 1)).toThrow(
      'Error in roiAlign: boxIndices[1] is 2 but input has batch size 2; box indices must be in [0, 1]',
    );
    expect(() => roiAlign(x(), [[0, 0, 1, 1], [0, NaN, 2, 2]], [0, 1], 1)).toThrow(
      'Error in roiAlign: boxes must be finite but boxes[1] is [0, NaN, 2, 2]',
    );
    expect(() => roiAlign(x(), [[0, 0, 1, 1]], [0], [2, 0])).toThrow(
      'Error in roiAlign: outputSize must be a positive integer or [height, width] of positive integers but got [2,0]',
    );
    expect(() => roiAlign(x(), [[0, 0, 1, 1]], [0], 1, { spatialScale: 0 })).toThrow(
      'Error in roiAlign: options.spatialScale must be a finite number > 0 but got 0',
    );
    expect(() => roiAlign(x(), [[0, 0, 1, 1]], [0], 1, { samplingRatio: 1.5 })).toThrow(
      'Error in roiAlign: options.samplingRatio must be an integer (<= 0 for adaptive) but got 1.5',
    );
  });

  it('leaks no tensor when it throws', async () => {
    const input = x();
    await expectNoLeak(() => {
      expect(() => roiAlign(input, [[0, 0, 1, 1]], [5], 1)).toThrow(/boxIndices\[0\] is 5/);
    });
    input.dispose();
  });
});
