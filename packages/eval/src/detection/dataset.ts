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
 *
 * @throws DataError naming the image file when it cannot be decoded or its size differs from
 *   the annotation's `width` x `height` (its boxes would be scaled wrongly). An annotated image
 *   is not skipped: leaving it out would change the evaluation set.
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
  const { decodeImage, DataError } = await import('@scrl/data');
  const samples: DetectionSample[] = [];
  for (const im of dataset.images.slice(0, limit)) {
    let image: Awaited<ReturnType<typeof decodeImage>>;
    try {
      image = await decodeImage(im.file);
    } catch (err) {
      throw new DataError(
        'loadDetectionSamples',
        im.file,
        `image id ${im.id} cannot be read (${[...new Set((err as Error).message.split('\n').map((l) => l.trim()).filter(Boolean))].join('; ')}).`,
        'Replace the file, or remove the image and its annotations from the annotation file.',
      );
    }
    if (image.width !== im.width || image.height !== im.height) {
      throw new DataError(
        'loadDetectionSamples',
        im.file,
        `image id ${im.id} is ${image.width}x${image.height} px but the annotations say ${im.width}x${im.height}.`,
        'Fix width and height in the annotation file (boxes are in the pixels of the stored image).',
      );
    }
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
