// @ts-check
// Parley's wire: the facts both ends share (subprotocol, heartbeat, close codes, limits), the shape of every client
// action and server event, and the JSON dialect. Plain JavaScript with JSDoc types, so that the worker, the web
// page (as a static file), the terminal client, the load test and the bench all import this very file.

export const JSON_SUBPROTOCOL = "parley.v1.json";

/** The heartbeat frame and its answer: either dialect, any state (the runtime may answer it without the Lobby). */
export const PING = "ping";
export const PONG = "pong";

/** `list` names at most this many users, then gives the count of the rest. */
export const LIST_LIMIT = 100;

/** Close codes the server sends; 4xxx are Parley's own. */
export const CloseCode = Object.freeze({
  normal: 1000,
  /** The client's own close frame carried a code no endpoint may send (RFC 6455 7.4): answered with this. */
  protocolError: 1002,
  policy: 1008,
  /** A frame far over the size limit: the runtime already read it, so at least the socket does not send another. */
  tooBig: 1009,
  socketError: 1011,
  /** Pinged once, then silent for HEARTBEAT_TIMEOUT_MS. */
  heartbeatTimeout: 4000,
  /** Silent for IDLE_TIMEOUT_MS, heartbeats included. */
  idle: 4001,
  /** Sent more than MAX_UNREAD_BYTES that the client never showed it read (it did not answer a `check`). */
  notReading: 4002,
  /** The session was resumed on another socket (a reload whose old socket had not closed yet): this one is done. */
  resumedElsewhere: 4003,
});

/**
 * Whether a close code received from a client is one a client may send: 1000-1003, 1007-1014 and the
 * application range 3000-4999. 1004, 1005, 1006 and 1015 are never sent on the wire; 1016-2999 are unassigned.
 * @param {number} code
 */
export function validCloseCode(code) {
  return (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) || (code >= 3000 && code <= 4999);
}

/** @typedef {"text" | "json"} Dialect */
/**
 * `pending`: a request sent or received; `unavailable`: not taking requests (the user said `away`); `away`: lost
 * its connection and may come back within the resume window.
 * @typedef {"available" | "busy" | "pending" | "unavailable" | "away"} Status
 */

/**
 * @typedef {"binary_frame" | "too_big" | "rate_limited" | "bad_json" | "bad_action" | "unknown_command"
 *   | "not_logged_in" | "already_logged_in" | "bad_answer" | "no_request" | "not_in_chat" | "nothing_to_exit"
 *   | "nothing_to_cancel" | "empty_message" | "chat_ended" | "too_many_logins" | "bad_check" | "too_many_blocks"
 *   | "not_blocked" | "not_delivered"} ErrorCode
 */

/**
 * What a client asks for, whichever dialect it speaks. `invalid` is input that could not be understood; the rules
 * answer it with an error. `checked` answers a `check` (see src/unread.ts). `typing` tells the partner (JSON
 * clients only hear it); `away`/`back` stop and resume taking requests; `block`/`unblock`/`blocked` keep a person
 * from asking you, silently (they are told no, as if you declined).
 * `resume` is a new socket's first action instead of `login`: the token from `welcome` (or the last `resumed`) and
 * the last `seq` it saw from its partner. `say` may carry the client's own `seq` for each line of a chat (1, 2, …),
 * and `seen` tells the partner the last `seq` received (see PROTOCOL.md, "Resuming").
 * @typedef {{ type: "login", name: string }
 *   | { type: "resume", token: string, seen?: number }
 *   | { type: "connect", to?: string }
 *   | { type: "answer", accept: boolean }
 *   | { type: "say", text: string, seq?: number }
 *   | { type: "seen", seq: number }
 *   | { type: "exit" }
 *   | { type: "cancel" }
 *   | { type: "list" }
 *   | { type: "help" }
 *   | { type: "quit" }
 *   | { type: "checked", token: string }
 *   | { type: "typing" }
 *   | { type: "away" }
 *   | { type: "back" }
 *   | { type: "block", name: string }
 *   | { type: "unblock", name: string }
 *   | { type: "blocked" }
 *   | { type: "invalid", code: ErrorCode, message: string }} Action
 */

/** @typedef {Exclude<Action, { type: "invalid" }>} ClientAction what a client may send */

