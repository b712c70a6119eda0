// Parley's wire protocol: client actions, server events, and their two dialects (plain text and JSON).
// Both dialects are rendered from the same typed events here, so they can never disagree.

export const JSON_SUBPROTOCOL = "parley.v1.json";
export type Dialect = "text" | "json";

/** The heartbeat frame and its answer, handled by the runtime without waking the Lobby. */
export const PING = "ping";
export const PONG = "pong";

export const LIST_LIMIT = 100;

/** Close codes the server uses; 4xxx are Parley's own. */
export const CloseCode = {
  normal: 1000,
  /** The client's own close frame carried a code no endpoint may send (RFC 6455 7.4): answered with this. */
  protocolError: 1002,
  policy: 1008,
  /** A frame far over the size limit: the runtime already read it, so at least the socket does not send another. */
  tooBig: 1009,
  heartbeatTimeout: 4000,
  /** Silent for IDLE_TIMEOUT_MS, heartbeats included. */
  idle: 4001,
  /** Sent more than MAX_UNREAD_BYTES that the client never showed it read (see src/unread.ts). */
  notReading: 4002,
} as const;

/**
 * Whether a close code received from a client is one a client may send: 1000-1003, 1007-1014 and the
 * application range 3000-4999. 1004, 1005, 1006 and 1015 are never sent on the wire; 1016-2999 are unassigned.
 */
export function validCloseCode(code: number): boolean {
  return (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) || (code >= 3000 && code <= 4999);
}

export type Status = "available" | "busy" | "pending";

export type ErrorCode =
  | "binary_frame"
  | "too_big"
  | "rate_limited"
  | "bad_json"
  | "bad_action"
  | "unknown_command"
  | "not_logged_in"
  | "already_logged_in"
  | "bad_answer"
  | "no_request"
  | "not_in_chat"
  | "nothing_to_exit"
  | "nothing_to_cancel"
  | "empty_message"
  | "chat_ended"
  | "too_many_connections"
  | "too_many_logins"
  | "bad_check";

/** What a client asks for, whichever dialect it speaks. */
export type Action =
  | { type: "login"; name: string }
  | { type: "connect"; to?: string }
  | { type: "answer"; accept: boolean }
  | { type: "say"; text: string }
  | { type: "exit" }
  | { type: "cancel" }
  | { type: "list" }
  | { type: "help" }
  | { type: "quit" }
  /** The answer to a `check`: its token, showing the client read everything sent before it. */
  | { type: "checked"; token: string }
  /** Input that could not be understood; the rules answer it with an error frame. */
  | { type: "invalid"; code: ErrorCode; message: string };

export type RequestFailure =
  /** 7.1.1 */
  | { reason: "self" }
  /** 7.1.2: `partner` is who the requester is chatting with. */
  | { reason: "in_chat"; partner: string }
  /** The requester has a pending request of its own (`to`) to finish or cancel first. */
  | { reason: "pending"; to: string }
  /** The requester has been asked (y/n) by `from` and must answer first. */
  | { reason: "answer_first"; from: string }
  /** case 1 */
  | { reason: "offline"; to: string }
  /** case 2 / 7.1.3: chatting, or with a request pending in or out. */
  | { reason: "busy"; to: string };

export interface UserEntry {
  name: string;
  status: Status;
}

export interface PresenceChange {
  name: string;
  status: Status | "offline";
}

/** The server's limits, sent with `welcome` so that a client need not hard-code them (an operator may change them). */
export interface Limits {
  /** The largest frame the server accepts, in UTF-8 bytes; a JSON frame counts whole. */
  maxMessageBytes: number;
  /** Messages per second a socket may send on average, and how many at once before it is slowed down. */
  ratePerSecond: number;
  rateBurst: number;
  /** A socket that has pinged once and then stays silent this long is closed: ping well within it. */
  heartbeatTimeoutMs: number;
  /** A socket that sends nothing at all, pings included, for this long is closed. */
  idleTimeoutMs: number;
  /** Output a client may leave unread; answer every `check` to keep receiving. */
  maxUnreadBytes: number;
}

