// @ts-check
// The plain text dialect's reading of a typed line: commands are case-insensitive, with or without a leading `/`,
// and a bare line means what the sender's state says (a name, a target, a y/n answer, a chat message).
// Plain JavaScript so that the worker and the Node terminal client share it; the types come from protocol.ts.

import { printable } from "./printable.js";

/** @typedef {import("./protocol.ts").Action} Action */
/** @typedef {import("./protocol.ts").InputMode} InputMode */

/**
 * For this long after a chat ends, a bare line is refused instead of read as a command: it was typed for the
 * partner who just left ("quit teasing me" must not disconnect anyone).
 */
export const CHAT_END_GRACE_MS = 3000;

const YES = new Set(["y", "yes"]);
const NO = new Set(["n", "no"]);
const PROMPT_COMMANDS = new Set(["cancel", "help", "quit", "list", "who"]);
const COMMAND_WORDS = new Set(["connect", "c", "y", "yes", "n", "no", "list", "who", "help", "?", "exit", "cancel", "quit"]);

/**
 * One text frame of the plain dialect.
 * @param {string} frame
 * @param {InputMode} mode
 * @returns {Action}
 */
export function parseText(frame, mode) {
  if (mode === "chat") {
    // Inside a chat everything is a message except `exit` and /commands, so people can type "help me" to each
    // other.
    const said = chatLine(frame);
    if (said !== null) return { type: "say", text: said };
    const trimmed = frame.trim();
    if (trimmed.startsWith("/")) return parseCommand(trimmed.slice(1));
    if (trimmed.length === 4 && trimmed.toLowerCase() === "exit") return { type: "exit" };
    return { type: "say", text: frame.replace(/\r?\n$/, "") }; // blank: the rules answer it
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
      return { type: "invalid", code: "bad_answer", message: "Please answer y/n" };
    case "ended":
      return {
        type: "invalid",
        code: "chat_ended",
        message: "Your chat has just ended, so that line was not sent; commands work again in a moment (or with /)",
      };
    case "command":
      return parseCommand(line);
  }
}

/**
 * A frame typed in a chat, as the line for the partner; null when it is `exit`, a /command or blank. This is every
 * relayed line, so it copies the line only to drop a trailing line break.
 * @param {string} frame
 * @returns {string | null}
 */
export function chatLine(frame) {
  const line = frame.endsWith("\n") ? frame.replace(/\r?\n$/, "") : frame;
  // Most lines neither start nor end with white space, and then trim() returns the line itself.
  const trimmed = line.trim();
  if (trimmed === "" || trimmed.startsWith("/")) return null;
  return trimmed.length === 4 && trimmed.toLowerCase() === "exit" ? null : line;
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
    return rest ? { type: "checked", token: rest } : { type: "invalid", code: "bad_check", message: "Type ok and the code you were given" };
  }
  // Only connect takes an argument: "quit teasing me" or "no way" is a sentence, not a command.
  if (rest && word !== "connect" && word !== "c" && COMMAND_WORDS.has(word)) {
    return {
      type: "invalid",
      code: "unknown_command",
      message: `"${word}" takes nothing after it; type ${word} on its own (that line was not sent to anyone)`,
    };
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
    case "exit":
    case "cancel":
    case "quit":
      return { type: word };
    case "":
      return { type: "invalid", code: "unknown_command", message: "Type a command, or help to see them all" };
    default:
      return {
        type: "invalid",
        code: "unknown_command",
        message: `Unknown command "${printable(word, 32)}". Type help to see the commands`,
      };
  }
}
