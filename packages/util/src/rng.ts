/**
 * Seedable random numbers for every @scrl package: the one home of the generators.
 *
 * - {@link createRng}: the keyed, forkable {@link Rng} that views, boxes, shuffles and loaders draw
 *   from (re-exported by @scrl/augment).
 * - {@link Sfc32Generator}: its bare generator core, for streams seeded another way (the built-in
 *   scenes of @scrl/data keep their own seeding so that generated datasets do not change).
 * - {@link mulberry32} / {@link mulberry32Uint32}: a one-word-state generator for weight
 *   initialisation (@scrl/models) and evaluation sampling (@scrl/eval), where a fork tree is not
 *   needed.
 *
 * The main generator is sfc32 (Chris Doty-Humphrey's Small Fast Chaotic PRNG, 128-bit state) in
 * 32-bit integer arithmetic only, so a seed replays the same numbers on every machine and in
 * every worker thread. Seeds (numbers or strings) and fork labels are hashed into a 128-bit
 * key with a MurmurHash3-style mixer. Never `Math.random`.
 */

/** Plain-JSON state of an {@link Rng}: enough to resume it exactly (checkpoints). */
export interface RngState {
  algorithm: 'sfc32';
  /** The stream's key (what `fork` derives children from), four uint32. */
  key: [number, number, number, number];
  /** Generator registers a, b, c, d, four uint32. */
  state: [number, number, number, number];
}

/** The random source every random function of @scrl/augment takes. */
export interface Rng {
  /** A float in [0, 1) with 32 random bits. */
  next(): number;
  /** An integer in [lo, hi], both inclusive, unbiased (rejection sampling); hi - lo < 2^32. */
  int(lo: number, hi: number): number;
  /** A float in [lo, hi): `lo + (hi - lo) * next()`. */
  uniform(lo: number, hi: number): number;
  /** True with probability p (`next() < p`); p = 0 is always false, p = 1 always true. */
  bool(p: number): boolean;
  /**
   * An independent stream derived from this generator's key and `label` only: it neither reads
   * nor advances this generator's state, so `createRng(seed).fork(epoch).fork(index)` is the
   * same stream whatever was drawn before. Forking twice with the same label gives the same
   * stream; use distinct labels for distinct streams.
   */
  fork(label: string | number): Rng;
  /** A JSON-safe copy of the state; `restoreRng(getState())` continues the same sequence. */
  getState(): RngState;
}

const TWO_32 = 4294967296;

function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** 128-bit hash of a sequence of 32-bit words (four MurmurHash3 lanes with distinct seeds). */
function hashWords(words: number[]): [number, number, number, number] {
  const seeds = [0x9e3779b9, 0x243f6a88, 0xb7e15162, 0x85a308d3];
  const out = seeds.map((seed, lane) => {
    let h = (seed ^ Math.imul(words.length, 0x01000193)) >>> 0;
    for (let i = 0; i < words.length; i++) {
      let k = Math.imul(words[i] ^ lane, 0xcc9e2d51);
      k = (k << 15) | (k >>> 17);
      k = Math.imul(k, 0x1b873593);
      h ^= k;
      h = (h << 13) | (h >>> 19);
      h = (Math.imul(h, 5) + 0xe6546b64) | 0;
    }
    return fmix32(h ^ words.length);
  });
  return out as [number, number, number, number];
}

/** Words that identify a seed or label; numbers and strings are tagged so 1 and '1' differ. */
function labelWords(label: string | number, fn: string, arg: string): number[] {
  if (typeof label === 'number') {
    if (!Number.isSafeInteger(label)) {
      throw new Error(`Error in ${fn}: ${arg} must be a safe integer or a string, got ${label}. Round it or pass a string.`);
    }
    const neg = label < 0 ? 1 : 0;
    const abs = Math.abs(label);
    return [0x4e554d42, neg, abs >>> 0, Math.floor(abs / TWO_32) >>> 0];
  }
  if (typeof label === 'string') {
    const words = [0x53545247, label.length];
    for (let i = 0; i < label.length; i++) words.push(label.charCodeAt(i));
    return words;
  }
  throw new Error(`Error in ${fn}: ${arg} must be a number or a string, got ${typeof label}.`);
}

/**
 * The bare sfc32 generator: four 32-bit registers, uint32 outputs, integer arithmetic only.
 * `warmup` outputs are discarded after seeding (sfc32's authors suggest 12 or more).
 */
export class Sfc32Generator {
  private a: number;
  private b: number;
  private c: number;
  private d: number;

  constructor(registers: readonly [number, number, number, number], warmup = 0) {
    [this.a, this.b, this.c, this.d] = registers.map((v) => v | 0);
    for (let i = 0; i < warmup; i++) this.nextUint32();
  }

