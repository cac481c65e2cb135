/**
 * The generator's own integer PRNG (sfc32 seeded through splitmix32). Integer arithmetic only,
 * so the same seed gives the same numbers on every platform and Node version.
 */

function splitmix32(state: number): () => number {
  let s = state >>> 0;
  return () => {
    s = (s + 0x9e3779b9) >>> 0;
    let z = s;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
    return (z ^ (z >>> 16)) >>> 0;
  };
}

export class ScenePrng {
  private a: number;
  private b: number;
  private c: number;
  private d: number;

  /** A stream for `(seed, ...keys)`: different keys give independent streams. */
  constructor(seed: number, ...keys: number[]) {
    let mix = splitmix32(seed >>> 0)();
    for (const k of keys) mix = splitmix32((mix ^ Math.imul(k >>> 0, 0x27d4eb2d)) >>> 0)();
    const init = splitmix32(mix);
    this.a = init();
    this.b = init();
    this.c = init();
    this.d = init() | 1;
    for (let i = 0; i < 12; i++) this.u32();
  }

  u32(): number {
    const t = (((this.a + this.b) >>> 0) + this.d) >>> 0;
    this.d = (this.d + 1) >>> 0;
    this.a = this.b ^ (this.b >>> 9);
    this.b = (this.c + (this.c << 3)) >>> 0;
    this.c = ((this.c << 21) | (this.c >>> 11)) >>> 0;
    this.c = (this.c + t) >>> 0;
    return t;
  }

  /** Uniform in [0, 1). */
  next(): number {
    return this.u32() / 4294967296;
  }

  /** Integer in [lo, hi], both inclusive. */
  int(lo: number, hi: number): number {
    return lo + Math.floor(this.next() * (hi - lo + 1));
  }

  uniform(lo: number, hi: number): number {
    return lo + (hi - lo) * this.next();
  }

  bool(p: number): boolean {
    return this.next() < p;
  }
}
