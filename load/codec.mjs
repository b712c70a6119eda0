// @ts-check
// Both of Parley's dialects from a load client's side: encode the few actions it sends, and read every frame it
// receives into one event shape, so the driver and the checker never care which dialect a client speaks.

import { JSON_SUBPROTOCOL, PONG } from "../public/wire/protocol.js";
import { readLine } from "../public/wire/text.js";

export { JSON_SUBPROTOCOL };

/** @typedef {import("../public/wire/protocol.js").ServerEvent} ServerEvent */

/** @typedef {"text" | "json"} Dialect */

/**
 * What a load client makes of one frame. `rejection` errors are the ones a chat line gets when it reaches the
 * server after the chat ended: `not_in_chat` (JSON), `chat_ended` (text, within 3 s of the partner leaving),
 * `unknown_command` (text, later: the line is read as a command, and
 * the error echoes its first word, which is the message's tag) or `bad_answer` (text, when a new request is
 * already waiting for this side's y/n).
 * @typedef {{ type: "ask_name" }
 *   | { type: "welcome", name: string }
 *   | { type: "name_rejected", reason: string }
 *   | { type: "request_sent", to: string }
 *   | { type: "incoming_request", from: string }
 *   | { type: "connected", with: string }
 *   | { type: "message", from: string, text: string }
 *   | { type: "partner_left", name: string, reason: "exit" | "disconnected" }
 *   | { type: "you_left", with: string }
 *   | { type: "error", code: string, message: string, echo?: string }
 *   | { type: "bye" }
 *   | { type: "presence", changes: number }
 *   | { type: "info" }
 *   | { type: "pong" }
 *   | { type: "other", raw: string }} Ev
 */

/** @typedef {{ type: "login", name: string } | { type: "connect", to: string } | { type: "answer", accept: boolean } | { type: "say", text: string } | { type: "exit" } | { type: "quit" }} Act */

/**
 * @param {Act} action
 * @param {Dialect} dialect
 * @returns {string}
 */
export function encode(action, dialect) {
  if (dialect === "json") return JSON.stringify(action);
  switch (action.type) {
    case "login":
      return action.name;
    // Commands with a slash work in every state, as a program should send them: a bare line right after a partner
    // left is refused (chat_ended), and inside a chat only `exit` is a bare command.
    case "connect":
      return `/connect ${action.to}`;
    case "answer":
      return action.accept ? "/y" : "/n";
    case "say":
      return action.text;
    case "exit":
    case "quit":
      return `/${action.type}`;
  }
}

/**
 * @param {string} frame
 * @param {Dialect} dialect
 * @returns {Ev}
 */
export function decode(frame, dialect) {
  if (frame === PONG) return { type: "pong" };
  return dialect === "json" ? decodeJson(frame) : decodeText(frame);
}

/**
 * The errors the load reads by their sentence (the text dialect carries no code), with the code the JSON dialect
 * gives them.
 * @type {Partial<Record<import("../public/wire/text.js").Sentence, string>>}
 */
const ERROR_SENTENCES = {
  unknown_command: "unknown_command",
  takes_nothing: "unknown_command",
  answer_y_n: "bad_answer",
  answer_y_n_to: "bad_answer",
  not_in_chat: "not_in_chat",
  chat_ended: "chat_ended",
  rate_limited: "rate_limited",
};

/**
 * One line of the text dialect, read with the server's own sentences (readLine in public/wire/text.js).
 * @param {string} line
 * @returns {Ev}
 */
export function decodeText(line) {
  const read = readLine(line);
  if (!read) return { type: "other", raw: line.slice(0, 200) };
  const f = read.fields;
  const code = ERROR_SENTENCES[read.sentence];
  if (code) return { type: "error", code, message: line, ...(f.word !== undefined ? { echo: f.word } : {}) };
  switch (read.sentence) {
    case "ask_name":
      return { type: "ask_name" };
    case "bye":
      return { type: "bye" };
    case "welcome":
      return { type: "welcome", name: /** @type {string} */ (f.name) };
    case "name_taken":
    case "name_confusable":
      return { type: "name_rejected", reason: "taken" };
    case "name_invalid":
      return { type: "name_rejected", reason: "invalid" };
    case "request_sent":
      return { type: "request_sent", to: /** @type {string} */ (f.to) };
    case "incoming_request":
      return { type: "incoming_request", from: /** @type {string} */ (f.from) };
    case "connected":
      return { type: "connected", with: /** @type {string} */ (f.with) };
    case "message":
      return { type: "message", from: /** @type {string} */ (f.from), text: /** @type {string} */ (f.text) };
    case "partner_exited":
    case "partner_dropped":
      return { type: "partner_left", name: /** @type {string} */ (f.name), reason: read.sentence === "partner_exited" ? "exit" : "disconnected" };
    case "you_left":
      return { type: "you_left", with: /** @type {string} */ (f.with) };
    case "commands":
      return { type: "info" };
    default:
      return { type: "other", raw: line.slice(0, 200) };
  }
}

/**
 * @param {string} frame
 * @returns {Ev}
 */
export function decodeJson(frame) {
  /** @type {ServerEvent} */
  let e;
  try {
    e = JSON.parse(frame);
  } catch {
    return { type: "other", raw: frame.slice(0, 200) };
  }
  switch (e?.type) {
    case "ask_name":
    case "bye":
      return { type: e.type };
    case "help":
      return { type: "info" };
    case "welcome":
      return { type: "welcome", name: e.name };
    case "name_rejected":
      return { type: "name_rejected", reason: e.reason };
    case "request_sent":
      return { type: "request_sent", to: e.to };
    case "incoming_request":
      return { type: "incoming_request", from: e.from };
    case "connected":
      return { type: "connected", with: e.with };
    case "message":
      return { type: "message", from: e.from, text: e.text };
    case "partner_left":
      return { type: "partner_left", name: e.name, reason: e.reason };
    case "you_left":
      return { type: "you_left", with: e.with };
    case "error":
      return { type: "error", code: e.code, message: e.message };
    case "presence":
      return { type: "presence", changes: e.changes.length };
    default:
      return { type: "other", raw: frame.slice(0, 200) };
  }
}

/** The errors a chat line gets when it reaches the server after its chat ended (see Ev). */
export const REJECTION_CODES = new Set(["not_in_chat", "unknown_command", "bad_answer", "chat_ended"]);

/**
 * Chat lines are tagged `m<session>.<seq>`: the session id catches a line delivered into the wrong chat, the
 * sequence number loss, duplicates and reordering. No tag starts with a command word, so a line that arrives
 * after its chat ended is refused as an unknown command in the text dialect and never acted on.
 * @param {number} session
 * @param {number} seq
 */
export const tag = (session, seq) => `m${session}.${seq}`;

/**
 * @param {string} text
 * @returns {{ session: number, seq: number } | null}
 */
export function untag(text) {
  const m = /^m(\d+)\.(\d+)$/.exec(text);
  return m ? { session: Number(m[1]), seq: Number(m[2]) } : null;
}
