/** Small files the tests create in a temporary folder. */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import sharp from 'sharp';
import type { ViewPairBatch } from '../index';

export function tempDir(label: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), `scrl-data-${label}-`));
}

export function removeDir(dir: string): void {
  fs.rmSync(dir, { recursive: true, force: true });
}

/** Deterministic pixels: value depends on (x, y, channel, salt). */
export function pattern(width: number, height: number, salt = 0): Buffer {
  const buf = Buffer.alloc(width * height * 3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      for (let c = 0; c < 3; c++) buf[(y * width + x) * 3 + c] = (x * 7 + y * 13 + c * 50 + salt * 31) & 255;
    }
  }
  return buf;
}

export async function writeImage(
  file: string,
  width: number,
  height: number,
  format: 'png' | 'jpeg' | 'webp' = 'png',
  salt = 0,
): Promise<Buffer> {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const raw = pattern(width, height, salt);
  const img = sharp(raw, { raw: { width, height, channels: 3 } });
  const bytes = await (format === 'png' ? img.png() : format === 'jpeg' ? img.jpeg({ quality: 90 }) : img.webp({ lossless: true })).toBuffer();
  fs.writeFileSync(file, bytes);
  return raw;
}

/** A PNG cut in half: the header is fine, the pixel data ends early. */
export async function writeTruncatedPng(file: string, width = 32, height = 32): Promise<void> {
  const bytes = await sharp(pattern(width, height), { raw: { width, height, channels: 3 } }).png().toBuffer();
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, bytes.subarray(0, Math.floor(bytes.length / 2)));
}

/** Collects warning lines instead of printing them. */
export function warnings(): { lines: string[]; warn: (line: string) => void } {
  const lines: string[] = [];
  return { lines, warn: (line: string) => lines.push(line) };
}

/** Asserts two loaders' batches are identical: order, indices, pixels, geometry and box pairs. */
export function expectSameBatches(a: ViewPairBatch[], b: ViewPairBatch[]): void {
  expect(b.map((x) => [x.epoch, x.step, x.indices])).toEqual(a.map((x) => [x.epoch, x.step, x.indices]));
  for (let i = 0; i < a.length; i++) {
    expect(Buffer.from(b[i].view1.buffer).equals(Buffer.from(a[i].view1.buffer))).toBe(true);
    expect(Buffer.from(b[i].view2.buffer).equals(Buffer.from(a[i].view2.buffer))).toBe(true);
    expect(b[i].geometry).toEqual(a[i].geometry);
    expect(b[i].boxPairs).toEqual(a[i].boxPairs);
  }
}
