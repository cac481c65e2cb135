/**
 * Folder readers: unlabelled images (recursive) and labelled images (one sub-folder per class,
 * torchvision's `ImageFolder` layout). Both keep file paths only and decode per item.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { RgbImage } from '@scrl/augment';
import { checkRealPathInside, type ContainmentOptions } from './containment';
import { decodeImage, IMAGE_EXTENSIONS, isImageFile } from './decode';
import { DataError, SkipLog, type SkippedFile, type WarnFn } from './errors';

export interface FolderOptions extends ContainmentOptions {
  /** Descend into sub-folders (default true). */
  recursive?: boolean;
  /** Where skip warnings go (default: a line on stderr); `null` for silence. */
  warn?: WarnFn;
}

async function statDir(source: string, dir: string): Promise<void> {
  let st: fs.Stats;
  try {
    st = await fs.promises.stat(dir);
  } catch {
    throw new DataError(source, dir, 'folder does not exist.', 'Check the path.');
  }
  if (!st.isDirectory()) throw new DataError(source, dir, 'is a file, expected a folder of images.');
}

/**
 * Image files under `dir`, yielded lazily in a stable order (names sorted per folder, files of
 * a folder before its sub-folders). Only one folder's entry names are held at a time, so memory
 * does not grow with the size of the tree. Hidden entries (`.name`) are skipped.
 *
 * @throws DataError naming the folder and the entry for a symlink that leads out of `dir`
 *   (unless `options.allowOutsideRoot`).
 */
export async function* listImageFiles(dir: string, options: Pick<FolderOptions, 'recursive' | 'allowOutsideRoot'> = {}): AsyncGenerator<string> {
  await statDir('listImageFiles', dir);
  yield* listUnder('listImageFiles', path.resolve(dir), path.resolve(dir), options);
}

/** `listImageFiles` of `dir`, with symlinks contained in `root` (a folder above or equal to `dir`). */
async function* listUnder(
  source: string,
  root: string,
  dir: string,
  options: Pick<FolderOptions, 'recursive' | 'allowOutsideRoot'>,
): AsyncGenerator<string> {
  const recursive = options.recursive ?? true;
  const pending: string[] = [dir];
  while (pending.length > 0) {
    const current = pending.pop() as string;
    const entries = await fs.promises.readdir(current, { withFileTypes: true });
    entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    const subdirs: string[] = [];
    for (const e of entries) {
      if (e.name.startsWith('.')) continue;
      const full = path.join(current, e.name);
      if (e.isDirectory()) subdirs.push(full);
      else if ((e.isFile() || e.isSymbolicLink()) && isImageFile(e.name)) {
        if (e.isSymbolicLink()) checkRealPathInside(source, root, root, full, `entry '${path.relative(root, full)}'`, options);
        yield full;
      }
    }
    if (recursive) for (let i = subdirs.length - 1; i >= 0; i--) pending.push(subdirs[i]);
  }
}

function noImagesError(source: string, dir: string): DataError {
  return new DataError(
    source,
    dir,
    `contains no image files (${IMAGE_EXTENSIONS.join(', ')}).`,
    'Point at the folder that holds the images.',
  );
}

/** One decoded image from a folder. */
export interface FolderImage {
  /** Position in the folder's stable order. */
  index: number;
  file: string;
  image: RgbImage;
}

/**
 * Streams a folder's images without listing it first: lists lazily, decodes one image per step
 * and holds nothing afterwards, so memory stays flat however many images there are. A corrupt
 * or truncated image is skipped with one warning; the summary line comes at the end, and the
 * skipped files are appended to `options.skipped` if given.
 *
 * @throws DataError if `dir` is missing or holds no image file at all.
 */
export async function* iterateImages(
  dir: string,
  options: FolderOptions & { skipped?: SkippedFile[] } = {},
): AsyncGenerator<FolderImage> {
  const log = new SkipLog(options.warn);
  let index = 0;
  let skippedHere = 0;
  for await (const file of listImageFiles(dir, options)) {
    const i = index++;
    let image: RgbImage;
    try {
      image = await decodeImage(file);
    } catch (err) {
      skippedHere++;
      log.add(file, (err as Error).message);
      options.skipped?.push({ file, reason: (err as Error).message });
      continue;
    }
    yield { index: i, file, image };
  }
  if (index === 0) throw noImagesError('iterateImages', dir);
  log.summarize(`iterateImages(${dir})`, skippedHere);
}

/**
 * An unlabelled image folder as an indexable dataset: the sorted list of image paths (nothing
 * else is kept) and per-item decoding. Use `files` for the view-pair loader.
 */
export class ImageFolder implements AsyncIterable<FolderImage> {
  private readonly log: SkipLog;

  private constructor(
    readonly root: string,
    readonly files: readonly string[],
    warn: WarnFn | undefined,
  ) {
    this.log = new SkipLog(warn);
  }

