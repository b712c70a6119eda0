// Usernames and lobby names on the page: the server's own rules (wire/names.js), said before anything is sent.

import { LOBBY_NAME, checkName as serverCheck, foldName, nameKey } from "./wire/names.js";
import { say } from "./wire/text.js";

export { foldName, nameKey };

/** @typedef {{ ok: true, name: string } | { ok: false, detail: string }} NameCheck */

/**
 * A name as the server will judge it (length, characters, combining marks, mixed scripts), in the server's words.
 * Only whether it is taken is left to the server.
 * @param {string} raw what the person typed
 * @returns {NameCheck}
 */
export function checkName(raw) {
  if (raw.trim() === "") return { ok: false, detail: "Enter a username" };
  const check = serverCheck(raw);
  return check.ok ? { ok: true, name: check.name } : { ok: false, detail: say("name_invalid", { detail: check.detail }) };
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
