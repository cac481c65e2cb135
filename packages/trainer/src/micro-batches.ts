/**
 * The one data path of pretraining: micro-batches in training order from `@scrl/data`'s
 * view-pair loader, for a folder (worker threads) and an `ImageSource` (this thread) alike.
 * Micro-batch `g` is batch `g mod stepsPerEpoch` of epoch `floor(g / stepsPerEpoch)`; each
 * image's views and boxes come from the stream (seed, 'item', epoch, index), so the same seed
 * gives the same batches from a folder and from an ImageSource of it, and a resume rebuilds
 * them exactly.
 */
import * as path from 'node:path';
import { createViewPairLoader, DataError } from '@scrl/data';
import type { ImageSource, ViewPairBatch } from '@scrl/data';
import type { TrainConfig } from './config';

export interface MicroBatchStream {
  next(): Promise<ViewPairBatch>;
  close(): Promise<void>;
}

/** Micro-batches of `config`'s views and boxes, from micro-batch `first` on. */
export function microBatchStream(
  source: readonly string[] | ImageSource,
  config: TrainConfig,
  options: { first: number; workers?: number; minBoxSize: number; warn?: (line: string) => void },
): MicroBatchStream {
  const loader = createViewPairLoader(source, {
    batchSize: config.batch.size,
    workers: options.workers,
    seed: config.seed,
    viewSize: config.views.size,
    pipeline: { scale: config.views.scale, blur: config.views.blur },
    boxPairs: {
      minSize: config.boxes.minSize ?? options.minBoxSize,
      boxesPerImage: config.boxes.perImage,
      iouThreshold: config.boxes.iouThreshold,
      maxTries: config.boxes.maxTries,
      jitter: config.boxes.jitter,
    },
    warn: options.warn,
  });
  const count = Array.isArray(source) ? source.length : (source as ImageSource).length;
  const perEpoch = loader.stepsPerEpoch;
  let epoch = Math.floor(options.first / perEpoch);
  let it = loader.epoch(epoch, { startStep: options.first % perEpoch });
  return {
    async next(): Promise<ViewPairBatch> {
      for (;;) {
        const r = await it.next();
        if (loader.skipped.length === count) {
          const first = loader.skipped[0];
          throw new DataError(
            'train',
            path.dirname(first.file),
            `none of the ${count} ${Array.isArray(source) ? 'image files' : 'images'} could be decoded (first: ${path.basename(first.file)}: ${first.reason}).`,
            'Point --data at a folder of readable jpg, png or webp images.',
          );
        }
        if (!r.done) return r.value;
        epoch += 1;
        it = loader.epoch(epoch);
      }
    },
    close: () => loader.close(),
  };
}
