// @ts-check
// Server events as terminal lines, in the wording of the text dialect (renderText in src/protocol.ts). Pure: the
// lines carry a style, and the terminal decides whether that becomes colour.

/** @typedef {import("../../src/protocol.ts").ServerEvent} ServerEvent */
/** @typedef {import("./session.mjs").Session} Session */

/**
 * notice: what happened; question: the server waits for an answer (y/n); ask: a question the interactive prompt
 * repeats, so it is printed only when there is no prompt; error: something was refused; partner / self: a chat
 * line, with `name` as its speaker; plain: lists and help.
 * @typedef {"notice" | "question" | "ask" | "error" | "partner" | "self" | "plain"} Style
 * @typedef {{ style: Style, text: string, name?: string }} Line
 */

export const COMMAND_SUMMARY = "Commands: connect <name>, list, exit, cancel, help, quit";

export const HELP_LINES = [
  "connect <name>  ask someone to chat (or just connect, then the name)",
  "y / n           answer a request",
  "list (or who)   who is online, and who is free",
  "exit            leave the chat you are in",
  "cancel          withdraw the request you sent",
  "help            this list",
  "quit            disconnect (so do Ctrl-C and Ctrl-D)",
  "In a chat every line you type goes to your partner; /list, /help, /quit still work there.",
];

/**
 * C0 controls but tab, DEL, C1 controls (which include the 8-bit escape introducers) and the bidirectional
 * overrides: nothing a partner sends may move the cursor, recolour the screen or reverse a line.
 */
const UNSAFE_IN_TERMINAL = /[\u0000-\u0008\u000a-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/g;

/** @param {string} s */
export const safe = (s) => s.replace(UNSAFE_IN_TERMINAL, "\uFFFD");

/** @param {number} ms */
const seconds = (ms) => Math.max(1, Math.round(ms / 1000));

/** @type {(text: string) => Line} */
const notice = (text) => ({ style: "notice", text });
/** @type {(text: string) => Line} */
const error = (text) => ({ style: "error", text });
/** @type {(text: string) => Line} */
const plain = (text) => ({ style: "plain", text });

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
 * @param {ServerEvent} e
 * @returns {Line[]}
 */
export function renderEvent(e) {
  const lines = linesOf(e);
  return lines.map((l) => (l.style === "partner" || l.style === "self" ? l : { ...l, text: safe(l.text) }));
}

/**
 * @param {ServerEvent} e
 * @returns {Line[]}
 */
function linesOf(e) {
  switch (e.type) {
    case "ask_name":
      return [{ style: "ask", text: "Please enter a username:" }];
    case "name_rejected":
      return e.reason === "taken"
        ? [error(`Username ${e.name} is taken: ${e.detail}`)]
        : [error(`That username is not allowed: ${e.detail}`)];
    case "welcome":
      return [notice(`Welcome, ${e.name}!`), plain(COMMAND_SUMMARY)];
    case "ask_target":
      return [{ style: "ask", text: "Who do you want to connect with?" }];
    case "request_failed":
      return [error(requestFailure(e))];
    case "request_sent":
      return [
        notice(`Waiting for ${e.to} to answer (the request expires in ${seconds(e.expiresInMs)} s; type cancel to withdraw it)`),
      ];
    case "incoming_request":
      return [{ style: "question", text: `${e.from} is trying to connect with you (y/n)` }];
    case "request_declined":
      return [notice(`${e.by} declined connection request`)];
    case "you_declined":
      return [notice(`You declined the request from ${e.from}`)];
    case "request_ended":
      if (e.reason === "withdrawn") return [notice(`${e.name} withdrew the request`)];
      if (e.reason === "offline") return [notice(`${e.name} went offline`)];
      if (e.role === "sent") return [notice(`Your request to ${e.name} expired without an answer`)];
      return [notice(`The request from ${e.name} expired`)];
    case "cancelled":
      return [notice(e.to ? `You withdrew your request to ${e.to}` : "Cancelled")];
    case "connected":
      return [notice(`You are now connected with ${e.with}`)];
    case "message":
      return chatLines(e.from, e.text, "partner");
    case "partner_left":
      return [notice(`${e.name} has left the chat${e.reason === "exit" ? "" : " (disconnected)"}`)];
    case "you_left":
      return [notice(`You left the chat with ${e.with}`)];
    case "users": {
      const lines = [plain(`${e.total} online:`)];
      for (const u of e.users) lines.push(plain(`  ${u.name}${u.name === e.you ? " (you)" : ""} - ${u.status}`));
      if (e.total > e.users.length) lines.push(plain(`  ...and ${e.total - e.users.length} more`));
      return lines;
    }
    case "help":
      return HELP_LINES.map(plain);
    case "presence":
      return []; // kept for tab completion; `list` shows it on request
    case "bye":
      return [notice("Goodbye")];
    case "error":
      return [error(e.message)];
    default:
      // A newer server's event: show what it says rather than nothing.
      return [plain(`(server: ${JSON.stringify(e)})`)];
  }
}

/**
 * @param {Extract<ServerEvent, { type: "request_failed" }>} e
 * @returns {string}
 */
function requestFailure(e) {
  switch (e.reason) {
    case "self":
      return "You can't connect with yourself";
    case "in_chat":
      return `You are already connected with ${e.partner}; exit that connection first`;
    case "pending":
      return `You are already waiting for ${e.to} to answer; type cancel to withdraw that request first`;
    case "answer_first":
      return `${e.from} is trying to connect with you; answer that first (y/n)`;
    case "offline":
      return `${e.to} is not online`;
    case "busy":
      return `${e.to} is busy in a conversation`;
  }
}

/**
 * The prompt in front of the input line, which says what a bare line will mean.
 * @param {import("../../src/protocol.ts").InputMode} mode
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
      return `to ${safe(s.partner ?? "")}> `;
    case "ended":
    case "command":
      return "> ";
  }
}

/** Why the server may close the socket (README, "Close codes the server sends"). */
const CLOSE_HINTS = /** @type {Record<number, string>} */ ({
  1000: "normal closure",
  1001: "the server is going away, as in a deploy; run parley again to reconnect",
  1008: "policy violation: too many messages too fast",
  1011: "the server hit an error",
  4000: "heartbeat timeout: the server heard nothing from this client for too long",
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
