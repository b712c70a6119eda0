// @ts-check
// Both of Parley's dialects from a load client's side: encode the few actions it sends, and read every frame it
// receives into one event shape, so the driver and the checker never care which dialect a client speaks.

/** @typedef {import("../src/protocol.ts").ServerEvent} ServerEvent */

// Named in src/protocol.ts (JSON_SUBPROTOCOL); plain node cannot import .ts, so it is repeated here.
export const JSON_SUBPROTOCOL = "parley.v1.json";

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
  if (frame === "pong") return { type: "pong" };
  return dialect === "json" ? decodeJson(frame) : decodeText(frame);
}

const NAME = "[\\p{L}\\p{N}_.-]+";
const MESSAGE = new RegExp(`^(${NAME}): (.*)$`, "su");

/** @type {[RegExp, (m: RegExpMatchArray) => Ev][]} */
const TEXT_LINES = [
  [/^Please enter a username:$/, () => ({ type: "ask_name" })],
  [new RegExp(`^Welcome, (${NAME})!$`, "u"), (m) => ({ type: "welcome", name: m[1] })],
  [/^Username .* is taken$/su, () => ({ type: "name_rejected", reason: "taken" })],
  [/^That username is not allowed: /, () => ({ type: "name_rejected", reason: "invalid" })],
  [new RegExp(`^Waiting for (${NAME}) to answer `, "u"), (m) => ({ type: "request_sent", to: m[1] })],
  [new RegExp(`^(${NAME}) is trying to connect with you \\(y/n\\)$`, "u"), (m) => ({ type: "incoming_request", from: m[1] })],
  [new RegExp(`^You are now connected with (${NAME})$`, "u"), (m) => ({ type: "connected", with: m[1] })],
  [new RegExp(`^(${NAME}) has left the chat \\(disconnected\\)$`, "u"), (m) => ({ type: "partner_left", name: m[1], reason: "disconnected" })],
  [new RegExp(`^(${NAME}) has left the chat$`, "u"), (m) => ({ type: "partner_left", name: m[1], reason: "exit" })],
  [new RegExp(`^You left the chat with (${NAME})$`, "u"), (m) => ({ type: "you_left", with: m[1] })],
  [/^Goodbye$/, () => ({ type: "bye" })],
  [/^Unknown command "(.*)"\. Type help/su, (m) => ({ type: "error", code: "unknown_command", message: m[0], echo: m[1] })],
  [/^Please answer y\/n/, (m) => ({ type: "error", code: "bad_answer", message: m[0] })],
  [/^You are not in a chat; type connect/, (m) => ({ type: "error", code: "not_in_chat", message: m[0] })],
  [/^Your chat has just ended, so that line was not sent/, (m) => ({ type: "error", code: "chat_ended", message: m[0] })],
  [/^slow down/, (m) => ({ type: "error", code: "rate_limited", message: m[0] })],
];

/**
 * The text dialect is one line per frame, worded for people; the load's names never contain a space or a colon,
 * so a chat line (`alice: text`) cannot be mistaken for a server line, except the command summary after Welcome.
 * @param {string} line
 * @returns {Ev}
 */
export function decodeText(line) {
  if (line.startsWith("Commands: ")) return { type: "info" };
  const m = MESSAGE.exec(line);
  if (m) return { type: "message", from: m[1], text: m[2] };
  for (const [re, make] of TEXT_LINES) {
    const hit = re.exec(line);
    if (hit) return make(hit);
  }
  return { type: "other", raw: line.slice(0, 200) };
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
