// @ts-check
// The plain text dialect: every sentence the server says, once (SAY), how each event is worded from it, how a
// typed line is read, and how a line is read back into what it says (for programs that watch a text session).
// Commands are case-insensitive, with or without a leading `/`; a bare line means what the sender's state says.

import { printable } from "./protocol.js";

/** @typedef {import("./protocol.js").Action} Action */
/** @typedef {import("./protocol.js").ServerEvent} ServerEvent */
/** @typedef {import("./protocol.js").Dialect} Dialect */

/**
 * Every sentence of the text dialect, by name. `{field}` is filled in; the JSON dialect carries the same facts as
 * fields, and its error messages are these sentences too. Where the rules (docs/RULES.md) give a sentence, it is
 * used word for word.
 */
export const SAY = Object.freeze({
  ask_name: "Please enter a username:",
  name_taken: "Username {name} is taken",
  name_confusable: "Username {name} is taken: {detail}",
  name_invalid: "That username is not allowed: {detail}",
  welcome: "Welcome, {name}!",
  commands: "Commands: connect <name>, list, exit, cancel, block <name>, away, help, quit",
  ask_target: "Who do you want to connect with?",
  self: "You can't connect with yourself",
  in_chat: "You are already connected with {partner}; exit that connection first",
  pending: "You are already waiting for {to} to answer; type cancel to withdraw that request first",
  answer_first: "{from} is trying to connect with you; answer that first (y/n)",
  offline: "{to} is not online",
  busy: "{to} is busy in a conversation",
  unavailable: "{to} is not taking requests right now",
  cooldown: "You asked {to} recently; you can ask again in {wait} s",
  too_many_requests: "You have asked too many people lately; you can ask again in {wait} s",
  you_blocked: "You blocked {to}; type unblock {to} first",
  away: "{to} is reconnecting; try again in a moment",
  partner_away: "{name} lost connection; waiting up to {seconds} s for {name} to come back (type exit to leave)",
  partner_back: "{name} is back",
  resumed: "Welcome back, {name}!",
  resume_failed: "That session cannot be resumed (it ended, or the code is not right); log in again",
  not_delivered: "{name} is away; that line was not delivered",
  request_sent: "Waiting for {to} to answer (the request expires in {seconds} s; type cancel to withdraw it)",
  incoming_request: "{from} is trying to connect with you (y/n)",
  request_declined: "{by} declined connection request",
  you_declined: "You declined the request from {from}",
  withdrawn: "{name} withdrew the request",
  went_offline: "{name} went offline",
  your_request_expired: "Your request to {name} expired without an answer",
  their_request_expired: "The request from {name} expired",
  cancelled_request: "You withdrew your request to {to}",
  cancelled_prompt: "Cancelled",
  connected: "You are now connected with {with}",
  message: "{from}: {text}",
  partner_exited: "{name} has left the chat",
  partner_dropped: "{name} has left the chat (disconnected)",
  you_left: "You left the chat with {with}",
  users_total: "{total} online:",
  users_entry: "  {name} - {status}",
  users_you: "  {name} (you) - {status}",
  users_more: "  ...and {more} more",
  not_taking: "You are not taking requests; whoever asks is told so. Type back when you are",
  taking: "You are taking requests again",
  blocked_now: "You blocked {name}; when they ask to chat they are told no, as if you declined",
  unblocked_now: "You unblocked {name}",
  blocked_list: "Blocked: {names}",
  blocked_none: "You have not blocked anyone",
  check: "You have been sent {kib} KiB without showing that you read it; type /ok {token} to keep receiving (the connection closes if much more goes unread)",
  bye: "Goodbye",
  // Errors: the `message` of an error event, in both dialects.
  not_logged_in: "Please enter a username first",
  already_logged_in: "You are already logged in as {name}",
  answer_y_n: "Please answer y/n",
  answer_y_n_to: "Please answer y/n: {from} is trying to connect with you",
  no_request: "There is no request to answer",
  not_in_chat: "You are not in a chat; type connect <name> to start one",
  empty_message: "Empty message not sent",
  nothing_to_exit: "You are not in a chat; there is nothing to exit",
  exit_is_cancel: "You are not in a chat; type cancel to withdraw your request to {to}",
  nothing_to_cancel: "You have no request to cancel",
  chat_ended: "Your chat has just ended, so that line was not sent; commands work again in a moment (or with /)",
  unknown_command: 'Unknown command "{word}". Type help to see the commands',
  takes_nothing: '"{word}" takes nothing after it; type {word} on its own (that line was not sent to anyone)',
  no_command: "Type a command, or help to see them all",
  name_after: "Type {word} and a name, e.g. {word} bob",
  block_self: "You can't block yourself",
  ok_needs_code: "Type ok and the code you were given",
  wrong_code: "That is not the code you were sent; type it exactly",
  too_many_blocks: "You can block at most {max} people; unblock someone first",
  not_blocked: "{name} is not blocked",
  no_check: "There is no check to answer",
  rate_limited: "slow down: you are sending messages too fast; this one was not delivered",
  binary_frame: "Binary frames are not supported; send text",
  too_big: "Message too long (limit {max} bytes); it was not delivered",
  too_many_logins: "Too many login attempts from your address; try again in a minute",
  server_error: "The server could not handle that message",
});

