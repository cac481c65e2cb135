/** Test helper: an Rng that plays back given values (not part of the build). */
import type { Rng, RngState } from '@scrl/util';

/**
 * `uniform(lo, hi) = lo + (hi - lo) * u` and `int(lo, hi) = lo + floor(u * (hi - lo + 1))` with u
 * taken from `draws` in order; `ints`, when given, are returned by `int` directly (checked in range).
 */
export function scriptedRng(draws: number[], ints?: number[]): Rng & { remaining(): number } {
  const us = [...draws];
  const is = ints ? [...ints] : null;
  const take = (): number => {
    if (us.length === 0) throw new Error('scriptedRng: out of draws');
    return us.shift() as number;
  };
  const rng = {
    next: take,
    int(lo: number, hi: number): number {
      if (is) {
        if (is.length === 0) throw new Error('scriptedRng: out of ints');
        const v = is.shift() as number;
        if (v < lo || v > hi) throw new Error(`scriptedRng: ${v} outside [${lo}, ${hi}]`);
        return v;
      }
      return lo + Math.floor(take() * (hi - lo + 1));
    },
    uniform: (lo: number, hi: number) => lo + (hi - lo) * take(),
    bool: (p: number) => take() < p,
    fork: (): Rng => {
      throw new Error('scriptedRng: fork not supported');
    },
    getState: (): RngState => {
      throw new Error('scriptedRng: getState not supported');
    },
    remaining: () => (is ? is.length : us.length),
  };
  return rng;
}
