/**
 * The built-in data set: generated multi-object scenes in COCO format, so pretraining,
 * detection and the linear probe run on a fresh machine with no download.
 *
 * Layout of a scenes folder:
 *   annotations.json   COCO detection ground truth (file_name `images/000000.png`)
 *   labels.json        per image: dominant class (largest visible area) and per-class counts
 *   images/*.png       the scenes
 *   scenes.json        stamp: parameters, annotation hash and image sizes (checked by ensureScenes)
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { z } from 'zod';
import { loadCocoDataset } from './coco';
import { resolveInsideRoot, type ContainmentOptions } from './containment';
import { encodePng } from './decode';
import type { CocoJson, DetectionDataset } from './detection';
import { DataError, type WarnFn } from './errors';
import { renderScene, SCENE_CLASSES } from './scene-render';

/** Bumped whenever the drawing changes, so caches made by an older generator are rebuilt. */
export const SCENES_GENERATOR = 'scrl-scenes-v2';

export interface GenerateScenesOptions {
  /** Output folder. Must not exist, be empty, or (with `overwrite`) hold an earlier scenes set. */
  out: string;
  /** Number of images (positive integer). */
  images: number;
  /** Integer seed; the same seed and options give byte-identical files. */
  seed: number;
  /** Image side in pixels (default 128, between 32 and 2048). */
  size?: number;
  /** Objects per image, both inclusive (defaults 2 and 6). */
  minObjects?: number;
  maxObjects?: number;
  /** Replace an existing scenes set in `out` (default false). Other content is never replaced. */
  overwrite?: boolean;
}

/** What a scenes folder holds. */
export interface ScenesInfo {
  dir: string;
  annotationFile: string;
  labelsFile: string;
  images: number;
  annotations: number;
  classes: readonly string[];
  /** True if this call generated the files, false if an existing set was reused. */
  generated: boolean;
}

const stampSchema = z.object({
  generator: z.string(),
  seed: z.number(),
  images: z.number(),
  size: z.number(),
  minObjects: z.number(),
  maxObjects: z.number(),
  annotationsSha256: z.string(),
  labelsSha256: z.string(),
  files: z.record(z.string(), z.number()),
});
type Stamp = z.infer<typeof stampSchema>;

interface ResolvedOptions {
  images: number;
  seed: number;
  size: number;
  minObjects: number;
  maxObjects: number;
}

function resolveOptions(source: string, o: Omit<GenerateScenesOptions, 'out' | 'overwrite'>): ResolvedOptions {
  const bad = (name: string, got: unknown, want: string) =>
    new RangeError(`Error in ${source}: ${name} must be ${want}, got ${JSON.stringify(got)}.`);
  if (!Number.isInteger(o.images) || o.images < 1) throw bad('images', o.images, 'a positive integer');
  if (!Number.isInteger(o.seed)) throw bad('seed', o.seed, 'an integer');
  const size = o.size ?? 128;
  if (!Number.isInteger(size) || size < 32 || size > 2048) throw bad('size', o.size, 'an integer in [32, 2048]');
  const minObjects = o.minObjects ?? 2;
  const maxObjects = o.maxObjects ?? 6;
  if (!Number.isInteger(minObjects) || minObjects < 1) throw bad('minObjects', o.minObjects, 'a positive integer');
  if (!Number.isInteger(maxObjects) || maxObjects < minObjects || maxObjects > 32) {
    throw bad('maxObjects', o.maxObjects, `an integer in [minObjects (${minObjects}), 32]`);
  }
  return { images: o.images, seed: o.seed, size, minObjects, maxObjects };
}

const sha256 = (data: string | Buffer) => createHash('sha256').update(data).digest('hex');

function imageName(index: number, count: number): string {
  return `images/${String(index).padStart(Math.max(6, String(count - 1).length), '0')}.png`;
}

/** Runs `fn(i)` for i in [0, n) with at most `limit` promises in flight. */
async function forEachLimited(n: number, limit: number, fn: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  const lane = async () => {
    while (next < n) await fn(next++);
  };
  await Promise.all(Array.from({ length: Math.min(limit, n) }, lane));
}

function dirState(dir: string): 'missing' | 'empty' | 'scenes' | 'other' {
  let entries: string[];
  try {
    if (!fs.statSync(dir).isDirectory()) return 'other';
    entries = fs.readdirSync(dir);
  } catch {
    return 'missing';
  }
  if (entries.length === 0) return 'empty';
  return entries.includes('scenes.json') ? 'scenes' : 'other';
}

