/** Reads __fixtures__/roi_align.json (tools/fixtures/roi_align.py) for the parity tests. */
import * as fs from 'node:fs';
import * as path from 'node:path';

export interface RoiAlignFixtureCase {
  name: string;
  seed: number;
  inputShape: [number, number, number, number];
  boxes: number[][];
  boxIndices: number[];
  outputSize: [number, number];
  spatialScale: number;
  samplingRatio: number;
  aligned: boolean;
  forward: string;
  gradInput: string;
}

export interface RoiAlignFixture {
  torch: string;
  torchvision: string;
  gradSeedOffset: number;
  cases: RoiAlignFixtureCase[];
}

export function loadRoiAlignFixture(): RoiAlignFixture {
  const file = path.join(__dirname, '..', '__fixtures__', 'roi_align.json');
  return JSON.parse(fs.readFileSync(file, 'utf8')) as RoiAlignFixture;
}

export function decodeFloat32(b64: string): Float32Array {
  const bytes = Buffer.from(b64, 'base64');
  const out = new Float32Array(bytes.length / 4);
  for (let i = 0; i < out.length; i++) out[i] = bytes.readFloatLE(4 * i);
  return out;
}

/** mulberry32(seed) as float32 values m / 2**22 - 2 in [-2, 2), the fixture script's `uniform`. */
export function uniform(seed: number, count: number): Float32Array {
  let a = seed | 0;
  const out = new Float32Array(count);
  for (let i = 0; i < count; i++) {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    const u = (t ^ (t >>> 14)) >>> 0;
    out[i] = (u >>> 8) / 4194304 - 2;
  }
  return out;
}
