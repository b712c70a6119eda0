// @ts-check
// Echoing user input back (a rejected name, an unknown command) safely: no control or lone-surrogate characters,
// and cut at a whole character, never inside a surrogate pair, which would make the frame invalid UTF-8.
// Plain JavaScript so the Node terminal client can share it.

/**
 * @param {string} s
 * @param {number} max characters (code points) to keep
 * @returns {string}
 */
export function printable(s, max) {
  const chars = [...s.replace(/\p{C}/gu, "?")];
  return chars.length > max ? `${chars.slice(0, max).join("")}...` : chars.join("");
}