/**
 * Writes a COCO-format detection dataset of generated multi-object scenes.
 *
 * Five classes (`SCENE_CLASSES`), each a shape with its own texture: disc with stripes, square
 * with checker, triangle with dots, plain ring, cross with a gradient; random colours (colour
 * never identifies a class), random rotation, radius 6-22% of the image side, 2-6 objects per
 * image drawn in z-order with occlusion (an object under another keeps at least half of its
 * pixels). Backgrounds: gradient, smooth or fine value noise, plus clutter (lines, scribbles,
 * blobs) and per-pixel noise.
 *
 * Annotations are honest about occlusion: `bbox` is the tight box of the object's *visible*
 * pixels and `area` their count (the full-object box is in `labels.json`).
 *
 * Everything is written into a temporary sibling folder which is renamed into place at the
 * end, so an interrupted run leaves `out` as it was.
 *
 * @throws DataError if `out` holds something other than an earlier scenes set, or holds one and
 *   `overwrite` is not set.
 */
export async function generateScenes(options: GenerateScenesOptions): Promise<ScenesInfo> {
  const source = 'generateScenes';
  const o = resolveOptions(source, options);
  const out = path.resolve(options.out);
  const state = dirState(out);
  if (state === 'other') {
    throw new DataError(source, out, 'exists and holds files that are not a scenes set.', 'Choose an empty or new folder.');
  }
  if (state === 'scenes' && !options.overwrite) {
    throw new DataError(source, out, 'already holds a scenes set.', 'Pass overwrite: true (or --overwrite) to replace it, or use ensureScenes to reuse it.');
  }
  fs.mkdirSync(path.dirname(out), { recursive: true });
  const tmp = fs.mkdtempSync(`${out}.tmp-`);
  try {
    fs.mkdirSync(path.join(tmp, 'images'));
    const coco: CocoJson & { info: Record<string, unknown> } = {
      info: { description: 'SCRL built-in scenes', generator: SCENES_GENERATOR, seed: o.seed, size: o.size },
      images: [],
      categories: SCENE_CLASSES.map((name, i) => ({ id: i + 1, name, supercategory: 'shape' })),
      annotations: [],
    };
    const labels: Array<{ id: number; file_name: string; label: number; counts: number[]; fullBoxes: number[][] }> = [];
    const files: Record<string, number> = {};
    const perImage: Array<ReturnType<typeof renderScene>['objects']> = new Array(o.images);
    await forEachLimited(o.images, 4, async (i) => {
      const scene = renderScene(o.seed, i, o);
      perImage[i] = scene.objects;
      const name = imageName(i, o.images);
      const png = await encodePng(scene.image);
      await fs.promises.writeFile(path.join(tmp, name), png);
      files[name] = png.length;
    });
    for (let i = 0; i < o.images; i++) {
      const name = imageName(i, o.images);
      coco.images.push({ id: i + 1, file_name: name, width: o.size, height: o.size });
      const areaByClass = new Array<number>(SCENE_CLASSES.length).fill(0);
      const counts = new Array<number>(SCENE_CLASSES.length).fill(0);
      for (const obj of perImage[i]) {
        coco.annotations.push({
          id: coco.annotations.length + 1,
          image_id: i + 1,
          category_id: obj.classIndex + 1,
          bbox: obj.bbox,
          area: obj.area,
          iscrowd: 0,
        });
        areaByClass[obj.classIndex] += obj.area;
        counts[obj.classIndex]++;
      }
      let label = 0;
      for (let c = 1; c < areaByClass.length; c++) if (areaByClass[c] > areaByClass[label]) label = c;
      labels.push({ id: i + 1, file_name: name, label, counts, fullBoxes: perImage[i].map((obj) => obj.fullBbox) });
    }
    const annotationsText = JSON.stringify(coco);
    const labelsText = JSON.stringify({ classes: SCENE_CLASSES, labelOf: 'largest visible area', images: labels });
    fs.writeFileSync(path.join(tmp, 'annotations.json'), annotationsText);
    fs.writeFileSync(path.join(tmp, 'labels.json'), labelsText);
    const sortedFiles: Record<string, number> = {};
    for (const k of Object.keys(files).sort()) sortedFiles[k] = files[k];
    const stamp: Stamp = {
      generator: SCENES_GENERATOR,
      ...o,
      annotationsSha256: sha256(annotationsText),
      labelsSha256: sha256(labelsText),
      files: sortedFiles,
    };
    fs.writeFileSync(path.join(tmp, 'scenes.json'), JSON.stringify(stamp, null, 1));
    // Swap into place: the old set (if any) is only removed once the new one is there.
    if (state === 'missing') {
      try {
        fs.renameSync(tmp, out);
      } catch (err) {
        // Another process may have finished the same set first (two runs sharing a cache).
        if (checkScenes(out, o) !== null) throw err;
        fs.rmSync(tmp, { recursive: true, force: true });
        return { ...scenesInfo(out, coco.images.length, coco.annotations.length), generated: false };
      }
    } else {
      const old = `${tmp}.old`;
      fs.renameSync(out, old);
      fs.renameSync(tmp, out);
      fs.rmSync(old, { recursive: true, force: true });
    }
    return { ...scenesInfo(out, o.images, coco.annotations.length), generated: true };
  } catch (err) {
    fs.rmSync(tmp, { recursive: true, force: true });
    throw err;
  }
}

