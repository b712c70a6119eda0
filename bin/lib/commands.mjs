// @ts-check
// A typed line to an action, by the server's own text-dialect rules (public/wire/text.js), and tab completion.

import { parseText } from "../../public/wire/text.js";

/** @typedef {import("../../public/wire/protocol.js").Action} Action */
/** @typedef {import("../../public/wire/text.js").InputMode} InputMode */

/** Every command word, for tab completion. */
export const COMMAND_WORDS = ["connect", "list", "who", "exit", "cancel", "help", "quit", "yes", "no"];

/**
 * What `line` means in `mode`, read by the server's own rules; null for a blank line, which the client skips (the
 * server would only answer it with an error).
 * @param {string} line
 * @param {InputMode} mode
 * @returns {Action | null}
 */
export function parseLine(line, mode) {
  return line.trim() === "" ? null : parseText(line, mode);
}

/**
 * Tab completion: command words at the start of a line, online names after `connect`.
 * @param {string} line what is typed so far
 * @param {InputMode} mode
 * @param {Iterable<string>} names who is online, as far as the client knows
 * @returns {[string[], string]} readline's completer result: candidates and the fragment they complete
 */
export function complete(line, mode, names) {
  const target = /^(\/?(?:connect|c)\s+)(\S*)$/i.exec(line);
  if (mode === "target" || (target && mode !== "chat")) {
    const fragment = mode === "target" ? line.trim() : (target?.[2] ?? "");
    const hits = [...names].filter((n) => n.toLowerCase().startsWith(fragment.toLowerCase()));
    return [hits, fragment];
  }
  if (mode === "chat" && !line.startsWith("/")) return [[], line];
  if (mode === "name" || /\s/.test(line.trimStart())) return [[], line];
  const slash = line.trimStart().startsWith("/") ? "/" : "";
  const fragment = line.trimStart().slice(slash.length).toLowerCase();
  return [COMMAND_WORDS.filter((w) => w.startsWith(fragment)).map((w) => slash + w + " "), line.trimStart()];
}
