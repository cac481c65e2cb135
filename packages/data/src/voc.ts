/** Pascal VOC reader (`Annotations/*.xml`, `JPEGImages/`, `ImageSets/Main/<split>.txt`). */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { resolveInsideRoot, type ContainmentOptions } from './containment';
import { DataError } from './errors';
import { checkBox, type DetectionAnnotation, type DetectionCategory, type DetectionDataset, type DetectionImage } from './detection';
import { parseXml, XmlSyntaxError, type XmlElement } from './xml';

/** The 20 Pascal VOC classes in their usual order (category ids 1..20). */
export const VOC_CLASSES: readonly string[] = [
  'aeroplane', 'bicycle', 'bird', 'boat', 'bottle', 'bus', 'car', 'cat', 'chair', 'cow',
  'diningtable', 'dog', 'horse', 'motorbike', 'person', 'pottedplant', 'sheep', 'sofa', 'train', 'tvmonitor',
];

/** One parsed VOC annotation file (the subset detection needs). */
export interface VocAnnotation {
  filename?: string;
  width: number;
  height: number;
  objects: Array<{
    name: string;
    /** VOC's 1-based, inclusive pixel coordinates, as written. */
    xmin: number;
    ymin: number;
    xmax: number;
    ymax: number;
    difficult: boolean;
    truncated: boolean;
  }>;
}

class VocFormatError extends Error {
  constructor(
    readonly problem: string,
    readonly line: number,
  ) {
    super(problem);
  }
}

function only(parent: XmlElement, name: string, required: true): XmlElement;
function only(parent: XmlElement, name: string, required: false): XmlElement | undefined;
function only(parent: XmlElement, name: string, required: boolean): XmlElement | undefined {
  const found = parent.children.filter((c) => c.name === name);
  if (found.length > 1) throw new VocFormatError(`<${parent.name}> has ${found.length} <${name}> elements, expected one`, found[1].line);
  if (found.length === 0 && required) throw new VocFormatError(`<${parent.name}> has no <${name}>`, parent.line);
  return found[0];
}

function numberIn(parent: XmlElement, name: string): number {
  const el = only(parent, name, true);
  const s = el.text.trim();
  const v = Number(s);
  if (s === '' || !Number.isFinite(v)) throw new VocFormatError(`<${name}> must be a number, got '${s}'`, el.line);
  return v;
}

function flagIn(parent: XmlElement, name: string): boolean {
  const el = only(parent, name, false);
  if (!el) return false;
  const s = el.text.trim();
  if (s !== '0' && s !== '1') throw new VocFormatError(`<${name}> must be 0 or 1, got '${s}'`, el.line);
  return s === '1';
}

/**
 * Parses the text of one VOC annotation file. Reads `annotation/filename` (optional),
 * `annotation/size/{width,height}`, and per `annotation/object`: `name`, `bndbox/{xmin,ymin,
 * xmax,ymax}`, `difficult` and `truncated` (optional, 0 or 1). Everything else is ignored.
 *
 * @throws DataError naming `file` and the line for malformed XML or a missing/invalid field.
 */
export function parseVocXml(text: string, file: string): VocAnnotation {
  const source = 'parseVocXml';
  try {
    const root = parseXml(text);
    if (root.name !== 'annotation') throw new VocFormatError(`root element is <${root.name}>, expected <annotation>`, root.line);
    const size = only(root, 'size', true);
    const width = numberIn(size, 'width');
    const height = numberIn(size, 'height');
    if (!(Number.isInteger(width) && width > 0 && Number.isInteger(height) && height > 0)) {
      throw new VocFormatError(`<size> must hold positive integer width and height, got ${width}x${height}`, size.line);
    }
    const filenameEl = only(root, 'filename', false);
    const objects = root.children
      .filter((c) => c.name === 'object')
      .map((obj) => {
        const nameEl = only(obj, 'name', true);
        const name = nameEl.text.trim();
        if (name === '') throw new VocFormatError('<object> has an empty <name>', nameEl.line);
        const box = only(obj, 'bndbox', true);
        const o = {
          name,
          xmin: numberIn(box, 'xmin'),
          ymin: numberIn(box, 'ymin'),
          xmax: numberIn(box, 'xmax'),
          ymax: numberIn(box, 'ymax'),
          difficult: flagIn(obj, 'difficult'),
          truncated: flagIn(obj, 'truncated'),
        };
        if (o.xmax < o.xmin || o.ymax < o.ymin) {
          throw new VocFormatError(`<bndbox> of '${name}' has xmax < xmin or ymax < ymin (${o.xmin}, ${o.ymin}, ${o.xmax}, ${o.ymax})`, box.line);
        }
        return o;
      });
    const filename = filenameEl?.text.trim();
    return { ...(filename ? { filename } : {}), width, height, objects };
  } catch (err) {
    if (err instanceof XmlSyntaxError) throw new DataError(source, file, `is not well-formed XML: ${err.message}.`);
    if (err instanceof VocFormatError) throw new DataError(source, file, `line ${err.line}: ${err.problem}.`);
    throw err;
  }
}

