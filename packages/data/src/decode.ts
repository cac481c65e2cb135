/** Decoding any image file sharp reads into packed 8-bit RGB. */
import * as fs from 'node:fs';
import sharp from 'sharp';
import type { RgbImage } from '@scrl/augment';

/** File extensions the folder readers pick up (case-insensitive). */
export const IMAGE_EXTENSIONS: readonly string[] = ['.jpg', '.jpeg', '.png', '.webp'];

export function isImageFile(name: string): boolean {
  const dot = name.lastIndexOf('.');
  return dot >= 0 && IMAGE_EXTENSIONS.includes(name.slice(dot).toLowerCase());
}

/**
 * Decodes an image file to packed RGB (`width * height * 3` bytes, row-major HWC).
 *
 * Grey images are expanded to three channels and alpha is dropped. EXIF orientation is *not*
 * applied: annotations (COCO, VOC) are in stored-pixel coordinates, as PIL and torchvision read
 * them. Truncated or corrupt files fail (sharp's `failOn: 'warning'`) instead of decoding to
 * partly grey pixels.
 *
 * @throws Error (not a DataError) with sharp's reason; readers turn it into a skip with a warning.
 */
export async function decodeImage(file: string): Promise<RgbImage> {
  // Reading the bytes ourselves gives a plain "no such file" error rather than sharp's message.
  const bytes = await fs.promises.readFile(file);
  const { data, info } = await sharp(bytes, { failOn: 'warning' })
    .removeAlpha()
    .toColourspace('srgb')
    .raw({ depth: 'uchar' })
    .toBuffer({ resolveWithObject: true });
  if (info.channels !== 3) {
    throw new Error(`decoded to ${info.channels} channels, expected 3`);
  }
  return { data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength), width: info.width, height: info.height };
}

/** Width and height from the file header, without decoding the pixels. */
export async function imageSize(file: string): Promise<{ width: number; height: number }> {
  const meta = await sharp(file).metadata();
  if (!meta.width || !meta.height) throw new Error('image has no size in its header');
  return { width: meta.width, height: meta.height };
}

/** Encodes packed RGB as PNG (deterministic: same pixels give the same bytes). */
export async function encodePng(image: RgbImage, compressionLevel = 6): Promise<Buffer> {
  return sharp(Buffer.from(image.data.buffer, image.data.byteOffset, image.data.byteLength), {
    raw: { width: image.width, height: image.height, channels: 3 },
  })
    .png({ compressionLevel, adaptiveFiltering: false })
    .toBuffer();
}