  nextUint32(): number {
    const t = (((this.a + this.b) | 0) + this.d) | 0;
    this.d = (this.d + 1) | 0;
    this.a = this.b ^ (this.b >>> 9);
    this.b = (this.c + (this.c << 3)) | 0;
    this.c = (this.c << 21) | (this.c >>> 11);
    this.c = (this.c + t) | 0;
    return t >>> 0;
  }

  /** The registers as four uint32 (to save and resume the stream). */
  registers(): [number, number, number, number] {
    return [this.a >>> 0, this.b >>> 0, this.c >>> 0, this.d >>> 0];
  }
}

class Sfc32 implements Rng {
  private readonly core: Sfc32Generator;

  constructor(
    private readonly key: [number, number, number, number],
    state?: [number, number, number, number],
  ) {
    // Warm-up so that similar keys give unrelated first outputs.
    this.core = state ? new Sfc32Generator(state) : new Sfc32Generator([key[0], key[1], key[2], key[3] | 1], 15);
  }

  nextUint32(): number {
    return this.core.nextUint32();
  }

  next(): number {
    return this.nextUint32() / TWO_32;
  }

  int(lo: number, hi: number): number {
    if (!Number.isSafeInteger(lo) || !Number.isSafeInteger(hi) || lo > hi) {
      throw new Error(`Error in Rng.int: lo and hi must be integers with lo <= hi, got lo=${lo}, hi=${hi}.`);
    }
    const range = hi - lo + 1;
    if (range > TWO_32) {
      throw new Error(`Error in Rng.int: hi - lo + 1 must be at most 2^32, got ${range}. Split the range.`);
    }
    // Largest multiple of range below 2^32: values at or above it are redrawn (no modulo bias).
    const limit = TWO_32 - (TWO_32 % range);
    let u = this.nextUint32();
    while (u >= limit) u = this.nextUint32();
    return lo + (u % range);
  }

  uniform(lo: number, hi: number): number {
    if (!Number.isFinite(lo) || !Number.isFinite(hi) || lo > hi) {
      throw new Error(`Error in Rng.uniform: lo and hi must be finite with lo <= hi, got lo=${lo}, hi=${hi}.`);
    }
    return lo + (hi - lo) * this.next();
  }

  bool(p: number): boolean {
    if (!(p >= 0 && p <= 1)) throw new Error(`Error in Rng.bool: p must be in [0, 1], got ${p}.`);
    return this.next() < p;
  }

  fork(label: string | number): Rng {
    const words = [...this.key, 0x464f524b, ...labelWords(label, 'Rng.fork', 'label')];
    return new Sfc32(hashWords(words));
  }

  getState(): RngState {
    return {
      algorithm: 'sfc32',
      key: [...this.key] as RngState['key'],
      state: this.core.registers(),
    };
  }
}

/** A generator seeded by an integer or a string; the same seed gives the same stream everywhere. */
export function createRng(seed: number | string): Rng {
  return new Sfc32(hashWords(labelWords(seed, 'createRng', 'seed')));
}

function isUint32Quad(v: unknown): v is [number, number, number, number] {
  return (
    Array.isArray(v) && v.length === 4 && v.every((x) => Number.isInteger(x) && x >= 0 && x < TWO_32)
  );
}

/** Rebuilds a generator from `rng.getState()` (e.g. after JSON round-trip through a checkpoint). */
export function restoreRng(state: RngState): Rng {
  const s = state as unknown as Record<string, unknown> | null;
  if (!s || typeof s !== 'object' || s.algorithm !== 'sfc32' || !isUint32Quad(s.key) || !isUint32Quad(s.state)) {
    throw new Error(
      `Error in restoreRng: state must be { algorithm: 'sfc32', key: [4 uint32], state: [4 uint32] } as returned by ` +
        `rng.getState(), got ${JSON.stringify(state)}.`,
    );
  }
  return new Sfc32([...s.key] as RngState['key'], [...s.state] as RngState['state']);
}

/**
 * Mulberry32 (Tommy Ettinger): uint32 outputs from a one-word state. `seed` is taken modulo 2^32.
 */
export function mulberry32Uint32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  };
}

/** Mulberry32 as floats in [0, 1) with 32 random bits. */
export function mulberry32(seed: number): () => number {
  const u = mulberry32Uint32(seed);
  return () => u() / TWO_32;
}

/** Mulberry32 as floats in the open interval (0, 1) (never 0: safe under a logarithm). */
export function mulberry32Open(seed: number): () => number {
  const u = mulberry32Uint32(seed);
  return () => (u() + 0.5) / TWO_32;
}

/** Standard normal samples by Box-Muller (cosine branch), two uniforms in (0, 1) per sample. */
export function normalSampler(uniform: () => number): () => number {
  return () => Math.sqrt(-2 * Math.log(uniform())) * Math.cos(2 * Math.PI * uniform());
}
