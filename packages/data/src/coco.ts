/** COCO detection JSON (`instances_*.json`) reader. */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { z } from 'zod';
import { resolveInsideRoot, type ContainmentOptions } from './containment';
import { DataError, defaultWarn, type WarnFn } from './errors';
import { checkBox, type DetectionAnnotation, type DetectionDataset } from './detection';

const id = z.number().int().nonnegative();

/** The part of COCO's format a detection dataset needs; other fields (segmentation...) are ignored. */
const cocoSchema = z.object({
  images: z.array(
    z.object({
      id,
      file_name: z.string().min(1),
      width: z.number().int().positive(),
      height: z.number().int().positive(),
    }),
  ),
  categories: z.array(z.object({ id, name: z.string().min(1) })).min(1),
  annotations: z.array(
    z.object({
      id,
      image_id: id,
      category_id: id,
      bbox: z.tuple([z.number(), z.number(), z.number(), z.number()]),
      area: z.number().nonnegative().optional(),
      iscrowd: z.union([z.literal(0), z.literal(1)]).optional(),
    }),
  ),
});

/** Formats zod issues as `path: message` lines (first few only). */
export function describeIssues(issues: ReadonlyArray<{ path: PropertyKey[]; message: string }>, max = 3): string {
  const parts = issues.slice(0, max).map((i) => {
    const where = i.path
      .map((p, k) => (typeof p === 'number' ? `[${p}]` : `${k ? '.' : ''}${String(p)}`))
      .join('');
    return `${where || '(root)'}: ${i.message}`;
  });
  const more = issues.length > max ? ` (and ${issues.length - max} more)` : '';
  return parts.join('; ') + more;
}

/** Reads and parses a JSON file, turning every failure into a DataError naming the file. */
export async function readJsonFile(source: string, file: string, what: string): Promise<unknown> {
  let text: string;
  try {
    text = await fs.promises.readFile(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new DataError(
      source,
      file,
      code === 'ENOENT' ? `${what} does not exist.` : `${what} cannot be read (${code ?? (err as Error).message}).`,
      code === 'ENOENT' ? 'Check the path.' : undefined,
    );
  }
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new DataError(source, file, `${what} is not valid JSON (${(err as Error).message}).`);
  }
}

function duplicate(list: readonly { id: number }[]): number | undefined {
  const seen = new Set<number>();
  for (const x of list) {
    if (seen.has(x.id)) return x.id;
    seen.add(x.id);
  }
  return undefined;
}

/**
 * Reads a COCO detection annotation file into a `DetectionDataset`.
 *
 * @param annotationFile COCO JSON with `images`, `categories` and `annotations` (bbox `[x, y, w, h]`).
 * @param imageDir folder that `file_name` is relative to (default: the annotation file's folder).
 *   Images are not opened here; a missing or corrupt one is skipped, with a warning, when read.
 *   A `file_name` that leaves this folder (`..`, an absolute path, a symlink out of it; `\`
 *   counts as a separator) is refused unless `options.allowOutsideRoot`. Zero-area boxes are
 *   kept (pycocotools keeps them) with one warning through `options.warn` (default stderr).
 * @returns images in file order, categories in file order, annotations in file order. `area`
 *   defaults to `w * h` and `iscrowd` to 0 when absent. Boxes overrunning the image by up to
 *   `BOX_TOLERANCE` (1 px) are clipped to it.
 * @throws DataError if the file is missing, is not JSON, does not match the format, has
 *   duplicate ids, an annotation of an unknown image or category, a box outside its image, or
 *   a `file_name` outside `imageDir`.
 */
export async function loadCocoDataset(
  annotationFile: string,
  imageDir?: string,
  options: ContainmentOptions & { warn?: WarnFn } = {},
): Promise<DetectionDataset> {
  const source = 'loadCocoDataset';
  const file = path.resolve(annotationFile);
  const raw = await readJsonFile(source, file, 'COCO annotation file');
  const parsed = cocoSchema.safeParse(raw);
  if (!parsed.success) {
    throw new DataError(
      source,
      file,
      `does not match COCO's detection format: ${describeIssues(parsed.error.issues)}.`,
      'Fix those fields (COCO detection: images {id, file_name, width, height}, categories {id, name}, annotations {id, image_id, category_id, bbox [x, y, w, h]}).',
    );
  }
  const coco = parsed.data;
  const dir = path.resolve(imageDir ?? path.dirname(file));
  if (imageDir !== undefined && !(fs.existsSync(dir) && fs.statSync(dir).isDirectory())) {
    throw new DataError(source, dir, 'image folder does not exist.', 'Pass the folder that file_name is relative to.');
  }
  for (const [what, list] of [
    ['image', coco.images],
    ['category', coco.categories],
    ['annotation', coco.annotations],
  ] as const) {
    const dup = duplicate(list);
    if (dup !== undefined) throw new DataError(source, file, `has two ${what}s with id ${dup}.`, `Give every ${what} its own id.`);
  }
  const images = coco.images.map((im, i) => ({
    id: im.id,
    file: resolveInsideRoot(source, file, dir, im.file_name, `images[${i}].file_name`, options),
    width: im.width,
    height: im.height,
  }));
  const imageById = new Map(coco.images.map((im) => [im.id, im]));
  const categoryIds = new Set(coco.categories.map((c) => c.id));
  const zeroArea: string[] = [];
  const annotations: DetectionAnnotation[] = coco.annotations.map((a, i) => {
    const im = imageById.get(a.image_id);
    if (!im) {
      throw new DataError(source, file, `annotations[${i}] (id ${a.id}) refers to image_id ${a.image_id}, which is not in images.`, 'Add the image to images or remove the annotation.');
    }
    if (!categoryIds.has(a.category_id)) {
      throw new DataError(
        source,
        file,
        `annotations[${i}] (id ${a.id}) refers to category_id ${a.category_id}, which is not in categories (ids ${[...categoryIds].join(', ')}).`,
        'Add the category to categories or remove the annotation.',
      );
    }
    const box = checkBox(a.bbox, im.width, im.height);
    if (!box.ok) {
      throw new DataError(source, file, `annotations[${i}] (id ${a.id}, image '${im.file_name}') ${box.problem}.`, "Fix the box, or the image's width and height.");
    }
    if (box.bbox[2] === 0 || box.bbox[3] === 0) zeroArea.push(`annotations[${i}] (id ${a.id})`);
    return {
      id: a.id,
      imageId: a.image_id,
      categoryId: a.category_id,
      bbox: box.bbox,
      area: a.area ?? a.bbox[2] * a.bbox[3],
      iscrowd: a.iscrowd ?? 0,
    };
  });
  const warn = options.warn === undefined ? defaultWarn : options.warn;
  if (zeroArea.length > 0 && warn) {
    warn(
      `[scrl] ${file}: ${zeroArea.length} annotation${zeroArea.length === 1 ? ' has' : 's have'} a zero-area box (first: ${zeroArea[0]}); ` +
        'kept for evaluation as pycocotools does, but no detector location can learn from them. Remove or fix them if they are mistakes.',
    );
  }
  return { images, categories: coco.categories.map((c) => ({ id: c.id, name: c.name })), annotations };
}
