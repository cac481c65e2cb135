/**
 * Class-aware NMS on plain arrays with torchvision's semantics (`batched_nms`: boxes of
 * different classes never suppress each other; within a class a box is dropped when its IoU
 * with a kept, higher-scoring box is > iouThreshold; ties in score keep input order).
 * Private to this package: @scrl/roi-align's `batchedNms` was not committed when this was
 * written.
 */
export function batchedNmsIndices(
  boxes: ArrayLike<number>,
  scores: ArrayLike<number>,
  classes: ArrayLike<number>,
  iouThreshold: number,
): number[] {
  const n = scores.length;
  const order = Array.from({ length: n }, (_, i) => i).sort((a, b) => scores[b] - scores[a] || a - b);
  const keep: number[] = [];
  const removed = new Uint8Array(n);
  for (let oi = 0; oi < n; oi++) {
    const i = order[oi];
    if (removed[i]) continue;
    keep.push(i);
    const ax1 = boxes[4 * i];
    const ay1 = boxes[4 * i + 1];
    const ax2 = boxes[4 * i + 2];
    const ay2 = boxes[4 * i + 3];
    const areaA = (ax2 - ax1) * (ay2 - ay1);
    for (let oj = oi + 1; oj < n; oj++) {
      const j = order[oj];
      if (removed[j] || classes[j] !== classes[i]) continue;
      const w = Math.min(ax2, boxes[4 * j + 2]) - Math.max(ax1, boxes[4 * j]);
      const h = Math.min(ay2, boxes[4 * j + 3]) - Math.max(ay1, boxes[4 * j + 1]);
      if (w <= 0 || h <= 0) continue;
      const inter = w * h;
      const areaB = (boxes[4 * j + 2] - boxes[4 * j]) * (boxes[4 * j + 3] - boxes[4 * j + 1]);
      if (inter / (areaA + areaB - inter) > iouThreshold) removed[j] = 1;
    }
  }
  return keep;
}
