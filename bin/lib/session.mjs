// @ts-check
import { inputMode } from "../../public/wire/text.js";

// What the client knows of its own session, followed from the server's events alone, so that a typed line can
// be read the way the server's text dialect would read it (the wire's inputMode, which the server uses too).

/** @typedef {import("../../public/wire/protocol.js").ServerEvent} ServerEvent */
/** @typedef {import("../../public/wire/protocol.js").Action} Action */
/** @typedef {import("../../public/wire/text.js").InputMode} InputMode */
/** @typedef {import("../../public/wire/protocol.js").Status} Status */

/**
 * @typedef {object} Session
 * @property {string | null} me our username, once welcomed
 * @property {string | null} partner who we are chatting with
 * @property {string | null} askedBy who is waiting for our y/n
 * @property {string | null} asking who we are waiting for
 * @property {boolean} awaitingTarget the server asked "Who do you want to connect with?"
 * @property {Map<string, Status>} online who else is online, from `list` answers and presence pushes
 * @property {number | null} chatEndedAt when our last chat ended (performance.now())
 * @property {number | null} partnerTypingAt when the partner last said it was typing (performance.now())
 */

/** @returns {Session} */
export function newSession() {
  return {
    me: null,
    partner: null,
    askedBy: null,
    asking: null,
    awaitingTarget: false,
    online: new Map(),
    chatEndedAt: null,
    partnerTypingAt: null,
  };
}

/**
 * Follow one event. Mutates and returns `s`.
 * @param {Session} s
 * @param {ServerEvent} e
 * @returns {Session}
 */
export function follow(s, e) {
  switch (e.type) {
    case "ask_name":
      // Also sent when the server lost our login (a restart): start over.
      return Object.assign(s, newSession());
    case "welcome":
      s.me = e.name;
      break;
    case "resumed":
      // Where the session stands now; what happened meanwhile comes as `missed`, followed one by one.
      Object.assign(s, { me: e.name, partner: e.partner, askedBy: null, asking: null, awaitingTarget: false });
      if (e.request?.role === "received") s.askedBy = e.request.name;
      if (e.request?.role === "sent") s.asking = e.request.name;
      for (const missed of e.missed) follow(s, missed);
      break;
    case "ask_target":
      s.awaitingTarget = true;
      break;
    case "request_failed":
      s.awaitingTarget = false;
      break;
    case "request_sent":
      s.asking = e.to;
      s.awaitingTarget = false;
      break;
    case "incoming_request":
      s.askedBy = e.from;
      s.awaitingTarget = false;
      break;
    case "request_declined":
      s.asking = null;
      break;
    case "you_declined":
      s.askedBy = null;
      break;
    case "request_ended":
      if (e.role === "sent") s.asking = null;
      else s.askedBy = null;
      break;
    case "cancelled":
      if (e.to) s.asking = null;
      else s.awaitingTarget = false;
      break;
    case "connected":
      Object.assign(s, { partner: e.with, askedBy: null, asking: null, awaitingTarget: false });
      break;
    case "typing":
      s.partnerTypingAt = performance.now();
      break;
    case "message":
      s.partnerTypingAt = null; // the line they were typing has come
      break;
    case "partner_left":
      s.partnerTypingAt = null;
      s.partner = null;
      s.chatEndedAt = performance.now(); // we may have been typing to them: see modeOf
      break;
    case "you_left":
      s.partnerTypingAt = null;
      s.partner = null;
      break;
    case "users":
      s.online = new Map(e.users.filter((u) => u.name !== e.you).map((u) => [u.name, u.status]));
      break;
    case "presence":
      for (const { name, status } of e.changes) {
        if (status === "offline" || name === s.me) s.online.delete(name);
        else s.online.set(name, status);
      }
      break;
  }
  return s;
}

/**
 * What a bare line means now, in the server's order: a chat first, then a request to answer, then a line typed
 * for a partner who just left (refused, not run as a command), then the "Who do you want…" prompt.
 * @param {Session} s
 * @param {number} [now] performance.now(); without it the just-ended grace is not considered
 * @returns {InputMode}
 */
export function modeOf(s, now) {
  const facts = { loggedIn: !!s.me, inChat: !!s.partner, asked: !!s.askedBy, awaitingTarget: s.awaitingTarget };
  return inputMode({ ...facts, chatEndedAt: now === undefined ? null : s.chatEndedAt }, now ?? 0);
}

/** How long "typing…" shows after the partner's last typing notice (clients send one every few seconds). */
export const TYPING_SHOWN_MS = 6000;

/**
 * Whether the partner is typing now.
 * @param {Session} s
 * @param {number} now performance.now()
 */
export function partnerTyping(s, now) {
  return s.partner !== null && s.partnerTypingAt !== null && now - s.partnerTypingAt < TYPING_SHOWN_MS;
}

/**
 * Whether the server answers this action with an event of its own. Lines typed after one are held until that
 * answer arrives, so that a pasted "alice⏎connect bob⏎" reads its second line as a command, not as a name.
 * Only `say` goes unanswered (unless it fails).
 * @param {Action} action
 */
export function awaitsAnswer(action) {
  return action.type !== "say" && action.type !== "invalid";
}

/**
 * Whether an event can be the server's answer to an action; chat lines and presence pushes arrive on their own.
 * @param {ServerEvent} e
 */
export function isAnswer(e) {
  return !["message", "presence", "typing", "seen", "partner_away", "partner_back"].includes(e.type);
}
