// @ts-check
// Server events as terminal lines, in the wording of the text dialect (renderText in public/wire/text.js). Pure:
// the lines carry a style, and the terminal decides whether that becomes colour.

import { cleanForTerminal, renderText } from "../../public/wire/text.js";

/** @typedef {import("../../public/wire/protocol.js").ServerEvent} ServerEvent */
/** @typedef {import("./session.mjs").Session} Session */
import { partnerTyping } from "./session.mjs";

/**
 * notice: what happened; question: the server waits for an answer (y/n); ask: a question the interactive prompt
 * repeats, so it is printed only when there is no prompt; error: something was refused; partner / self: a chat
 * line, with `name` as its speaker; plain: lists and help.
 * @typedef {"notice" | "question" | "ask" | "error" | "partner" | "self" | "plain"} Style
 * @typedef {{ style: Style, text: string, name?: string }} Line
 */

/** @param {string} s */
export const safe = (s) => cleanForTerminal(s);

/**
 * Chat text, one terminal line per line of the message, each with the speaker's name, so that a line break
 * inside a message cannot forge a line from someone else.
 * @param {string} name
 * @param {string} text
 * @param {"partner" | "self"} style
 * @returns {Line[]}
 */
export function chatLines(name, text, style) {
  return text.split(/\r\n|[\r\n]/).map((line) => ({ style, name: safe(name), text: safe(line) }));
}

/**
 * How each event looks; what it says comes from the server's own text dialect (public/wire/text.js).
 * @param {ServerEvent} e
 * @returns {Style}
 */
function styleOf(e) {
  switch (e.type) {
    case "ask_name":
    case "ask_target":
      return "ask";
    case "incoming_request":
      return "question";
    case "name_rejected":
    case "request_failed":
    case "error":
      return "error";
    case "users":
    case "help":
      return "plain";
    default:
      return "notice";
  }
}

/**
 * @param {ServerEvent} e
 * @returns {Line[]}
 */
export function renderEvent(e) {
  if (e.type === "message") return chatLines(e.from, e.text, "partner");
  // presence renders as nothing (the client keeps it for tab completion; `list` shows it on request).
  // A newer server's event that this version has no words for: show what it says rather than nothing.
  const texts = /** @type {string[] | undefined} */ (renderText(e)) ?? [`(server: ${JSON.stringify(e)})`];
  const lines = texts.map((text) => ({ style: styleOf(e), text: safe(text) }));
  // The welcome's second line is the command summary: plain, not a notice.
  if (e.type === "welcome" && lines[1]) lines[1].style = "plain";
  return lines;
}

/**
 * The prompt in front of the input line, which says what a bare line will mean.
 * @param {import("../../public/wire/text.js").InputMode} mode
 * @param {Session} s
 */
export function promptFor(mode, s) {
  switch (mode) {
    case "name":
      return "Please enter a username: ";
    case "target":
      return "Who do you want to connect with? ";
    case "answer":
      return "y/n> ";
    case "chat":
      return `to ${safe(s.partner ?? "")}${partnerTyping(s, performance.now()) ? " (typing…)" : ""}> `;
    case "ended":
    case "command":
      return "> ";
  }
}

/** Why the server may close the socket (README, "Close codes the server sends"). */
const CLOSE_HINTS = /** @type {Record<number, string>} */ ({
  1000: "normal closure",
  1001: "the server is going away, as in a deploy; run parley again to reconnect",
  1002: "the close frame carried a code no client may send",
  1008: "policy violation: too many messages too fast",
  1009: "a message far over the size limit",
  1011: "the server hit an error",
  4000: "heartbeat timeout: the server heard nothing from this client for too long",
  4001: "idle: nothing was sent for too long",
  4002: "not reading: too much was sent without this client showing it read it",
});

/**
 * @param {number} code
 * @param {string} reason
 */
export function describeClose(code, reason) {
  if (code === 1006) return "Connection lost: 1006 (closed without a close frame: the network or the server went away)";
  const hint = CLOSE_HINTS[code];
  return `Connection closed by the server: ${code}${reason ? ` ${safe(reason)}` : ""}${hint ? ` (${hint})` : ""}`;
}