/** @typedef {keyof typeof SAY} Sentence */

/**
 * A sentence with its fields filled in (an event may be passed whole: its other fields are not used).
 * @param {Sentence} sentence
 * @param {object} [fields]
 */
export function say(sentence, fields = {}) {
  const values = /** @type {Record<string, unknown>} */ (fields);
  return SAY[sentence].replace(/\{(\w+)\}/g, (_, f) => String(values[f] ?? `{${f}}`));
}

export const HELP_LINES = Object.freeze([
  "connect <name>  ask someone to chat (or just connect, then the name)",
  "y / n           answer a request",
  "list (or who)   who is online, and who is free",
  "exit            leave the chat you are in",
  "cancel          withdraw the request you sent",
  "block <name>    never be asked by them (they are told no); unblock <name>, blocked to list",
  "away / back     stop and start taking requests",
  "help            this list",
  "quit            disconnect",
  "In a chat every line you type goes to your partner; /list, /help, /quit still work there.",
]);

// ---------------------------------------------------------------------------------------------
// Wording events

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
 * A chat message as its one line, "alice: text"; null when the text holds a line break or a control character
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
 * An event in the text dialect, as lines (one frame holds them all; see `render`).
 * @param {ServerEvent} e
 * @returns {string[]}
 */
export function renderText(e) {
  switch (e.type) {
    case "ask_name":
      return [say("ask_name")];
    case "name_rejected":
      return [say(e.reason === "taken" ? "name_taken" : e.reason === "confusable" ? "name_confusable" : "name_invalid", e)];
    case "welcome":
      return [say("welcome", e), say("commands")];
    case "resumed":
      return [say("resumed", e)];
    case "resume_failed":
      return [say("resume_failed")];
    case "partner_away":
      return [say("partner_away", { name: e.name, seconds: seconds(e.graceMs) })];
    case "partner_back":
      return [say("partner_back", e)];
    case "seen":
      return [];
    case "ask_target":
      return [say("ask_target")];
    case "request_failed":
      if (e.reason === "cooldown" || e.reason === "too_many_requests") return [say(e.reason, { ...e, wait: seconds(e.waitMs) })];
      return [say(e.reason, e)];
    case "request_sent":
      return [say("request_sent", { to: e.to, seconds: seconds(e.expiresInMs) })];
    case "incoming_request":
      return [say("incoming_request", e)];
    case "request_declined":
      return [say("request_declined", e)];
    case "you_declined":
      return [say("you_declined", e)];
    case "request_ended":
      if (e.reason === "withdrawn") return [say("withdrawn", e)];
      if (e.reason === "offline") return [say("went_offline", e)];
      return [say(e.role === "sent" ? "your_request_expired" : "their_request_expired", e)];
    case "cancelled":
      return [e.to ? say("cancelled_request", { to: e.to }) : say("cancelled_prompt")];
    case "connected":
      return [say("connected", e)];
    case "message": {
      // A line break, carriage return or terminal escape inside a message must not let the sender forge a
      // server line: each line gets the sender's name and other control characters are shown as U+FFFD.
      const line = messageLine(e.from, e.text);
      if (line !== null) return [line];
      return e.text.split(/\r\n|[\r\n]/).map((part) => `${e.from}: ${cleanForTerminal(part)}`);
    }
    case "partner_left":
      return [say(e.reason === "exit" ? "partner_exited" : "partner_dropped", e)];
    case "you_left":
      return [say("you_left", e)];
    case "users": {
      const lines = [say("users_total", e)];
      for (const u of e.users) lines.push(say(u.name === e.you ? "users_you" : "users_entry", u));
      if (e.total > e.users.length) lines.push(say("users_more", { more: e.total - e.users.length }));
      return lines;
    }
    case "help":
      return [...HELP_LINES];
    case "presence":
      return []; // text users ask with `list` instead
    case "check":
      return [say("check", { kib: Math.round(e.unread / 1024), token: e.token })];
    case "typing":
      return []; // programs and the web page show it; a terminal line per keystroke would drown the chat
    case "availability":
      return [say(e.taking ? "taking" : "not_taking")];
    case "blocked":
      if (e.changed) return [say(e.changed.blocked ? "blocked_now" : "unblocked_now", e.changed)];
      return [e.names.length > 0 ? say("blocked_list", { names: e.names.join(", ") }) : say("blocked_none")];
    case "bye":
      return [say("bye")];
    case "error":
      return [e.message];
  }
}

