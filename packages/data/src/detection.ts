/**
 * The one detection-dataset shape every reader returns (COCO, VOC, generated scenes) and the
 * evaluator consumes. Boxes are COCO `[x, y, w, h]` in image pixels (x, y: top-left corner).
 */
import * as path from 'node:path';
import sharp from 'sharp';
import type { RgbImage } from '@scrl/augment';
import { decodeImage } from './decode';
import { SkipLog, type WarnFn } from './errors';

export interface DetectionImage {
  /** Positive integer id, unique in the dataset. */
  id: number;
  /** Absolute path of the image file. */
  file: string;
  width: number;
  height: number;
}

export interface DetectionCategory {
  /** Positive integer id, unique in the dataset (COCO's ids are not contiguous). */
  id: number;
  name: string;
}

export interface DetectionAnnotation {
  id: number;
  imageId: number;
  categoryId: number;
  /** COCO `[x, y, w, h]` in pixels, inside the image. */
  bbox: [number, number, number, number];
  /** Object area in pixels (COCO: segmentation area; VOC: box area; scenes: visible pixels). */
  area: number;
  /** 1 for a COCO crowd region (pycocotools ignores matches to it), else 0. */
  iscrowd: 0 | 1;
  /** VOC only: marked difficult (VOC's evaluation ignores these). */
  difficult?: boolean;
  /** VOC only: object extends beyond the box. */
  truncated?: boolean;
}

export interface DetectionDataset {
  images: DetectionImage[];
  categories: DetectionCategory[];
  annotations: DetectionAnnotation[];
}

/** Tolerance, in pixels, for boxes that overrun their image by rounding (clipped, not rejected). */
export const BOX_TOLERANCE = 1;

/**
 * Checks a box against its image: finite, non-negative size, inside the image up to
 * `BOX_TOLERANCE` pixels. Returns the box clipped to the image, or a problem sentence.
 */
export function checkBox(
  bbox: readonly number[],
  width: number,
  height: number,
): { ok: true; bbox: [number, number, number, number] } | { ok: false; problem: string } {
  const [x, y, w, h] = bbox;
  if (![x, y, w, h].every(Number.isFinite)) return { ok: false, problem: `has a non-finite bbox [${bbox.join(', ')}]` };
  if (w < 0 || h < 0) return { ok: false, problem: `has a negative bbox size [${bbox.join(', ')}]` };
  const t = BOX_TOLERANCE;
  if (x < -t || y < -t || x + w > width + t || y + h > height + t) {
    return { ok: false, problem: `has bbox [${bbox.join(', ')}] (x, y, w, h) outside its ${width}x${height} image` };
  }
  const x1 = Math.max(0, x);
  const y1 = Math.max(0, y);
  const x2 = Math.min(width, x + w);
  const y2 = Math.min(height, y + h);
  return { ok: true, bbox: [x1, y1, Math.max(0, x2 - x1), Math.max(0, y2 - y1)] };
}

/** Options of `toCocoJson`. */
export interface ToCocoJsonOptions {
  /** Write `file_name` relative to this folder (default: the file's base name). */
  relativeTo?: string;
  /** What to do with VOC `difficult` objects: keep as normal objects (default), mark as crowd, or drop. */
  difficult?: 'object' | 'crowd' | 'drop';
}

/** COCO's JSON as pycocotools' `COCO()` reads it (the fields it needs, plus `file_name`). */
export interface CocoJson {
  images: Array<{ id: number; file_name: string; width: number; height: number }>;
  categories: Array<{ id: number; name: string; supercategory: string }>;
  annotations: Array<{
    id: number;
    image_id: number;
    category_id: number;
    bbox: [number, number, number, number];
    area: number;
    iscrowd: 0 | 1;
  }>;
}

/**
 * Ground truth in COCO's JSON format for pycocotools (`COCO(file)`; `COCOeval(gt, dt, 'bbox')`).
 * Field order is fixed, so `JSON.stringify` of the result is byte-stable.
 */
export function toCocoJson(dataset: DetectionDataset, options: ToCocoJsonOptions = {}): CocoJson {
  const difficult = options.difficult ?? 'object';
  return {
    images: dataset.images.map((im) => ({
      id: im.id,
      file_name: options.relativeTo ? path.relative(options.relativeTo, im.file).split(path.sep).join('/') : path.basename(im.file),
      width: im.width,
      height: im.height,
    })),
    categories: dataset.categories.map((c) => ({ id: c.id, name: c.name, supercategory: 'object' })),
    annotations: dataset.annotations
      .filter((a) => !(difficult === 'drop' && a.difficult))
      .map((a) => ({
        id: a.id,
        image_id: a.imageId,
        category_id: a.categoryId,
        bbox: [a.bbox[0], a.bbox[1], a.bbox[2], a.bbox[3]] as [number, number, number, number],
        area: a.area,
        iscrowd: (difficult === 'crowd' && a.difficult ? 1 : a.iscrowd) as 0 | 1,
      })),
  };
}