/**
 * Why a `connect` was refused. `in_chat`: the requester is chatting with `partner`. `pending`: its own request to
 * `to` is still open. `answer_first`: `from` asked it and awaits its y/n. `busy`: the target is chatting or has a
 * request open. `unavailable`: the target is not taking requests. `cooldown`: the target said no (or the request
 * expired or was withdrawn) lately; ask again in `waitMs`. `too_many_requests`: the requester asked too many people
 * lately. `you_blocked`: the requester blocked the target.
 * @typedef {{ reason: "self" }
 *   | { reason: "in_chat", partner: string }
 *   | { reason: "pending", to: string }
 *   | { reason: "answer_first", from: string }
 *   | { reason: "offline", to: string }
 *   | { reason: "busy", to: string }
 *   | { reason: "unavailable", to: string }
 *   | { reason: "cooldown", to: string, waitMs: number }
 *   | { reason: "too_many_requests", waitMs: number }
 *   | { reason: "you_blocked", to: string }
 *   | { reason: "away", to: string }} RequestFailure
 */

/** @typedef {{ name: string, status: Status }} UserEntry */
/** A session's resume credential: a secret, replaced at every resume, worthless `graceMs` after a drop. @typedef {{ token: string, graceMs: number }} Resume */
/** A request still open when a session resumed. @typedef {{ role: "sent" | "received", name: string, expiresInMs: number }} PendingView */
/** @typedef {{ name: string, status: Status | "offline" }} PresenceChange */

/**
 * The server's limits, sent with `welcome` so that no client hard-codes them (an operator may change them).
 * @typedef {object} Limits
 * @property {number} maxMessageBytes the largest frame the server accepts, in UTF-8 bytes; a JSON frame counts whole
 * @property {number} ratePerSecond messages per second a socket may send on average
 * @property {number} rateBurst messages a socket may send at once before it is slowed down
 * @property {number} heartbeatTimeoutMs a socket that has pinged once and then stays silent this long is closed
 * @property {number} idleTimeoutMs a socket that sends nothing at all, pings included, for this long is closed
 * @property {number} maxUnreadBytes output a client may leave unread: answer every `check` to keep receiving
 */

/**
 * What the server tells a client. `presence` goes to the JSON dialect only; `check` asks for proof of reading.
 * @typedef {{ type: "ask_name" }
 *   | { type: "name_rejected", name: string, reason: "taken" | "confusable" | "invalid", detail: string }
 *   | { type: "welcome", name: string, limits: Limits, resume?: Resume }
 *   | { type: "resumed", name: string, resume: Resume, partner: string | null, request: PendingView | null, missed: ServerEvent[] }
 *   | { type: "resume_failed" }
 *   | { type: "ask_target" }
 *   | ({ type: "request_failed" } & RequestFailure)
 *   | { type: "request_sent", to: string, expiresInMs: number }
 *   | { type: "incoming_request", from: string, expiresInMs: number }
 *   | { type: "request_declined", by: string }
 *   | { type: "you_declined", from: string }
 *   | { type: "request_ended", name: string, role: "sent" | "received", reason: "withdrawn" | "offline" | "expired" }
 *   | { type: "cancelled", to: string | null }
 *   | { type: "connected", with: string }
 *   | { type: "message", from: string, text: string, seq?: number }
 *   | { type: "seen", seq: number }
 *   | { type: "partner_away", name: string, graceMs: number }
 *   | { type: "partner_back", name: string, seen: number | null }
 *   | { type: "partner_left", name: string, reason: "exit" | "disconnected" }
 *   | { type: "you_left", with: string }
 *   | { type: "users", you: string, users: UserEntry[], total: number }
 *   | { type: "presence", changes: PresenceChange[] }
 *   | { type: "help" }
 *   | { type: "check", token: string, unread: number }
 *   | { type: "typing", from: string }
 *   | { type: "availability", taking: boolean }
 *   | { type: "blocked", names: string[], changed?: { name: string, blocked: boolean } }
 *   | { type: "bye" }
 *   | { type: "error", code: ErrorCode, message: string }} ServerEvent
 */

// ---------------------------------------------------------------------------------------------
// The JSON dialect

/**
 * One frame of the JSON dialect, from a client: an object with a `type` and that action's fields. Anything else
 * is an `invalid` action with a message that says what was wrong.
 * @param {string} frame
 * @returns {Action}
 */
