// How much the server has sent a socket that its client has not shown it read, and the check that shows it.
//
// The runtime queues whatever a Durable Object sends, without limit, and tells it nothing about the queue (no
// `bufferedAmount`, workerd#988): a client that stops reading while its partner keeps talking makes the server
// hold everything said to it. Counting what was sent is easy; knowing what was read needs the client's help, and
// the help must be unforgeable: a count or a sequence number can be guessed without reading, so the server sends a
// random token behind what it sent, and only a client that read that far can echo it. Past the budget with no
// echo, the socket is closed (CloseCode.notReading) and everyone else carries on.

import { sameSecret } from "./credentials";

export interface Unread {
  /** Characters sent and not yet shown read (UTF-16 units: bytes for ASCII, at most 3 bytes each otherwise). */
  sent: number;
  /** The check in flight: its token, and `sent` as it stood when the check went out. */
  check: { token: string; upTo: number } | null;
  /** Wrong answers to the check in flight. */
  wrong: number;
}

export type UnreadVerdict = "ok" | "check" | "over";

/** Wrong answers to one check before the socket is treated as not reading (a text token is four digits). */
export const MAX_WRONG_ANSWERS = 3;

export function noneUnread(): Unread {
  return { sent: 0, check: null, wrong: 0 };
}

/** Count a frame sent: "check" when half the budget is used and no check is in flight, "over" past the budget. */
export function counted(unread: Unread, chars: number, budget: number): UnreadVerdict {
  unread.sent += chars;
  if (unread.sent > budget) return "over";
  return unread.check === null && unread.sent * 2 >= budget ? "check" : "ok";
}

/** A check is going out now, behind everything counted so far. */
export function checkSent(unread: Unread, token: string): void {
  unread.check = { token, upTo: unread.sent };
  unread.wrong = 0;
}

/** The client echoed `token`: what was sent up to the check is read. */
export function answered(unread: Unread, token: string): "ok" | "wrong" | "over" | "none" {
  const check = unread.check;
  if (!check) return "none";
  if (!sameSecret(token, check.token)) return ++unread.wrong >= MAX_WRONG_ANSWERS ? "over" : "wrong";
  unread.sent -= check.upTo;
  unread.check = null;
  unread.wrong = 0;
  return "ok";
}


/** A check's token: 128 random bits for programs, four digits for a person to type (MAX_WRONG_ANSWERS tries). */
export function checkToken(dialect: "text" | "json"): string {
  const bytes = crypto.getRandomValues(new Uint8Array(dialect === "json" ? 16 : 2));
  if (dialect === "text") return String((((bytes[0]! << 8) | bytes[1]!) % 9000) + 1000);
  return [...bytes].map((b) => b.toString(16).padStart(2, "0")).join("");
}
