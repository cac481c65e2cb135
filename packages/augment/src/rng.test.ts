import { createRng, restoreRng } from './index';
import fixtures from './__fixtures__/augment.json';

describe('createRng', () => {
  it('replays the same stream for the same seed, numbers and strings alike', () => {
    for (const seed of [0, 1, 42, -7, 2 ** 40, 'imagenet', '']) {
      const a = createRng(seed);
      const b = createRng(seed);
      const xs = Array.from({ length: 100 }, () => a.next());
      const ys = Array.from({ length: 100 }, () => b.next());
      expect(xs).toEqual(ys);
    }
  });

  it('gives different streams for different seeds (1 and "1" differ too)', () => {
    const first = (s: number | string) => Array.from({ length: 4 }, ((r) => () => r.next())(createRng(s)));
    expect(first(1)).not.toEqual(first(2));
    expect(first(1)).not.toEqual(first('1'));
    expect(first(0)).not.toEqual(first(-0 + 1));
  });

  it('matches a Python sfc32 from the same registers (32-bit integer arithmetic)', () => {
    const rng = restoreRng({ algorithm: 'sfc32', key: [0, 0, 0, 0], state: fixtures.sfc32.state as [number, number, number, number] });
    const got = fixtures.sfc32.outputs.map(() => rng.next() * 2 ** 32);
    expect(got).toEqual(fixtures.sfc32.outputs);
  });

  it('int covers [lo, hi] inclusively and uniformly', () => {
    const rng = createRng(5);
    const counts = new Array(7).fill(0);
    const n = 70000;
    for (let i = 0; i < n; i++) counts[rng.int(-3, 3) + 3]++;
    for (const c of counts) expect(Math.abs(c - n / 7)).toBeLessThan(5 * Math.sqrt(n / 7));
    expect(rng.int(4, 4)).toBe(4);
    const big = rng.int(0, 2 ** 32 - 1);
    expect(big).toBeGreaterThanOrEqual(0);
    expect(big).toBeLessThan(2 ** 32);
  });

  it('next, uniform and bool stay in range with the right mean', () => {
    const rng = createRng('range');
    let s = 0;
    let t = 0;
    let outside = 0;
    for (let i = 0; i < 20000; i++) {
      const x = rng.next();
      if (!(x >= 0 && x < 1)) outside++;
      s += x;
      const u = rng.uniform(2, 5);
      if (!(u >= 2 && u < 5)) outside++;
      if (rng.bool(0.3)) t++;
    }
    expect(outside).toBe(0);
    expect(Math.abs(s / 20000 - 0.5)).toBeLessThan(0.01);
    expect(Math.abs(t / 20000 - 0.3)).toBeLessThan(0.015);
    expect(rng.bool(0)).toBe(false);
    expect(rng.bool(1)).toBe(true);
  });

  it('saves and restores its state through JSON', () => {
    const rng = createRng(123);
    for (let i = 0; i < 37; i++) rng.next();
    const saved = JSON.parse(JSON.stringify(rng.getState()));
    const expected = Array.from({ length: 50 }, () => rng.int(0, 1000));
    const resumed = restoreRng(saved);
    expect(Array.from({ length: 50 }, () => resumed.int(0, 1000))).toEqual(expected);
    // The key survives too: forks of the restored generator equal forks of the original.
    expect(restoreRng(saved).fork('x').next()).toBe(createRng(123).fork('x').next());
  });

  it('fork derives independent, deterministic streams from (key, label) only', () => {
    const root = createRng(2021);
    const a = root.fork(3).fork(17);
    // Draws on the parent do not change its forks.
    for (let i = 0; i < 10; i++) root.next();
    const b = root.fork(3).fork(17);
    const xs = Array.from({ length: 20 }, () => a.next());
    expect(Array.from({ length: 20 }, () => b.next())).toEqual(xs);
    // Different labels, different streams; and the child is not the parent's stream.
    const c = createRng(2021).fork(3).fork(18);
    expect(Array.from({ length: 20 }, () => c.next())).not.toEqual(xs);
    const parent = createRng(2021);
    const child = parent.fork('0');
    expect(child.next()).not.toBe(parent.next());
    expect(createRng(2021).fork(1).next()).not.toBe(createRng(2021).fork('1').next());
  });

  it('forked streams are uncorrelated', () => {
    const root = createRng(9);
    const n = 5000;
    const a = root.fork(0);
    const b = root.fork(1);
    let sab = 0, sa = 0, sb = 0, saa = 0, sbb = 0;
    for (let i = 0; i < n; i++) {
      const x = a.next();
      const y = b.next();
      sab += x * y; sa += x; sb += y; saa += x * x; sbb += y * y;
    }
    const cov = sab / n - (sa / n) * (sb / n);
    const corr = cov / Math.sqrt((saa / n - (sa / n) ** 2) * (sbb / n - (sb / n) ** 2));
    expect(Math.abs(corr)).toBeLessThan(0.05);
  });

  it('rejects bad seeds, ranges and states with clear messages', () => {
    expect(() => createRng(1.5)).toThrow(/createRng: seed must be a safe integer or a string, got 1.5/);
    expect(() => createRng(undefined as unknown as number)).toThrow(/createRng: seed must be a number or a string/);
    const rng = createRng(1);
    expect(() => rng.int(3, 2)).toThrow(/Rng.int: .*lo=3, hi=2/);
    expect(() => rng.int(0, 0.5)).toThrow(/Rng.int/);
    expect(() => rng.int(0, 2 ** 33)).toThrow(/at most 2\^32/);
    expect(() => rng.bool(1.5)).toThrow(/Rng.bool: p must be in \[0, 1\], got 1.5/);
    expect(() => rng.fork(NaN)).toThrow(/Rng.fork: label/);
    expect(() => restoreRng({ algorithm: 'sfc32', key: [1, 2, 3], state: [1, 2, 3, 4] } as never)).toThrow(/restoreRng: state must be/);
  });
});
