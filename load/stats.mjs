// @ts-check
// Small numeric helpers for the load driver: a seeded PRNG, percentiles, and a counter of named error kinds.

/**
 * mulberry32: a tiny seeded PRNG, so a run's choices (chat lengths, who ends, who crashes) can be replayed.
 * @param {number} seed
 * @returns {() => number} uniform in [0, 1)
 */
export function prng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * Nearest-rank percentile of unsorted samples; null when there are none.
 * @param {number[]} samples
 * @param {number} p in [0, 100]
 */
export function percentile(samples, p) {
  if (samples.length === 0) return null;
  const sorted = Float64Array.from(samples).sort();
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank];
}

/**
 * Milliseconds, rounded for a summary: one decimal under 10 ms, whole above.
 * @param {number | null} ms
 */
export function fmtMs(ms) {
  if (ms === null) return "n/a";
  return ms < 10 ? ms.toFixed(1) : String(Math.round(ms));
}

/** Counts of named problems, each with the first example seen, for the detail lines. */
export class Problems {
  /** @type {Map<string, { count: number, example: string }>} */
  kinds = new Map();

  /**
   * @param {string} kind
   * @param {string} example
   * @param {number} [count]
   */
  add(kind, example, count = 1) {
    if (count <= 0) return;
    const k = this.kinds.get(kind);
    if (k) k.count += count;
    else this.kinds.set(kind, { count, example });
  }

  total() {
    let n = 0;
    for (const k of this.kinds.values()) n += k.count;
    return n;
  }

  /** @returns {Record<string, { count: number, example: string }>} */
  toJSON() {
    return Object.fromEntries([...this.kinds].sort((a, b) => b[1].count - a[1].count));
  }
}