  /**
   * Lists `dir` (recursively by default; jpg, jpeg, png, webp).
   * @throws DataError if the folder is missing, holds no image, or has a symlink out of it.
   */
  static async open(dir: string, options: FolderOptions = {}): Promise<ImageFolder> {
    await statDir('ImageFolder.open', dir);
    const files: string[] = [];
    for await (const f of listImageFiles(dir, options)) files.push(f);
    if (files.length === 0) throw noImagesError('ImageFolder.open', dir);
    return new ImageFolder(path.resolve(dir), files, options.warn);
  }

  get length(): number {
    return this.files.length;
  }

  /** Files that failed to decode so far (each warned about once). */
  get skipped(): readonly SkippedFile[] {
    return this.log.list;
  }

  /** Decodes image `index`; `null` (with a warning the first time) if the file is unreadable. */
  async load(index: number): Promise<RgbImage | null> {
    if (!Number.isInteger(index) || index < 0 || index >= this.files.length) {
      throw new RangeError(`Error in ImageFolder.load: index ${index} is out of range [0, ${this.files.length}).`);
    }
    const file = this.files[index];
    try {
      return await decodeImage(file);
    } catch (err) {
      this.log.add(file, (err as Error).message);
      return null;
    }
  }

  /** Decodes the images in order, one at a time, skipping unreadable ones. */
  async *[Symbol.asyncIterator](): AsyncIterator<FolderImage> {
    let skippedHere = 0;
    for (let i = 0; i < this.files.length; i++) {
      const image = await this.load(i);
      if (image === null) {
        skippedHere++;
        continue;
      }
      yield { index: i, file: this.files[i], image };
    }
    this.log.summarize(`ImageFolder(${this.root})`, skippedHere);
  }
}

/** One labelled sample: a file and its class index into `classes`. */
export interface LabelledSample {
  file: string;
  label: number;
}

/**
 * A labelled image folder (`root/<class>/**\/*.jpg`), torchvision's `ImageFolder` layout: one
 * sub-folder per class, classes sorted by name and numbered from 0. Files directly in `root`
 * are ignored. For the linear probe.
 */
export class LabelledImageFolder implements AsyncIterable<LabelledSample & { image: RgbImage; index: number }> {
  private readonly log: SkipLog;

  private constructor(
    readonly root: string,
    readonly classes: readonly string[],
    readonly samples: readonly LabelledSample[],
    warn: WarnFn | undefined,
  ) {
    this.log = new SkipLog(warn);
  }

  /**
   * Lists `dir`'s class sub-folders and their images (recursively inside each class).
   * @throws DataError if the folder is missing, has no class sub-folder, or a class has no image.
   */
  static async open(dir: string, options: Omit<FolderOptions, 'recursive'> = {}): Promise<LabelledImageFolder> {
    const source = 'LabelledImageFolder.open';
    await statDir(source, dir);
    const root = path.resolve(dir);
    const entries = await fs.promises.readdir(root, { withFileTypes: true });
    const classes = entries
      .filter((e) => e.isDirectory() && !e.name.startsWith('.'))
      .map((e) => e.name)
      .sort();
    if (classes.length === 0) {
      throw new DataError(source, root, 'has no class sub-folders.', 'Expected one sub-folder of images per class.');
    }
    const samples: LabelledSample[] = [];
    for (let label = 0; label < classes.length; label++) {
      const classDir = path.join(root, classes[label]);
      const before = samples.length;
      for await (const file of listUnder(source, root, classDir, options)) samples.push({ file, label });
      if (samples.length === before) throw noImagesError(source, classDir);
    }
    return new LabelledImageFolder(root, classes, samples, options.warn);
  }

  get length(): number {
    return this.samples.length;
  }

  get files(): readonly string[] {
    return this.samples.map((s) => s.file);
  }

  get skipped(): readonly SkippedFile[] {
    return this.log.list;
  }

  /** Decodes sample `index`; `null` (warned once) if the file is unreadable. */
  async load(index: number): Promise<{ image: RgbImage; label: number } | null> {
    if (!Number.isInteger(index) || index < 0 || index >= this.samples.length) {
      throw new RangeError(`Error in LabelledImageFolder.load: index ${index} is out of range [0, ${this.samples.length}).`);
    }
    const { file, label } = this.samples[index];
    try {
      return { image: await decodeImage(file), label };
    } catch (err) {
      this.log.add(file, (err as Error).message);
      return null;
    }
  }

  async *[Symbol.asyncIterator](): AsyncIterator<LabelledSample & { image: RgbImage; index: number }> {
    let skippedHere = 0;
    for (let i = 0; i < this.samples.length; i++) {
      const item = await this.load(i);
      if (item === null) {
        skippedHere++;
        continue;
      }
      yield { index: i, file: this.samples[i].file, label: item.label, image: item.image };
    }
    this.log.summarize(`LabelledImageFolder(${this.root})`, skippedHere);
  }
}
