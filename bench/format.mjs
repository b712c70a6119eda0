// @ts-check
// Plain-text tables and numbers for the benchmark's report.

/** @param {number} n */
export const fmt = (n) => (Number.isFinite(n) ? (Math.abs(n) >= 100 ? Math.round(n).toLocaleString("en-US") : n.toFixed(1)) : "-");

/** @param {number} n @param {number} [digits] */
export const times = (n, digits = 2) => (Number.isFinite(n) ? `${n.toFixed(digits)}×` : "-");

/**
 * Columns after the first `left` are right-aligned.
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

/** @param {number[]} xs  NaN entries are ignored */
export function median(xs) {
  const s = xs.filter((x) => !Number.isNaN(x)).sort((a, b) => a - b);
  if (s.length === 0) return NaN;
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? /** @type {number} */ (s[mid]) : (/** @type {number} */ (s[mid - 1]) + /** @type {number} */ (s[mid])) / 2;
}
