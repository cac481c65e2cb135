/** Small seedable generators (Mulberry32 and Box-Muller), so runs replay exactly. */

/** Uniform in (0, 1), never exactly 0 or 1. */
export function uniformRng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (((t ^ (t >>> 14)) >>> 0) + 0.5) / 4294967296;
  };
}

/** Standard normal samples. */
export function normalRng(seed: number): () => number {
  const u = uniformRng(seed);
  return () => Math.sqrt(-2 * Math.log(u())) * Math.cos(2 * Math.PI * u());
}
