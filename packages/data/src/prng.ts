/**
 * The scene generator's integer PRNG: @scrl/util's sfc32 core, seeded through splitmix32 from
 * (seed, ...keys). Integer arithmetic only, so the same seed gives the same numbers on every
 * platform and Node version. The seeding (and `int` by scaling rather than rejection) is the
 * generator's own and stays so: it fixes the pixels of every generated scene set.
 */
import { Sfc32Generator } from '@scrl/util';

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
  private readonly core: Sfc32Generator;

  /** A stream for `(seed, ...keys)`: different keys give independent streams. */
  constructor(seed: number, ...keys: number[]) {
    let mix = splitmix32(seed >>> 0)();
    for (const k of keys) mix = splitmix32((mix ^ Math.imul(k >>> 0, 0x27d4eb2d)) >>> 0)();
    const init = splitmix32(mix);
    const a = init();
    const b = init();
    const c = init();
    const d = init() | 1;
    this.core = new Sfc32Generator([a, b, c, d], 12);
  }

  u32(): number {
    return this.core.nextUint32();
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
