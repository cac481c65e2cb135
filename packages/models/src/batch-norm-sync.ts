// packages/models/src/batch-norm-sync.ts — shared by the fused-BatchNorm work (wip/15bn) and the
// multi-thread trainer (wip/15mt). Both branches add this file with exactly this content.
/**
 * A cross-replica reducer for synchronised BatchNorm: called with a buffer of per-channel partial
 * sums computed on this replica's part of the batch; it must replace every entry, in place, by its
 * sum over all replicas (and return only when every replica has contributed). Called once per
 * BatchNorm layer in the training-mode forward pass (sums of x, of x², and the element count) and
 * once in its backward pass (sums of dy and of dy·x̂), always in the same order on every replica.
 */
export type BatchNormReducer = (partialSums: Float64Array) => void;

let reducer: BatchNormReducer | null = null;

/** Installs (or, with null, removes) the reducer used by every training-mode BatchNorm. */
export function setBatchNormReducer(r: BatchNormReducer | null): void {
  reducer = r;
}

/** The installed reducer, or null when BatchNorm statistics are local to this replica. */
export function getBatchNormReducer(): BatchNormReducer | null {
  return reducer;
}
