/**
 * Images addressed by index: anything that can return image `i` of `length` as packed RGB.
 * A folder of image files is the usual source; tests and generated data use images in memory.
 * `createViewPairLoader` takes one as well as a file list (built in the calling thread then).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { RgbImage } from '@scrl/augment';
import { ScrlError } from '@scrl/util';
import { decodeImage, isImageFile } from './decode';

export interface ImageSource {
  /** Number of images. */
  readonly length: number;
  /** Image `index` in `[0, length)`, decoded to packed 8-bit RGB. */
  read(index: number): Promise<RgbImage>;
  /** A short description for logs and config.json (e.g. the folder). */
  readonly description: string;
}

/** True for an {@link ImageSource} (`length`, `read`), as opposed to a file list or dataset. */
export function isImageSource(value: unknown): value is ImageSource {
  const v = value as ImageSource | null;
  return !!v && typeof v === 'object' && !Array.isArray(v) && typeof v.read === 'function' && Number.isInteger(v.length);
}

function listImages(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const entry of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, entry.name);
      if (entry.isDirectory()) walk(p);
      else if (isImageFile(entry.name)) out.push(p);
    }
  };
  walk(dir);
  // Full paths sorted as strings: the order `train` gives a folder, whatever the file system.
  return out.sort();
}

/**
 * Every `.jpg`, `.jpeg`, `.png` and `.webp` under `dir` (recursively, full paths sorted),
 * decoded like every reader of this package (`decodeImage`: alpha dropped, grey expanded to
 * RGB, EXIF orientation not applied).
 */
export function imageFolderSource(dir: string): ImageSource {
  const fn = 'imageFolderSource';
  if (!fs.existsSync(dir) || !fs.statSync(dir).isDirectory()) {
    throw new ScrlError(`Error in ${fn}: '${dir}' is not a directory. Pass a folder of image files (jpg, jpeg, png, webp).`);
  }
  const files = listImages(dir);
  if (files.length === 0) throw new ScrlError(`Error in ${fn}: no .jpg, .jpeg, .png or .webp files under '${dir}'.`);
  return {
    length: files.length,
    description: `${path.resolve(dir)} (${files.length} images)`,
    async read(index: number): Promise<RgbImage> {
      const file = files[index];
      try {
        return await decodeImage(file);
      } catch (err) {
        throw new ScrlError(`Error in ${fn}: cannot decode '${file}': ${(err as Error).message}. Remove or fix the file.`);
      }
    },
  };
}

/** Images already in memory (tests, generated data). */
export function inMemorySource(images: RgbImage[], description = 'in-memory images'): ImageSource {
  const fn = 'inMemorySource';
  if (!Array.isArray(images) || images.length === 0) {
    throw new ScrlError(`Error in ${fn}: images must be a non-empty array of { data, width, height }.`);
  }
  images.forEach((im, i) => {
    if (!im || !(im.data instanceof Uint8Array) || im.data.length !== im.width * im.height * 3) {
      throw new ScrlError(`Error in ${fn}: images[${i}] must be packed RGB with data.length = width * height * 3.`);
    }
  });
  return {
    length: images.length,
    description: `${description} (${images.length} images)`,
    read: async (index: number) => images[index],
  };
}
