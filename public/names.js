// Usernames and lobby names, checked the way the server checks them (checkName in src/names.ts, LOBBY_NAME in
// src/index.ts) as far as the form needs: length and characters, said before anything is sent. The finer rules
// (combining marks, mixed scripts, look-alike names) stay with the server, whose answer the form shows as it is.

export const NAME_MAX_CHARS = 32;
const NAME_CHARS = /^[\p{L}\p{M}\p{N}_.-]+$/u;
const LOBBY_NAME = /^[A-Za-z0-9_.-]{1,64}$/;
const ALLOWED = "use letters, digits, _ - or .";

/** @typedef {{ ok: true, name: string } | { ok: false, detail: string }} NameCheck */

/**
 * @param {string} raw what the person typed
 * @returns {NameCheck}
 */
export function checkName(raw) {
  const name = raw.normalize("NFKC").trim();
  const chars = [...name];
  if (chars.length === 0) return { ok: false, detail: "Enter a username" };
  if (chars.length > NAME_MAX_CHARS) {
    return { ok: false, detail: `At most ${NAME_MAX_CHARS} characters (that one has ${chars.length})` };
  }
  const bad = chars.find((c) => !NAME_CHARS.test(c));
  if (bad === undefined) return { ok: true, name };
  if (/\s/u.test(bad)) return { ok: false, detail: `Spaces are not allowed; ${ALLOWED}` };
  if (/\p{C}/u.test(bad)) return { ok: false, detail: `Invisible characters are not allowed; ${ALLOWED}` };
  return { ok: false, detail: `"${bad}" is not allowed; ${ALLOWED}` };
}

/** Equal for the same name in another case or NFKC form; the list is keyed on it (the server's key is stricter). */
export function foldName(/** @type {string} */ name) {
  return name.normalize("NFKC").toLowerCase().normalize("NFKC");
}

/**
 * The page's `?lobby=NAME`, passed on to `/ws?lobby=NAME` (tests use a fresh lobby each); null for the default.
 * @param {string} search location.search
 */
export function lobbyFrom(search) {
  const lobby = new URLSearchParams(search).get("lobby");
  return lobby !== null && LOBBY_NAME.test(lobby) ? lobby : null;
}

/**
 * The WebSocket endpoint on this page's own origin.
 * @param {{ protocol: string, host: string, search: string }} location
 */
export function socketUrl(location) {
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  const lobby = lobbyFrom(location.search);
  return `${scheme}//${location.host}/ws${lobby ? `?lobby=${encodeURIComponent(lobby)}` : ""}`;
}