export function parseAction(frame) {
  /** @type {unknown} */
  let value;
  try {
    value = JSON.parse(frame);
  } catch {
    return { type: "invalid", code: "bad_json", message: "That frame is not valid JSON" };
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    return { type: "invalid", code: "bad_action", message: 'Send a JSON object with a "type", e.g. {"type":"help"}' };
  }
  const v = /** @type {Record<string, unknown>} */ (value);
  /** @param {string} message @returns {Action} */
  const bad = (message) => ({ type: "invalid", code: "bad_action", message });
  switch (v.type) {
    case "login":
      return typeof v.name === "string" ? { type: "login", name: v.name } : bad('"login" needs a string "name"');
    case "connect":
      if (v.to === undefined) return { type: "connect" };
      return typeof v.to === "string" ? { type: "connect", to: v.to } : bad('"connect" needs a string "to"');
    case "answer":
      return typeof v.accept === "boolean" ? { type: "answer", accept: v.accept } : bad('"answer" needs a boolean "accept"');
    case "say":
      if (typeof v.text !== "string") return bad('"say" needs a string "text"');
      if (v.seq === undefined) return { type: "say", text: v.text };
      return isSeq(v.seq) ? { type: "say", text: v.text, seq: /** @type {number} */ (v.seq) } : bad('"seq" is a whole number from 1');
    case "seen":
      return isSeq(v.seq) || v.seq === 0 ? { type: "seen", seq: /** @type {number} */ (v.seq) } : bad('"seen" needs a whole number "seq"');
    case "resume":
      if (typeof v.token !== "string") return bad('"resume" needs the string "token" from welcome');
      if (v.seen === undefined) return { type: "resume", token: v.token };
      return isSeq(v.seen) || v.seen === 0 ? { type: "resume", token: v.token, seen: /** @type {number} */ (v.seen) } : bad('"seen" is a whole number');
    case "checked":
      return typeof v.token === "string" ? { type: "checked", token: v.token } : bad('"checked" needs the string "token" of the check');
    case "block":
    case "unblock":
      return typeof v.name === "string" ? { type: v.type, name: v.name } : bad(`"${v.type}" needs a string "name"`);
    case "typing":
    case "away":
    case "back":
    case "blocked":
    case "exit":
    case "cancel":
    case "list":
    case "help":
    case "quit":
      return { type: v.type };
    default:
      return bad(typeof v.type === "string" ? `Unknown action type "${printable(v.type, 32)}"` : 'A JSON action needs a string "type"');
  }
}

/** @param {unknown} n */
const isSeq = (n) => typeof n === "number" && Number.isSafeInteger(n) && n >= 1;

/**
 * One frame from the server, as a client reads it in the JSON dialect: the event, or null for anything else
 * (a `pong`, or a frame this client cannot read).
 * @param {unknown} frame
 * @returns {ServerEvent | null}
 */
export function parseEvent(frame) {
  if (typeof frame !== "string" || frame === PONG) return null;
  try {
    const value = JSON.parse(frame);
    return typeof value === "object" && value !== null && typeof value.type === "string" ? value : null;
  } catch {
    return null;
  }
}

/**
 * A chat message as its JSON frame, exactly as JSON.stringify would make the event. Every relayed JSON line is
 * built here, so it builds no event object.
 * @param {string} from
 * @param {string} text
 * @param {number} [seq] the sender's number for the line, when its client numbers them
 */
export function messageJson(from, text, seq) {
  const numbered = seq === undefined ? "" : `,"seq":${seq}`;
  return `{"type":"message","from":${JSON.stringify(from)},"text":${JSON.stringify(text)}${numbered}}`;
}

/**
 * UTF-8 length without allocating, for the size limit on every frame.
 * @param {string} s
 */
export function utf8Length(s) {
  let bytes = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) bytes += 1;
    else if (c < 0x800) bytes += 2;
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length) {
      const next = s.charCodeAt(i + 1);
      if (next >= 0xdc00 && next <= 0xdfff) {
        bytes += 4;
        i++;
      } else bytes += 3;
    } else bytes += 3;
  }
  return bytes;
}

/**
 * Input echoed back (a rejected name, an unknown command) made safe: no control or lone-surrogate characters,
 * and cut at a whole character, never inside a surrogate pair, which would make the frame invalid UTF-8.
 * @param {string} s
 * @param {number} max characters (code points) to keep
 */
export function printable(s, max) {
  const chars = [...s.replace(/\p{C}/gu, "?")];
  return chars.length > max ? `${chars.slice(0, max).join("")}...` : chars.join("");
}
