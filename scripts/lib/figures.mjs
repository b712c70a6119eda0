// @ts-check
// The tools' numbers: medians and quantiles of samples, and how figures and tables are printed.

/**
 * The q-quantile of sorted samples (the sample below which a share q falls); NaN when there are none.
 * @param {ArrayLike<number>} sorted
 * @param {number} q  in [0, 1]
 */
export function quantile(sorted, q) {
  return sorted.length ? /** @type {number} */ (sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]) : NaN;
}

/** @param {number[]} xs  NaN entries are ignored */
export function median(xs) {
  const s = xs.filter((x) => !Number.isNaN(x)).sort((a, b) => a - b);
  if (s.length === 0) return NaN;
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? /** @type {number} */ (s[mid]) : (/** @type {number} */ (s[mid - 1]) + /** @type {number} */ (s[mid])) / 2;
}

/** A rate or count: whole with thousands separators from 100 up, one decimal below. @param {number} n */
export const fmt = (n) => (Number.isFinite(n) ? (Math.abs(n) >= 100 ? Math.round(n).toLocaleString("en-US") : n.toFixed(1)) : "-");

/** A ratio. @param {number} n @param {number} [digits] */
export const times = (n, digits = 2) => (Number.isFinite(n) ? `${n.toFixed(digits)}×` : "-");

/** Milliseconds: one decimal under 10 ms, whole above. @param {number} ms */
export const fmtMs = (ms) => (Number.isFinite(ms) ? (ms < 10 ? ms.toFixed(1) : String(Math.round(ms))) : "n/a");

/**
 * A plain-text table; columns after the first `left` are right-aligned.
 * @param {string[]} header
 * @param {(string | number)[][]} rows
 * @param {number} [left]
 */
export function table(header, rows, left = 1) {
  const cells = [header, ...rows.map((r) => r.map(String))];
  const widths = header.map((_, i) => Math.max(...cells.map((r) => (r[i] ?? "").length)));
  const line = (/** @type {string[]} */ r) =>
    r.map((c, i) => (i < left ? c.padEnd(widths[i] ?? 0) : c.padStart(widths[i] ?? 0))).join("  ").trimEnd();
  return [line(header), widths.map((w) => "-".repeat(w)).join("  "), ...cells.slice(1).map(line)].join("\n");
}
