// @ts-check
// The command lines of `npm run bench` and `npm run load`: each option declared once, with its help, its default
// and how its value is read; --help prints the usage made from them, and a bad value exits 2 saying what it expects.

import { parseArgs } from "node:util";

/**
 * @template T
 * @typedef {{ help: string, arg: string, default?: string, read: (raw: string) => T }} Value
 *   an option with a value: `arg` names it in the usage, `read` turns it into T or throws saying what it expects
 */
/** @typedef {{ help: string }} Flag  an option without a value: true when given */

/**
 * @template {Record<string, Value<any> | Flag>} S
 * @typedef {{ [K in keyof S]: S[K] extends Value<infer T> ? (S[K] extends { default: string } ? T : T | undefined) : boolean }} Options
 */

/**
 * @template {Record<string, Value<any> | Flag>} S
 * @param {string} usage  the first line of the usage, e.g. "npm run load -- [options]"
 * @param {S} spec
 * @param {string[]} [argv]
 * @returns {Options<S>}
 */
export function readArgs(usage, spec, argv = process.argv.slice(2)) {
  const text = usageOf(usage, spec);
  /** @param {string} message */
  const fail = (message) => {
    console.error(`${message}\n\n${text}`);
    process.exit(2);
  };
  /** @type {Record<string, { type: "string" | "boolean" }>} */
  const options = { help: { type: "boolean" } };
  for (const [name, o] of Object.entries(spec)) options[name] = { type: "arg" in o ? "string" : "boolean" };
  /** @type {Record<string, string | boolean | undefined>} */
  let values = {};
  try {
    values = parseArgs({ args: argv, options }).values;
  } catch (err) {
    fail(err instanceof Error ? err.message : String(err));
  }
  if (values.help) {
    console.log(text);
    process.exit(0);
  }
  /** @type {Record<string, unknown>} */
  const out = {};
  for (const [name, o] of Object.entries(spec)) {
    if (!("arg" in o)) {
      out[name] = values[name] === true;
      continue;
    }
    const raw = /** @type {string | undefined} */ (values[name]) ?? o.default;
    try {
      out[name] = raw === undefined ? undefined : o.read(raw);
    } catch (err) {
      fail(`--${name} ${JSON.stringify(raw)}: expected ${err instanceof Error ? err.message : err}`);
    }
  }
  return /** @type {Options<S>} */ (out);
}

/**
 * @param {string} usage
 * @param {Record<string, Value<unknown> | Flag>} spec
 */
function usageOf(usage, spec) {
  const heads = Object.entries(spec).map(([name, o]) => `  --${name}${"arg" in o ? ` ${o.arg}` : ""}`);
  const width = Math.max(...heads.map((h) => h.length)) + 2;
  const lines = Object.values(spec).map((o, i) => {
    const help = o.help + ("arg" in o && o.default ? ` (default ${o.default})` : "");
    return (heads[i] ?? "").padEnd(width) + help.replaceAll("\n", `\n${" ".repeat(width)}`);
  });
  return [`usage: ${usage}`, ...lines, `${"  --help".padEnd(width)}this text`].join("\n");
}

// ---------------------------------------------------------------------------------------------
// Readers of values

/**
 * A whole number in [min, max].
 * @param {{ min?: number, max?: number }} [range]
 * @returns {(raw: string) => number}
 */
export const whole = ({ min = 1, max = Number.MAX_SAFE_INTEGER } = {}) => (raw) => {
  const n = Number(raw);
  if (raw.trim() === "" || !Number.isSafeInteger(n) || n < min || n > max) throw new Error(`a whole number from ${min}${max < Number.MAX_SAFE_INTEGER ? ` to ${max}` : " up"}`);
  return n;
};

/**
 * A number above `above` and at most `max`.
 * @param {{ above?: number, atLeast?: number, max?: number }} range  one of `above` (exclusive) or `atLeast`
 * @returns {(raw: string) => number}
 */
export const number = ({ above, atLeast, max = Infinity }) => (raw) => {
  const n = Number(raw);
  const low = above !== undefined ? n > above : n >= (atLeast ?? -Infinity);
  if (raw.trim() === "" || !Number.isFinite(n) || !low || n > max) {
    throw new Error(`a number ${above !== undefined ? `above ${above}` : `from ${atLeast}`}${max < Infinity ? ` up to ${max}` : ""}`);
  }
  return n;
};

/**
 * One of `choices`.
 * @template {string} C
 * @param {C[]} choices
 * @returns {(raw: string) => C}
 */
export const oneOf = (...choices) => (raw) => {
  const found = choices.find((c) => c === raw);
  if (found === undefined) throw new Error(choices.join(" or "));
  return found;
};

/**
 * Comma-separated values, each read by `read`.
 * @template T
 * @param {(raw: string) => T} read
 * @returns {(raw: string) => T[]}
 */
export const list = (read) => (raw) => raw.split(",").map((s) => s.trim()).filter(Boolean).map(read);

/** @param {string} raw */
export const text = (raw) => raw;
