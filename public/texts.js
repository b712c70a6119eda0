// What the page says for each server event: the server's own sentences (wire/text.js), except where those tell a
// terminal user to type a command that is a button here.

import { renderText, say } from "./wire/text.js";

/** @typedef {import("./wire/protocol.js").ServerEvent} ServerEvent */
/** @typedef {"info" | "good" | "warn" | "error"} Tone */

/**
 * The notice for an event, or null when the event is shown some other way (the list, the dialog, the chat).
 * @param {ServerEvent} e
 * @returns {{ text: string, tone: Tone } | null}
 */
export function noticeFor(e) {
  switch (e.type) {
    case "request_failed":
      // The page has buttons where a terminal user types cancel or y/n.
      if (e.reason === "pending") return warn(`You are already waiting for ${e.to} to answer; cancel that request first`);
      if (e.reason === "answer_first") return warn(`${e.from} is trying to connect with you; answer that first`);
      if (e.reason === "you_blocked") return warn(`You blocked ${e.to}; unblock them first`);
      // cooldown and too_many_requests: the server's own sentence with its wait ("…ask again in 25 s"), said once;
      // the page keeps no timer of its own for them.
      return warn(renderText(e)[0] ?? "");
    case "request_declined":
      return warn(say("request_declined", e));
    case "you_declined":
      return info(say("you_declined", e));
    case "request_ended":
      if (e.reason === "withdrawn") return info(say("withdrawn", e));
      if (e.reason === "offline") return warn(say("went_offline", e));
      return warn(say(e.role === "sent" ? "your_request_expired" : "their_request_expired", e));
    case "cancelled":
      return info(e.to ? say("cancelled_request", { to: e.to }) : say("cancelled_prompt"));
    case "availability":
      // The server's "Type back when you are" is for a terminal; here the switch says how to come back.
      return info(e.taking ? say("taking") : "Do not disturb is on: whoever asks is told you are not taking requests");
    case "blocked":
      return e.changed ? info(say(e.changed.blocked ? "blocked_now" : "unblocked_now", e.changed)) : null;
    case "error":
      return { text: e.message, tone: "error" };
    default:
      return null;
  }
}

/**
 * Why the server refused a name, shown under the name field.
 * @param {ServerEvent} e
 */
export function rejectedName(e) {
  if (e.type !== "name_rejected") return null;
  return say(e.reason === "taken" ? "name_taken" : e.reason === "confusable" ? "name_confusable" : "name_invalid", e);
}

/**
 * The line shown inside the chat transcript for the events that start or end it.
 * @param {ServerEvent} e
 */
export function transcriptLine(e) {
  switch (e.type) {
    case "connected":
      return say("connected", e);
    case "partner_left":
      return say(e.reason === "exit" ? "partner_exited" : "partner_dropped", e);
    case "you_left":
      return say("you_left", e);
    default:
      return null;
  }
}

/** @param {import("./wire/protocol.js").Status} status */
export function statusLabel(status) {
  switch (status) {
    case "available":
      return "Available";
    case "busy":
      return "In a chat";
    case "pending":
      return "Request pending";
    case "away":
      return "Reconnecting";
    case "unavailable":
      return "Not taking requests";
  }
}

/**
 * Why someone cannot be asked now, for the title of their disabled Connect button.
 * @param {string} name
 * @param {import("./wire/protocol.js").Status} status
 */
export function whyNot(name, status) {
  switch (status) {
    case "busy":
      return `${name} is in a chat`;
    case "pending":
      return `${name} has a request pending`;
    case "unavailable":
      return `${name} is not taking requests`;
    default:
      return "";
  }
}

/** Whole seconds left, never shown as 0 while there is still time. */
export function secondsLeft(/** @type {number} */ ms) {
  return Math.max(0, Math.ceil(ms / 1000));
}

const info = (/** @type {string} */ text) => ({ text, tone: /** @type {Tone} */ ("info") });
const warn = (/** @type {string} */ text) => ({ text, tone: /** @type {Tone} */ ("warn") });
