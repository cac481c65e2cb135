/**
 * Where training images come from: anything that can return image `i` of `length` as packed
 * RGB. A folder of image files is the usual source; tests use images in memory.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import sharp from 'sharp';
import type { RgbImage } from '@scrl/augment';
import { ScrlError } from '@scrl/util';

export interface ImageSource {
  /** Number of images. */
  readonly length: number;
  /** Image `index` in `[0, length)`, decoded to packed 8-bit RGB. */
  read(index: number): Promise<RgbImage>;
  /** A short description for logs and config.json (e.g. the folder). */
  readonly description: string;
}

const EXTENSIONS = new Set(['.jpg', '.jpeg', '.png', '.webp']);

function listImages(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const entry of fs.readdirSync(d, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : 1))) {
      const p = path.join(d, entry.name);
      if (entry.isDirectory()) walk(p);
      else if (EXTENSIONS.has(path.extname(entry.name).toLowerCase())) out.push(p);
    }
  };
  walk(dir);
  return out;
}

/**
 * Every `.jpg`, `.jpeg`, `.png` and `.webp` under `dir` (recursively, in sorted order),
 * decoded with sharp (alpha dropped, grey expanded to RGB, EXIF orientation not applied).
 */
export function imageFolderSource(dir: string): ImageSource {
  if (!fs.existsSync(dir) || !fs.statSync(dir).isDirectory()) {
    throw new ScrlError(`Error in imageFolderSource: '${dir}' is not a directory. Pass --data DIR with image files (jpg, png, webp).`);
  }
  const files = listImages(dir);
  if (files.length === 0) {
    throw new ScrlError(`Error in imageFolderSource: no .jpg, .jpeg, .png or .webp files under '${dir}'.`);
  }
  return {
    length: files.length,
    description: `${path.resolve(dir)} (${files.length} images)`,
    async read(index: number): Promise<RgbImage> {
      const file = files[index];
      try {
        const { data, info } = await sharp(file).removeAlpha().toColourspace('srgb').raw().toBuffer({ resolveWithObject: true });
        if (info.channels !== 3) throw new Error(`decoded to ${info.channels} channels`);
        return { data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength), width: info.width, height: info.height };
      } catch (err) {
        throw new ScrlError(`Error in imageFolderSource: cannot decode '${file}': ${(err as Error).message}. Remove or fix the file.`);
      }
    },
  };
}

/** Images already in memory (tests, generated data). */
export function inMemorySource(images: RgbImage[], description = 'in-memory images'): ImageSource {
  if (!Array.isArray(images) || images.length === 0) {
    throw new ScrlError('Error in inMemorySource: images must be a non-empty array of { data, width, height }.');
  }
  images.forEach((im, i) => {
    if (!im || !(im.data instanceof Uint8Array) || im.data.length !== im.width * im.height * 3) {
      throw new ScrlError(`Error in inMemorySource: images[${i}] must be packed RGB with data.length = width * height * 3.`);
    }
  });
  return {
    length: images.length,
    description: `${description} (${images.length} images)`,
    read: async (index: number) => images[index],
  };
}
