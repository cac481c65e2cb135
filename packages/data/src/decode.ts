/** Decoding any image file sharp reads into packed 8-bit RGB. */
import * as fs from 'node:fs';
import sharp from 'sharp';
import type { RgbImage } from '@scrl/augment';

/**
 * The most pixels an image may have; larger ones are refused from their header, before any
 * decoding (a 20000x20000 image would need 1.2 GB as RGB). PIL's `MAX_IMAGE_PIXELS` default.
 */
export const MAX_IMAGE_PIXELS = 89_478_485;

/** Images narrower or shorter than this are refused: a 1-pixel side has no spatial structure to crop. */
export const MIN_IMAGE_SIDE = 2;

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
 * partly grey pixels. 16-bit images are scaled to 8 bits. Images over `MAX_IMAGE_PIXELS` are
 * refused from their header, before decoding; images with a side under `MIN_IMAGE_SIDE` too.
 *
 * @throws Error (not a DataError) with sharp's reason; readers turn it into a skip with a warning.
 */
export async function decodeImage(file: string): Promise<RgbImage> {
  // Reading the bytes ourselves gives a plain "no such file" error rather than sharp's message.
  const bytes = await fs.promises.readFile(file);
  // The header alone: no pixel is decoded before the size is checked.
  const { width = 0, height = 0 } = await sharp(bytes, { limitInputPixels: false }).metadata();
  if (width * height > MAX_IMAGE_PIXELS) {
    throw new Error(
      `image is ${width}x${height} (${(width * height / 1e6).toFixed(1)} megapixels), over the ${(MAX_IMAGE_PIXELS / 1e6).toFixed(1)}-megapixel limit; resize it`,
    );
  }
  if (width < MIN_IMAGE_SIDE || height < MIN_IMAGE_SIDE) {
    throw new Error(`image is ${width}x${height} px; images need at least ${MIN_IMAGE_SIDE} px per side`);
  }
  const { data, info } = await sharp(bytes, { failOn: 'warning', limitInputPixels: MAX_IMAGE_PIXELS })
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
