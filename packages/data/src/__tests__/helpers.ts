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

/** A PNG written by hand: any bit depth / colour type sharp cannot produce from raw pixels (16-bit RGBA here). */
export function pngBytes(width: number, height: number, bitDepth: 8 | 16, colourType: 2 | 6, samples: number[]): Buffer {
  const zlib = require('node:zlib') as typeof import('node:zlib');
  const channels = colourType === 6 ? 4 : 3;
  const bytesPerSample = bitDepth / 8;
  const row = width * channels * bytesPerSample;
  const raw = Buffer.alloc((row + 1) * height);
  for (let y = 0; y < height; y++) {
    for (let i = 0; i < width * channels; i++) {
      const v = samples[y * width * channels + i];
      const at = y * (row + 1) + 1 + i * bytesPerSample;
      if (bitDepth === 16) raw.writeUInt16BE(v, at);
      else raw[at] = v;
    }
  }
  const crcTable = Array.from({ length: 256 }, (_, n) => {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    return c >>> 0;
  });
  const crc = (buf: Buffer) => {
    let c = 0xffffffff;
    for (const b of buf) c = crcTable[(c ^ b) & 0xff] ^ (c >>> 8);
    return (c ^ 0xffffffff) >>> 0;
  };
  const chunk = (type: string, data: Buffer) => {
    const len = Buffer.alloc(4);
    len.writeUInt32BE(data.length);
    const body = Buffer.concat([Buffer.from(type, 'ascii'), data]);
    const sum = Buffer.alloc(4);
    sum.writeUInt32BE(crc(body));
    return Buffer.concat([len, body, sum]);
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = bitDepth;
  ihdr[9] = colourType;
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', ihdr),
    chunk('IDAT', zlib.deflateSync(raw)),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}

/** The first bytes of a PNG that claims `width` x `height` (a decompression bomb's header), with no pixel data. */
export function pngHeaderOnly(width: number, height: number): Buffer {
  const full = pngBytes(2, 2, 8, 2, new Array(12).fill(0));
  const out = Buffer.from(full);
  out.writeUInt32BE(width, 16);
  out.writeUInt32BE(height, 20);
  // Fix the IHDR CRC so the header itself is valid.
  const crcTable = Array.from({ length: 256 }, (_, n) => {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    return c >>> 0;
  });
  let c = 0xffffffff;
  for (const b of out.subarray(12, 29)) c = crcTable[(c ^ b) & 0xff] ^ (c >>> 8);
  out.writeUInt32BE((c ^ 0xffffffff) >>> 0, 29);
  return out;
}