function scenesInfo(dir: string, images: number, annotations: number): Omit<ScenesInfo, 'generated'> {
  return {
    dir,
    annotationFile: path.join(dir, 'annotations.json'),
    labelsFile: path.join(dir, 'labels.json'),
    images,
    annotations,
    classes: SCENE_CLASSES,
  };
}

/**
 * Checks a scenes folder against its stamp: same parameters and generator, annotation and
 * label files unchanged (sha-256), every image present with its recorded byte size.
 * @returns null if complete, else the reason it is not.
 */
export function checkScenes(dir: string, options: Omit<GenerateScenesOptions, 'out' | 'overwrite'>): string | null {
  const o = resolveOptions('checkScenes', options);
  const stampFile = path.join(dir, 'scenes.json');
  let stamp: Stamp;
  try {
    stamp = stampSchema.parse(JSON.parse(fs.readFileSync(stampFile, 'utf8')));
  } catch {
    return 'no readable stamp (scenes.json)';
  }
  if (stamp.generator !== SCENES_GENERATOR) return `made by ${stamp.generator}, not ${SCENES_GENERATOR}`;
  for (const key of ['images', 'seed', 'size', 'minObjects', 'maxObjects'] as const) {
    if (stamp[key] !== o[key]) return `${key} is ${stamp[key]}, wanted ${o[key]}`;
  }
  for (const [name, hash] of [
    ['annotations.json', stamp.annotationsSha256],
    ['labels.json', stamp.labelsSha256],
  ]) {
    try {
      if (sha256(fs.readFileSync(path.join(dir, name))) !== hash) return `${name} was modified`;
    } catch {
      return `${name} is missing`;
    }
  }
  if (Object.keys(stamp.files).length !== o.images) return 'stamp lists the wrong number of images';
  for (const [name, bytes] of Object.entries(stamp.files)) {
    let size: number;
    try {
      size = fs.statSync(path.join(dir, name)).size;
    } catch {
      return `${name} is missing`;
    }
    if (size !== bytes) return `${name} has ${size} bytes, expected ${bytes}`;
  }
  return null;
}

/**
 * Generates the scenes set into `cacheDir` once and reuses it afterwards: if `cacheDir` holds a
 * complete set with the same parameters it is returned as is; if it is missing, empty,
 * incomplete, modified or made with other parameters it is (re)generated.
 *
 * @param log receives one line when the set is (re)generated, with the reason; default silent.
 * @throws DataError if `cacheDir` holds files that are not a scenes set (they are never deleted).
 */
export async function ensureScenes(
  cacheDir: string,
  options: Omit<GenerateScenesOptions, 'out' | 'overwrite'>,
  log?: (line: string) => void,
): Promise<ScenesInfo> {
  const dir = path.resolve(cacheDir);
  const state = dirState(dir);
  if (state === 'other') {
    throw new DataError('ensureScenes', dir, 'exists and holds files that are not a scenes set.', 'Choose an empty or new cache folder.');
  }
  const reason = state === 'scenes' ? checkScenes(dir, options) : 'not generated yet';
  if (reason === null) {
    const coco = JSON.parse(fs.readFileSync(path.join(dir, 'annotations.json'), 'utf8')) as CocoJson;
    return { ...scenesInfo(dir, coco.images.length, coco.annotations.length), generated: false };
  }
  log?.(`[scrl] generating scenes in ${dir} (${reason})`);
  return generateScenes({ ...options, out: dir, overwrite: true });
}

/** Loads a scenes folder's annotations as a `DetectionDataset` (COCO reader, image paths absolute; see `loadCocoDataset` for `options`). */
export function loadScenes(dir: string, options: ContainmentOptions & { warn?: WarnFn } = {}): Promise<DetectionDataset> {
  return loadCocoDataset(path.join(dir, 'annotations.json'), dir, options);
}

/** The per-image class labels of a scenes folder (`labels.json`), 0-based into `classes`. */
export async function loadSceneLabels(dir: string): Promise<{ classes: string[]; files: string[]; labels: number[] }> {
  const file = path.join(path.resolve(dir), 'labels.json');
  const schema = z.object({
    classes: z.array(z.string()),
    images: z.array(z.object({ file_name: z.string(), label: z.number().int().nonnegative() })),
  });
  let raw: unknown;
  try {
    raw = JSON.parse(await fs.promises.readFile(file, 'utf8'));
  } catch (err) {
    throw new DataError('loadSceneLabels', file, `cannot be read as JSON (${(err as Error).message}).`, 'Regenerate the scenes set.');
  }
  const parsed = schema.safeParse(raw);
  if (!parsed.success) throw new DataError('loadSceneLabels', file, 'is not a scenes labels file.', 'Regenerate the scenes set.');
  return {
    classes: parsed.data.classes,
    files: parsed.data.images.map((im, i) => resolveInsideRoot('loadSceneLabels', file, path.dirname(file), im.file_name, `images[${i}].file_name`)),
    labels: parsed.data.images.map((im) => im.label),
  };
}
