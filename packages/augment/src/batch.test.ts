import * as tf from '@tensorflow/tfjs-core';
import { describeEachBackend, expectNoLeak } from '@scrl/testing';
import { boxPairBatch, createRng, sampleBoxPairs } from './index';
import type { BoxPair, ViewGeometry } from './index';

describeEachBackend('boxPairBatch', () => {
  it('builds [2P, 4] boxes and int32 [2P] indices over the stacked views', async () => {
    const g1: ViewGeometry = { top: 0, left: 0, height: 300, width: 300, flipped: false };
    const g2: ViewGeometry = { top: 50, left: 40, height: 250, width: 260, flipped: true };
    const rng = createRng(0);
    const perImage: BoxPair[][] = [
      sampleBoxPairs(g1, g2, { viewSize: 224 }, rng),
      [],
      sampleBoxPairs(g2, g1, { viewSize: 224, boxesPerImage: 3 }, rng),
    ];
    const b = boxPairBatch(perImage);
    expect(b.numPairs).toBe(13);
    expect(b.boxes.shape).toEqual([26, 4]);
    expect(b.boxes.dtype).toBe('float32');
    expect(b.boxIndices.shape).toEqual([26]);
    expect(b.boxIndices.dtype).toBe('int32');
    const idx = await b.boxIndices.data();
    expect(Array.from(idx.slice(0, 13))).toEqual([...new Array(10).fill(0), 2, 2, 2]);
    expect(Array.from(idx.slice(13))).toEqual([...new Array(10).fill(3), 5, 5, 5]);
    expect(Array.from(b.pairImage)).toEqual([...new Array(10).fill(0), 2, 2, 2]);
    const boxes = await b.boxes.array();
    expect(boxes[0]).toEqual(perImage[0][0].view1.map(Math.fround));
    expect(boxes[13 + 11]).toEqual(perImage[2][1].view2.map(Math.fround));
    tf.dispose([b.boxes, b.boxIndices]);
  });

  it('handles a batch with no pairs at all', async () => {
    await expectNoLeak(() => {
      const b = boxPairBatch([[], []]);
      expect(b.numPairs).toBe(0);
      expect(b.boxes.shape).toEqual([0, 4]);
      expect(b.boxIndices.shape).toEqual([0]);
      expect(b.boxIndices.dtype).toBe('int32');
      tf.dispose([b.boxes, b.boxIndices]);
    });
  });
});