/** What the server tells a client. */
export type ServerEvent =
  | { type: "ask_name" }
  | { type: "name_rejected"; name: string; reason: "taken" | "confusable" | "invalid"; detail: string }
  | { type: "welcome"; name: string; limits: Limits }
  | { type: "ask_target" }
  | ({ type: "request_failed" } & RequestFailure)
  | { type: "request_sent"; to: string; expiresInMs: number }
  | { type: "incoming_request"; from: string; expiresInMs: number }
  | { type: "request_declined"; by: string }
  | { type: "you_declined"; from: string }
  | { type: "request_ended"; name: string; role: "sent" | "received"; reason: "withdrawn" | "offline" | "expired" }
  | { type: "cancelled"; to: string | null }
  | { type: "connected"; with: string }
  | { type: "message"; from: string; text: string }
  | { type: "partner_left"; name: string; reason: "exit" | "disconnected" }
  | { type: "you_left"; with: string }
  | { type: "users"; you: string; users: UserEntry[]; total: number }
  /** JSON dialect only: batched status changes since the last push ("offline" = logged out or gone). */
  | { type: "presence"; changes: PresenceChange[] }
  | { type: "help" }
  /** The server has sent `unread` characters the client has not shown it read: echo the token to go on. */
  | { type: "check"; token: string; unread: number }
  | { type: "bye" }
  | { type: "error"; code: ErrorCode; message: string };

export { NAME_MAX_CHARS, checkName, foldName, nameKey } from "./names.ts";
export type { NameCheck } from "./names.ts";
import { printable } from "./printable.js";

// ---------------------------------------------------------------------------------------------
// Parsing client input

/** What a bare text line means at this moment; the rules decide it from the sender's state. */
export type InputMode = "name" | "target" | "answer" | "chat" | "ended" | "command";

// The plain-dialect parser is plain JavaScript (typed through JSDoc) so the Node terminal client can import the
// very same rules at run time.
export { CHAT_END_GRACE_MS, chatLine, parseText } from "./text-commands.js";

/** One frame of the JSON dialect: an object with a `type` and that action's fields. */
export function parseJson(frame: string): Action {
  let value: unknown;
  try {
    value = JSON.parse(frame);
  } catch {
    return { type: "invalid", code: "bad_json", message: "That frame is not valid JSON" };
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    return { type: "invalid", code: "bad_action", message: 'Send a JSON object with a "type", e.g. {"type":"help"}' };
  }
  const v = value as Record<string, unknown>;
  const bad = (message: string): Action => ({ type: "invalid", code: "bad_action", message });
  switch (v.type) {
    case "login":
      return typeof v.name === "string" ? { type: "login", name: v.name } : bad('"login" needs a string "name"');
    case "connect":
      if (v.to === undefined) return { type: "connect" };
      return typeof v.to === "string" ? { type: "connect", to: v.to } : bad('"connect" needs a string "to"');
    case "answer":
      return typeof v.accept === "boolean" ? { type: "answer", accept: v.accept } : bad('"answer" needs a boolean "accept"');
    case "say":
      return typeof v.text === "string" ? { type: "say", text: v.text } : bad('"say" needs a string "text"');
    case "checked":
      return typeof v.token === "string" ? { type: "checked", token: v.token } : bad('"checked" needs the string "token" of the check');
    case "exit":
    case "cancel":
    case "list":
    case "help":
    case "quit":
      return { type: v.type };
    default:
      return bad(
        typeof v.type === "string"
          ? `Unknown action type "${printable(v.type, 32)}"`
          : 'A JSON action needs a string "type"',
      );
  }
}

// ---------------------------------------------------------------------------------------------
// Rendering server events

// The plain dialect's rendering is plain JavaScript (typed through JSDoc) so the Node terminal client shows
// events in the very same words.
export { COMMAND_SUMMARY, HELP_LINES, cleanForTerminal, messageLine, renderText } from "./text-render.js";
import { messageLine, renderText } from "./text-render.js";

/**
 * An event as the one frame it is sent in. In the text dialect an event of several lines (a message with line
 * breaks, the `list` reply, help) is still one frame, its lines joined by "\n": a frame per line let one 4 KiB
 * message of line breaks become 4,095 frames in a reader's queue. Empty for an event the dialect does not get.
 */
export function render(event: ServerEvent, dialect: Dialect): string {
  return dialect === "json" ? JSON.stringify(event) : renderText(event).join("\n");
}

/**
 * A chat message as its one frame in `dialect`, exactly as `render` would make it; null where the text dialect
 * must split or clean it (render does that). This is every relayed line, so it builds no event object.
 */
export function messageFrame(from: string, text: string, dialect: Dialect): string | null {
  if (dialect === "text") return messageLine(from, text);
  return `{"type":"message","from":${JSON.stringify(from)},"text":${JSON.stringify(text)}}`;
}

/** UTF-8 length without allocating, for the size limit on every frame. */
export function utf8Length(s: string): number {
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
