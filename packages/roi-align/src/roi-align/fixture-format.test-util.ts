/**
 * The format of __fixtures__/roi_align.json (tools/fixtures/roi_align.py), browser-safe: the
 * Node parity tests (fixtures.test-util.ts reads the file) and the browser parity page
 * (packages/web/src/page/parity.ts fetches it) decode it with these.
 */
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

/** Base64 of little-endian float32 values (the fixture's `forward` / `gradInput`) as a Float32Array. */
export function decodeFloat32(b64: string): Float32Array {
  const text = atob(b64);
  const bytes = new Uint8Array(text.length);
  for (let i = 0; i < text.length; i++) bytes[i] = text.charCodeAt(i);
  const view = new DataView(bytes.buffer);
  const out = new Float32Array(bytes.length / 4);
  for (let i = 0; i < out.length; i++) out[i] = view.getFloat32(4 * i, true);
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