/**
 * An event as the one frame it is sent in. In the text dialect an event of several lines (a message with line
 * breaks, the `list` reply, help) is still one frame, its lines joined by "\n": a frame per line let one 4 KiB
 * message of line breaks become 4,095 frames in a reader's queue. Empty for an event the dialect does not get.
 * @param {ServerEvent} event
 * @param {Dialect} dialect
 */
export function render(event, dialect) {
  return dialect === "json" ? JSON.stringify(event) : renderText(event).join("\n");
}

// ---------------------------------------------------------------------------------------------
// Reading lines back

const NAME = "[\\p{L}\\p{M}\\p{N}_.-]+";
const NAME_FIELDS = new Set(["name", "from", "to", "by", "with", "partner"]);
const NUMBER_FIELDS = new Set(["seconds", "total", "more", "max", "kib", "wait"]);

/** Each sentence as a pattern: names match the username alphabet, numbers digits, anything else any text. */
const PATTERNS = /** @type {[Sentence, RegExp][]} */ (
  Object.entries(SAY).map(([sentence, text]) => {
    const source = text
      .split(/(\{\w+\})/)
      .map((part) => {
        const field = /^\{(\w+)\}$/.exec(part)?.[1];
        if (!field) return part.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
        const what = NAME_FIELDS.has(field) ? NAME : NUMBER_FIELDS.has(field) ? "\\d+" : ".*?";
        // A field that appears twice ("{word}" in takes_nothing) is captured once and matched again.
        return `(?<${field}>${what})`;
      })
      .join("")
      .replace(/\(\?<(\w+)>(.*?)\)(.*)\(\?<\1>\2\)/, "(?<$1>$2)$3\\k<$1>");
    return [sentence, new RegExp(`^${source}$`, "su")];
  })
);

/**
 * What one line of the text dialect says: which sentence, with its fields; null for a line that is none of them.
 * A chat line ("alice: hi") is `message`, tried last so that no server sentence is mistaken for one.
 * @param {string} line
 * @returns {{ sentence: Sentence, fields: Record<string, string> } | null}
 */
export function readLine(line) {
  let message = null;
  for (const [sentence, re] of PATTERNS) {
    const m = re.exec(line);
    if (!m) continue;
    if (sentence === "message") message = { sentence, fields: { ...m.groups } };
    else return { sentence, fields: { ...m.groups } };
  }
  return /** @type {{ sentence: Sentence, fields: Record<string, string> } | null} */ (message);
}

// ---------------------------------------------------------------------------------------------
// Reading a typed line

/**
 * For this long after a chat ends, a bare line is refused instead of read as a command: it was typed for the
 * partner who just left ("quit teasing me" must not disconnect anyone).
 */
export const CHAT_END_GRACE_MS = 3000;

/** @typedef {"name" | "target" | "answer" | "chat" | "ended" | "command"} InputMode */

/**
 * What a bare typed line means now, from what the sender knows of its own session. The server reads its state
 * this way (rules.ts), and the terminal client reads its own view of the same session this way.
 * @param {{ loggedIn: boolean, inChat: boolean, asked: boolean, awaitingTarget: boolean, chatEndedAt: number | null | undefined }} s
 * @param {number} now
 * @returns {InputMode}
 */
export function inputMode(s, now) {
  if (!s.loggedIn) return "name";
  if (s.inChat) return "chat";
  if (s.asked) return "answer";
  if (s.chatEndedAt != null && now - s.chatEndedAt < CHAT_END_GRACE_MS) return "ended";
  return s.awaitingTarget ? "target" : "command";
}

const YES = new Set(["y", "yes"]);
const NO = new Set(["n", "no"]);
const PROMPT_COMMANDS = new Set(["cancel", "help", "quit", "list", "who"]);
const COMMAND_WORDS = new Set([
  "connect", "c", "y", "yes", "n", "no", "list", "who", "help", "?", "exit", "cancel", "quit", "block", "unblock", "blocked",
  "away", "back",
]);
/** Commands that take a name after them. */
const NAMED = new Set(["connect", "c", "block", "unblock"]);
/**
 * Right after a chat ends, a line that is a whole command runs; anything else was typed for the partner who just
 * left, and is refused. `quit`, `exit`, a bare `connect` and y/n are not whole enough to be sure of.
 * @param {Action} action
 */
const wholeCommand = (action) =>
  (action.type === "connect" && action.to !== undefined && !/\s/.test(action.to)) ||
  ["list", "help", "cancel", "block", "unblock", "blocked", "away", "back"].includes(action.type);

