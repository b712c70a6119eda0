// @ts-check
// Usernames: what is allowed, and when two names count as the same one. Two names collide when they are equal after
// NFKC and case folding, or when they only differ by characters that look alike (a Cyrillic "а" for a Latin "a",
// "rn" for "m", "0" for "o"), so nobody can pass for someone else. The server decides with these rules, and the web
// page checks a name with the very same ones as it is typed.

import { printable } from "./protocol.js";

export const NAME_MAX_CHARS = 32;

/** A lobby name (`?lobby=NAME`): the username alphabet's ASCII part. */
export const LOBBY_NAME = /^[A-Za-z0-9_.-]{1,64}$/;

/** @typedef {{ ok: true, name: string, key: string } | { ok: false, name: string, detail: string }} NameCheck */

const ALLOWED = /^[\p{L}\p{M}\p{N}_.-]+$/u;
const MARK = /\p{M}/u;
/** More combining marks than this on one letter is decoration, not a name ("Zalgo" text). */
const MAX_MARKS_IN_A_ROW = 3;

/** The scripts told apart when checking for mixed-script names; letters of any other script count as "other". */
const SCRIPTS = [
  "Latin", "Greek", "Cyrillic", "Armenian", "Hebrew", "Arabic", "Syriac", "Thaana", "Devanagari", "Bengali",
  "Gurmukhi", "Gujarati", "Oriya", "Tamil", "Telugu", "Kannada", "Malayalam", "Sinhala", "Thai", "Lao", "Tibetan",
  "Myanmar", "Georgian", "Hangul", "Ethiopic", "Cherokee", "Khmer", "Mongolian", "Hiragana", "Katakana", "Bopomofo",
  "Han",
].map((script) => /** @type {[string, RegExp]} */ ([script, new RegExp(`^\\p{Script=${script}}$`, "u")]));

/** Scripts that are written together (UTS #39 "highly restrictive"): Latin with Japanese, Chinese or Korean. */
const WRITTEN_TOGETHER = [
  new Set(["Latin", "Han", "Hiragana", "Katakana"]),
  new Set(["Latin", "Han", "Bopomofo"]),
  new Set(["Latin", "Han", "Hangul"]),
];

/** Letters that look like Latin ones, after case folding (a subset of Unicode's confusables.txt). */
/** @type {Record<string, string>} */
const LOOKALIKES = {
  // Cyrillic
  "а": "a", "е": "e", "о": "o", "р": "p", "с": "c", "у": "y", "х": "x", "і": "i", "ј": "j", "ѕ": "s",
  "ԁ": "d", "һ": "h", "ӏ": "l", "ԛ": "q", "ԝ": "w",
  // Greek
  "α": "a", "ι": "i", "κ": "k", "ν": "v", "ο": "o", "ρ": "p", "υ": "u", "χ": "x",
  // Latin and digits
  "ı": "i", "ɡ": "g", "0": "o", "1": "l",
};
/** @type {[RegExp, string][]} */
const LOOKALIKE_PAIRS = [
  [/rn/g, "m"],
  [/vv/g, "w"],
];

/** Equal for names that differ only in case or by NFKC compatibility (fullwidth letters, ligatures). */
/** @param {string} name */
export function foldName(name) {
  return name.normalize("NFKC").toLowerCase().normalize("NFKC");
}

/**
 * The key two names collide on: the folded name with look-alike characters mapped to one of them. (A capital I
 * and a small l look alike too, but folding case turns the I into an i first; case-insensitivity wins there.)
 */
/** @param {string} name */
export function nameKey(name) {
  const folded = foldName(name);
  let key = "";
  for (const ch of folded) key += LOOKALIKES[ch] ?? ch;
  for (const [pair, single] of LOOKALIKE_PAIRS) key = key.replace(pair, single);
  return key;
}

/** @param {string} ch @returns {string | null} */
function scriptOf(ch) {
  if (!/\p{L}/u.test(ch) && !MARK.test(ch)) return null; // digits and _ - . belong to every script
  for (const [script, re] of SCRIPTS) if (re.test(ch)) return script;
  return MARK.test(ch) ? null : "other"; // a mark of no listed script is inherited from its letter
}

/**
 * A login checks its name twice in a row (the Lobby first looks for a silent socket holding it, then the rules
 * decide): the second check is answered from here. A NameCheck is never modified, so it can be shared.
 */
/** @type {{ raw: string, check: NameCheck } | null} */
let last = null;

/**
 * @param {string} raw
 * @returns {NameCheck}
 */
export function checkName(raw) {
  if (last?.raw === raw) return last.check;
  const check = checkNameUncached(raw);
  last = { raw, check };
  return check;
}

/**
 * @param {string} raw
 * @returns {NameCheck}
 */
function checkNameUncached(raw) {
  const name = raw.normalize("NFKC").trim();
  const chars = [...name];
  /** @param {string} detail @returns {NameCheck} */
  const refuse = (detail) => ({ ok: false, name: printable(name, NAME_MAX_CHARS * 2), detail });
  if (chars.length === 0) return refuse("a username needs at least one character");
  if (chars.length > NAME_MAX_CHARS) {
    return { ok: false, name: "", detail: `a username has at most ${NAME_MAX_CHARS} characters (that one has ${chars.length})` };
  }
  if (!ALLOWED.test(name)) {
    const bad = chars.find((c) => !ALLOWED.test(c)) ?? "";
    const what = /\p{C}/u.test(bad)
      ? `control or invisible characters (U+${/** @type {number} */ (bad.codePointAt(0)).toString(16).toUpperCase().padStart(4, "0")})`
      : /\s/u.test(bad)
        ? "spaces"
        : `"${bad}"`;
    return refuse(`${what} not allowed; use letters, digits, _ - .`);
  }
  if (MARK.test(/** @type {string} */ (chars[0]))) return refuse("a username cannot start with a combining mark");
  let marks = 0;
  for (const c of chars) {
    marks = MARK.test(c) ? marks + 1 : 0;
    if (marks > MAX_MARKS_IN_A_ROW) return refuse(`at most ${MAX_MARKS_IN_A_ROW} combining marks on one letter`);
  }
  const scripts = new Set(chars.map(scriptOf).filter((s) => s !== null));
  if (scripts.size > 1 && !WRITTEN_TOGETHER.some((set) => [...scripts].every((s) => set.has(s)))) {
    const [first, second] = [...scripts];
    return refuse(`mixes ${first} and ${second} letters, which can imitate another name; use one script`);
  }
  return { ok: true, name, key: nameKey(name) };
}

