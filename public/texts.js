// What the page says for each server event. The words are the server's (renderText in src/protocol.ts, itself the
// seed's), except where those tell a terminal user to type a command that is a button here.

/** @typedef {import("../src/protocol").ServerEvent} ServerEvent */
/** @typedef {"info" | "good" | "warn" | "error"} Tone */

/**
 * The notice for an event, or null when the event is shown some other way (the list, the dialog, the chat).
 * @param {ServerEvent} e
 * @returns {{ text: string, tone: Tone } | null}
 */
export function noticeFor(e) {
  switch (e.type) {
    case "request_failed":
      switch (e.reason) {
        case "self":
          return warn("You can't connect with yourself");
        case "in_chat":
          return warn(`You are already connected with ${e.partner}; exit that connection first`);
        case "pending":
          return warn(`You are already waiting for ${e.to} to answer; cancel that request first`);
        case "answer_first":
          return warn(`${e.from} is trying to connect with you; answer that first`);
        case "offline":
          return warn(`${e.to} is not online`);
        case "busy":
          return warn(`${e.to} is busy in a conversation`);
      }
      break;
    case "request_declined":
      return warn(`${e.by} declined connection request`);
    case "you_declined":
      return info(`You declined the request from ${e.from}`);
    case "request_ended":
      if (e.reason === "withdrawn") return info(`${e.name} withdrew the request`);
      if (e.reason === "offline") return warn(`${e.name} went offline`);
      return warn(e.role === "sent" ? `Your request to ${e.name} expired without an answer` : `The request from ${e.name} expired`);
    case "cancelled":
      return info(e.to ? `You withdrew your request to ${e.to}` : "Cancelled");
    case "error":
      return { text: e.message, tone: "error" };
    default:
      return null;
  }
  return null;
}

/**
 * Why the server refused a name, shown under the name field.
 * @param {ServerEvent} e
 */
export function rejectedName(e) {
  if (e.type !== "name_rejected") return null;
  if (e.reason === "taken") return `Username ${e.name} is taken`;
  if (e.reason === "confusable") return `Username ${e.name} is taken: ${e.detail}`;
  return `That username is not allowed: ${e.detail}`;
}

/**
 * The line shown inside the chat transcript for the events that start or end it.
 * @param {ServerEvent} e
 */
export function chatLine(e) {
  switch (e.type) {
    case "connected":
      return `You are now connected with ${e.with}`;
    case "partner_left":
      return e.reason === "exit" ? `${e.name} has left the chat` : `${e.name} has left the chat (disconnected)`;
    case "you_left":
      return `You left the chat with ${e.with}`;
    default:
      return null;
  }
}

/** @param {import("../src/protocol").Status} status */
export function statusLabel(status) {
  return status === "available" ? "Available" : status === "busy" ? "In a chat" : "Request pending";
}

/** Whole seconds left, never shown as 0 while there is still time. */
export function secondsLeft(/** @type {number} */ ms) {
  return Math.max(0, Math.ceil(ms / 1000));
}

const info = (/** @type {string} */ text) => ({ text, tone: /** @type {Tone} */ ("info") });
const warn = (/** @type {string} */ text) => ({ text, tone: /** @type {Tone} */ ("warn") });