/**
 * One typed line of the plain dialect, read in the sender's mode.
 * @param {string} frame
 * @param {InputMode} mode
 * @returns {Action}
 */
export function parseText(frame, mode) {
  if (mode === "chat") {
    // Inside a chat everything is a message except `exit` and /commands, so people can type "help me" to each
    // other.
    const said = partnerText(frame);
    if (said !== null) return { type: "say", text: said };
    const trimmed = frame.trim();
    if (trimmed.startsWith("/")) return parseCommand(trimmed.slice(1));
    if (trimmed.length === 4 && trimmed.toLowerCase() === "exit") return { type: "exit" };
    if (/^connect(\s+\S+)?$/i.test(trimmed)) return parseCommand(trimmed);
    return { type: "say", text: frame.replace(/\r?\n$/, "") }; // blank: the rules answer it
  }
  if (mode === "ended") {
    // Within the grace after a chat ended: a /command, or a whole command, runs; any other line was typed for the
    // partner. A slash is as deliberate here as in the chat, where it makes `/quit` a command too.
    const trimmed = frame.replace(/\r?\n$/, "").trim();
    if (trimmed.startsWith("/")) return parseCommand(trimmed.slice(1));
    const action = parseCommand(trimmed);
    return wholeCommand(action) ? action : { type: "invalid", code: "chat_ended", message: say("chat_ended") };
  }
  const line = frame.replace(/\r?\n$/, "");
  const word = line.trim().toLowerCase();
  if (line.trimStart().startsWith("/")) return parseCommand(line.trimStart().slice(1));
  switch (mode) {
    case "name":
      return word === "help" || word === "quit" ? { type: word } : { type: "login", name: line };
    case "target":
      if (PROMPT_COMMANDS.has(word)) return parseCommand(word);
      // People often answer the prompt by typing the whole command again.
      if (/^connect\s/.test(word)) return parseCommand(line);
      return { type: "connect", to: line.trim() };
    case "answer":
      if (YES.has(word)) return { type: "answer", accept: true };
      if (NO.has(word)) return { type: "answer", accept: false };
      return { type: "invalid", code: "bad_answer", message: say("answer_y_n") };
    case "command":
      return parseCommand(line);
  }
}

/**
 * A line typed in a chat, as the text for the partner; null when it is `exit`, a /command or blank. This is every
 * relayed line, so it copies the line only to drop a trailing line break.
 * @param {string} frame
 * @returns {string | null}
 */
export function partnerText(frame) {
  const line = frame.endsWith("\n") ? frame.replace(/\r?\n$/, "") : frame;
  // Most lines neither start nor end with white space, and then trim() returns the line itself.
  const trimmed = line.trim();
  if (trimmed === "" || trimmed.startsWith("/")) return null;
  if (trimmed.length === 4 && trimmed.toLowerCase() === "exit") return null;
  // `connect` alone, or with one name, is the command even in a chat (it is answered "exit that connection
  // first"); `connect with me later` is a sentence.
  if (trimmed.length >= 7 && /^connect(\s+\S+)?$/i.test(trimmed)) return null;
  return line;
}

/**
 * @param {string} text a command, without its leading `/`
 * @returns {Action}
 */
function parseCommand(text) {
  const trimmed = text.trim();
  const space = trimmed.search(/\s/);
  const word = (space < 0 ? trimmed : trimmed.slice(0, space)).toLowerCase();
  const rest = space < 0 ? "" : trimmed.slice(space + 1).trim();
  if (word === "ok") {
    return rest ? { type: "checked", token: rest } : { type: "invalid", code: "bad_check", message: say("ok_needs_code") };
  }
  // Only connect and block take a name: "quit teasing me" or "no way" is a sentence, not a command.
  if (rest && !NAMED.has(word) && COMMAND_WORDS.has(word)) {
    return { type: "invalid", code: "unknown_command", message: say("takes_nothing", { word }) };
  }
  switch (word) {
    case "connect":
    case "c":
      return rest ? { type: "connect", to: rest } : { type: "connect" };
    case "y":
    case "yes":
      return { type: "answer", accept: true };
    case "n":
    case "no":
      return { type: "answer", accept: false };
    case "list":
    case "who":
      return { type: "list" };
    case "help":
    case "?":
      return { type: "help" };
    case "block":
    case "unblock":
      return rest ? { type: word, name: rest } : { type: "invalid", code: "unknown_command", message: say("name_after", { word }) };
    case "exit":
    case "cancel":
    case "quit":
    case "blocked":
    case "away":
    case "back":
      return { type: word };
    case "":
      return { type: "invalid", code: "unknown_command", message: say("no_command") };
    default:
      return { type: "invalid", code: "unknown_command", message: say("unknown_command", { word: printable(word, 32) }) };
  }
}
