/**
 * From `@scrl/data`'s `DetectionDataset` (COCO / VOC readers, generated scenes) to decoded
 * `DetectionSample`s for `fineTuneDetection`.
 */
import type { DetectionDataset } from '@scrl/data';
import type { DetectionSample } from './finetune';
import { ScrlError } from '@scrl/util';

export interface LoadDetectionSamplesOptions {
  /** Keep only the first `limit` images (dataset order). Default: all. */
  limit?: number;
}

/**
 * Decodes the images of `dataset` and groups its annotations per image. Images without
 * annotations are kept (they count for evaluation). Memory grows with the images decoded:
 * use `limit` for CPU-scale runs.
 */
export async function loadDetectionSamples(
  dataset: DetectionDataset,
  options: LoadDetectionSamplesOptions = {},
): Promise<DetectionSample[]> {
  const limit = options.limit ?? dataset.images.length;
  if (!Number.isInteger(limit) || limit < 0) {
    throw new ScrlError(`Error in loadDetectionSamples: options.limit must be a non-negative integer, got ${options.limit}.`);
  }
  const byImage = new Map<number, DetectionDataset['annotations']>();
  for (const a of dataset.annotations) {
    const list = byImage.get(a.imageId);
    if (list) list.push(a);
    else byImage.set(a.imageId, [a]);
  }
  // Loaded on first use: @scrl/data brings sharp and its loader machinery, which the rest of
  // this package does not need.
  const { decodeImage } = await import('@scrl/data');
  const samples: DetectionSample[] = [];
  for (const im of dataset.images.slice(0, limit)) {
    const image = await decodeImage(im.file);
    const anns = byImage.get(im.id) ?? [];
    samples.push({
      id: im.id,
      image,
      bboxes: anns.map((a) => [...a.bbox]),
      categoryIds: anns.map((a) => a.categoryId),
      areas: anns.map((a) => a.area),
      iscrowd: anns.map((a) => a.iscrowd),
    });
  }
  return samples;
}