/**
 * One class label per image for image-level tasks (the linear probe): the category with the
 * largest total annotated area in the image (ties: lower category index). Labels are indices
 * into `dataset.categories` (0-based), `-1` for an image without annotations. Crowd regions
 * count like objects.
 */
export function dominantClassLabels(dataset: DetectionDataset): number[] {
  const catIndex = new Map(dataset.categories.map((c, i) => [c.id, i]));
  const imageIndex = new Map(dataset.images.map((im, i) => [im.id, i]));
  const areas = dataset.images.map(() => new Float64Array(dataset.categories.length));
  for (const a of dataset.annotations) {
    const i = imageIndex.get(a.imageId);
    const c = catIndex.get(a.categoryId);
    if (i === undefined || c === undefined) continue;
    areas[i][c] += a.area;
  }
  return areas.map((row) => {
    let best = -1;
    for (let c = 0; c < row.length; c++) if (row[c] > 0 && (best < 0 || row[c] > row[best])) best = c;
    return best;
  });
}

/** A labelled object crop (for a linear probe on objects). */
export interface ObjectCrop {
  image: RgbImage;
  /** Index into `dataset.categories` (0-based). */
  label: number;
  categoryId: number;
  imageId: number;
  annotationId: number;
}

export interface ObjectCropOptions {
  /** Resize every crop to `size x size` (bilinear); default: keep the box's own size. */
  size?: number;
  /** Grow each box by this fraction of its size on every side before cropping (default 0). */
  margin?: number;
  /** Skip boxes smaller than this many pixels on either side (default 4). */
  minSide?: number;
  /** Leave out crowd regions (default true). */
  skipCrowd?: boolean;
  warn?: WarnFn;
}

/**
 * Yields one labelled crop per annotated object, image by image (each image is decoded once and
 * dropped before the next). The class of a crop is the object's category. Unreadable images are
 * skipped with one warning.
 */
export async function* objectCrops(dataset: DetectionDataset, options: ObjectCropOptions = {}): AsyncGenerator<ObjectCrop> {
  const margin = options.margin ?? 0;
  const minSide = options.minSide ?? 4;
  const skipCrowd = options.skipCrowd ?? true;
  if (options.size !== undefined && !(Number.isInteger(options.size) && options.size > 0)) {
    throw new RangeError(`Error in objectCrops: options.size must be a positive integer, got ${options.size}.`);
  }
  const catIndex = new Map(dataset.categories.map((c, i) => [c.id, i]));
  const byImage = new Map<number, DetectionAnnotation[]>();
  for (const a of dataset.annotations) {
    if (skipCrowd && a.iscrowd) continue;
    if (a.bbox[2] < minSide || a.bbox[3] < minSide) continue;
    const list = byImage.get(a.imageId);
    if (list) list.push(a);
    else byImage.set(a.imageId, [a]);
  }
  const log = new SkipLog(options.warn);
  for (const im of dataset.images) {
    const anns = byImage.get(im.id);
    if (!anns) continue;
    let image: RgbImage;
    try {
      image = await decodeImage(im.file);
    } catch (err) {
      log.add(im.file, (err as Error).message);
      continue;
    }
    for (const a of anns) {
      const [x, y, w, h] = a.bbox;
      const left = Math.max(0, Math.floor(x - margin * w));
      const top = Math.max(0, Math.floor(y - margin * h));
      const right = Math.min(image.width, Math.ceil(x + w + margin * w));
      const bottom = Math.min(image.height, Math.ceil(y + h + margin * h));
      if (right - left < 1 || bottom - top < 1) continue;
      const crop = cropRgb(image, left, top, right - left, bottom - top);
      const out = options.size ? await resizeRgb(crop, options.size, options.size) : crop;
      yield { image: out, label: catIndex.get(a.categoryId) ?? -1, categoryId: a.categoryId, imageId: im.id, annotationId: a.id };
    }
  }
}

/** Copies a rectangle out of a packed RGB image. */
export function cropRgb(image: RgbImage, left: number, top: number, width: number, height: number): RgbImage {
  const data = new Uint8Array(width * height * 3);
  for (let r = 0; r < height; r++) {
    const src = ((top + r) * image.width + left) * 3;
    data.set(image.data.subarray(src, src + width * 3), r * width * 3);
  }
  return { data, width, height };
}

/** Resizes packed RGB with sharp (bilinear). */
export async function resizeRgb(image: RgbImage, width: number, height: number): Promise<RgbImage> {
  const buf = await sharp(Buffer.from(image.data.buffer, image.data.byteOffset, image.data.byteLength), {
    raw: { width: image.width, height: image.height, channels: 3 },
  })
    .resize(width, height, { fit: 'fill', kernel: 'linear' })
    .raw()
    .toBuffer();
  return { data: new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength), width, height };
}
