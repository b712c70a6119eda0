// @ts-check
// The plain text dialect's wording of every server event. Plain JavaScript so that the worker and the Node
// terminal client share it; the types come from protocol.ts.

/** @typedef {import("./protocol.ts").ServerEvent} ServerEvent */

export const COMMAND_SUMMARY = "Commands: connect <name>, list, exit, cancel, help, quit";

export const HELP_LINES = [
  "connect <name>  ask someone to chat (or just connect, then the name)",
  "y / n           answer a request",
  "list (or who)   who is online, and who is free",
  "exit            leave the chat you are in",
  "cancel          withdraw the request you sent",
  "help            this list",
  "quit            disconnect",
  "In a chat every line you type goes to your partner; /list, /help, /quit still work there.",
];

/**
 * C0 controls but tab, DEL, C1 controls (which include the 8-bit escape introducers), and the bidi embeddings,
 * overrides and isolates that would let a sender reverse how the rest of the line reads.
 */
const UNSAFE_IN_TERMINAL = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/g;
/** A line break or anything UNSAFE_IN_TERMINAL matches (no `g`: `test` must not keep state between calls). */
const NEEDS_CLEANING = /[\u0000-\u0008\u000a-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/;

/**
 * Text shown in a terminal: control characters, escapes and bidi overrides become U+FFFD.
 * @param {string} s
 */
export const cleanForTerminal = (s) => s.replace(UNSAFE_IN_TERMINAL, "\uFFFD");

/**
 * A chat message as its one frame, "alice: text"; null when the text holds a line break or a control character
 * and renderText must split or clean it. Most lines need neither: this is every relayed line.
 * @param {string} from
 * @param {string} text
 * @returns {string | null}
 */
export function messageLine(from, text) {
  return NEEDS_CLEANING.test(text) ? null : `${from}: ${text}`;
}

/** @param {number} ms */
const seconds = (ms) => Math.max(1, Math.round(ms / 1000));

/**
 * The plain dialect: one line per WebSocket frame, as wscat shows it.
 * @param {ServerEvent} e
 * @returns {string[]}
 */
export function renderText(e) {
  switch (e.type) {
    case "ask_name":
      return ["Please enter a username:"];
    case "name_rejected":
      if (e.reason === "taken") return [`Username ${e.name} is taken`];
      if (e.reason === "confusable") return [`Username ${e.name} is taken: ${e.detail}`];
      return [`That username is not allowed: ${e.detail}`];
    case "welcome":
      return [`Welcome, ${e.name}!`, COMMAND_SUMMARY];
    case "ask_target":
      return ["Who do you want to connect with?"];
    case "request_failed":
      switch (e.reason) {
        case "self":
          return ["You can't connect with yourself"];
        case "in_chat":
          return [`You are already connected with ${e.partner}; exit that connection first`];
        case "pending":
          return [`You are already waiting for ${e.to} to answer; type cancel to withdraw that request first`];
        case "answer_first":
          return [`${e.from} is trying to connect with you; answer that first (y/n)`];
        case "offline":
          return [`${e.to} is not online`];
        case "busy":
          return [`${e.to} is busy in a conversation`];
      }
    // falls through only if a new reason is added without text; TypeScript flags that
    case "request_sent":
      return [`Waiting for ${e.to} to answer (the request expires in ${seconds(e.expiresInMs)} s; type cancel to withdraw it)`];
    case "incoming_request":
      return [`${e.from} is trying to connect with you (y/n)`];
    case "request_declined":
      return [`${e.by} declined connection request`];
    case "you_declined":
      return [`You declined the request from ${e.from}`];
    case "request_ended":
      if (e.reason === "withdrawn") return [`${e.name} withdrew the request`];
      if (e.reason === "offline") return [`${e.name} went offline`];
      return e.role === "sent"
        ? [`Your request to ${e.name} expired without an answer`]
        : [`The request from ${e.name} expired`];
    case "cancelled":
      return [e.to ? `You withdrew your request to ${e.to}` : "Cancelled"];
    case "connected":
      return [`You are now connected with ${e.with}`];
    case "message": {
      // A line break, carriage return or terminal escape inside a message must not let the sender forge a
      // server line: each line gets the sender's name and other control characters are shown as U+FFFD.
      const line = messageLine(e.from, e.text);
      if (line !== null) return [line];
      return e.text.split(/\r\n|[\r\n]/).map((part) => `${e.from}: ${cleanForTerminal(part)}`);
    }
    case "partner_left":
      return [e.reason === "exit" ? `${e.name} has left the chat` : `${e.name} has left the chat (disconnected)`];
    case "you_left":
      return [`You left the chat with ${e.with}`];
    case "users": {
      const lines = [`${e.total} online:`];
      for (const u of e.users) lines.push(`  ${u.name}${u.name === e.you ? " (you)" : ""} - ${u.status}`);
      if (e.total > e.users.length) lines.push(`  ...and ${e.total - e.users.length} more`);
      return lines;
    }
    case "help":
      return HELP_LINES;
    case "presence":
      return []; // text users ask with `list` instead
    case "check":
      return [
        `You have been sent ${Math.round(e.unread / 1024)} KiB without showing that you read it; type /ok ${e.token} to keep receiving (the connection closes if much more goes unread)`,
      ];
    case "bye":
      return ["Goodbye"];
    case "error":
      return [e.message];
  }
}