export interface LoadVocOptions extends ContainmentOptions {
  /** Class names in category-id order (ids 1..n). Default: `VOC_CLASSES` if every name found is
   * one of them, else the sorted set of names found. A name outside `classes` is an error. */
  classes?: readonly string[];
}

/**
 * Reads a Pascal VOC folder (`VOCdevkit/VOC2007` layout) into a `DetectionDataset`.
 *
 * @param dir folder with `Annotations/` and `JPEGImages/` (and `ImageSets/Main/` for a split).
 * @param split name of a list in `ImageSets/Main/` (`train`, `val`, `trainval`, `test`); default:
 *   every `Annotations/*.xml`, sorted by name.
 * @returns image ids 1..N in list order; the file is `JPEGImages/<filename>` (or `<id>.jpg`);
 *   VOC's 1-based inclusive corners become COCO `[xmin - 1, ymin - 1, xmax - xmin + 1,
 *   ymax - ymin + 1]` (detectron2's convention), area = w * h, iscrowd 0, with `difficult` and
 *   `truncated` kept on each annotation.
 * @throws DataError for a missing folder or split file, malformed XML, a missing field, an
 *   unknown class, a box outside its image, or a split id or `<filename>` that leaves its folder
 *   (`..`, an absolute path, a symlink out of it) unless `options.allowOutsideRoot`.
 */
export async function loadVocDataset(dir: string, split?: string, options: LoadVocOptions = {}): Promise<DetectionDataset> {
  const source = 'loadVocDataset';
  const root = path.resolve(dir);
  const annDir = path.join(root, 'Annotations');
  if (!fs.existsSync(annDir) || !fs.statSync(annDir).isDirectory()) {
    throw new DataError(source, annDir, 'folder does not exist.', 'Pass a VOC folder such as VOCdevkit/VOC2007 (with Annotations/ and JPEGImages/).');
  }
  let ids: string[];
  if (split !== undefined) {
    const listFile = path.join(root, 'ImageSets', 'Main', `${split}.txt`);
    let text: string;
    try {
      text = await fs.promises.readFile(listFile, 'utf8');
    } catch {
      throw new DataError(source, listFile, `split list '${split}' does not exist.`, 'Use a split present in ImageSets/Main (train, val, trainval, test).');
    }
    ids = text
      .split(/\r?\n/)
      .map((s) => s.trim().split(/\s+/)[0])
      .filter((s) => s !== '');
  } else {
    ids = (await fs.promises.readdir(annDir))
      .filter((f) => f.toLowerCase().endsWith('.xml'))
      .map((f) => f.slice(0, -4))
      .sort();
  }
  if (ids.length === 0) throw new DataError(source, split ? `${split}.txt` : annDir, 'lists no images.');

  const parsed: Array<{ id: string; file: string; ann: VocAnnotation }> = [];
  const splitFile = split ? path.join(root, 'ImageSets', 'Main', `${split}.txt`) : annDir;
  for (const id of ids) {
    const file = resolveInsideRoot(source, splitFile, annDir, `${id}.xml`, 'image id', options);
    let text: string;
    try {
      text = await fs.promises.readFile(file, 'utf8');
    } catch {
      throw new DataError(source, file, 'annotation file does not exist.', split ? `It is listed in split '${split}'.` : undefined);
    }
    parsed.push({ id, file, ann: parseVocXml(text, file) });
  }

  const names = new Set(parsed.flatMap((p) => p.ann.objects.map((o) => o.name)));
  const classes = options.classes ?? ([...names].every((n) => VOC_CLASSES.includes(n)) ? VOC_CLASSES : [...names].sort());
  const categoryOf = new Map(classes.map((name, i) => [name, i + 1]));
  const categories: DetectionCategory[] = classes.map((name, i) => ({ id: i + 1, name }));

  const images: DetectionImage[] = [];
  const annotations: DetectionAnnotation[] = [];
  parsed.forEach(({ id, file, ann }, i) => {
    const imageId = i + 1;
    const imageFile = resolveInsideRoot(source, file, path.join(root, 'JPEGImages'), ann.filename ?? `${id}.jpg`, '<filename>', options);
    images.push({ id: imageId, file: imageFile, width: ann.width, height: ann.height });
    for (const o of ann.objects) {
      const categoryId = categoryOf.get(o.name);
      if (categoryId === undefined) {
        throw new DataError(source, file, `object class '${o.name}' is not in the class list (${classes.join(', ')}).`);
      }
      const box = checkBox([o.xmin - 1, o.ymin - 1, o.xmax - o.xmin + 1, o.ymax - o.ymin + 1], ann.width, ann.height);
      if (!box.ok) {
        throw new DataError(
          source,
          file,
          `object '${o.name}' (xmin ${o.xmin}, ymin ${o.ymin}, xmax ${o.xmax}, ymax ${o.ymax}) lies outside its ${ann.width}x${ann.height} image.`,
        );
      }
      annotations.push({
        id: annotations.length + 1,
        imageId,
        categoryId,
        bbox: box.bbox,
        area: box.bbox[2] * box.bbox[3],
        iscrowd: 0,
        difficult: o.difficult,
        truncated: o.truncated,
      });
    }
  });
  return { images, categories, annotations };
}
