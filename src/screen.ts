// What happens to a frame before anyone reads it: the rate limit first (every frame, of any kind and size), then
// the heartbeat, binary frames and the size limit. Pure: the Lobby acts on the verdict.

import { type Bucket, take } from "./rate-limit";
import { CloseCode, PING, utf8Length } from "../public/wire/protocol.js";

/** The frame a client sends while its user types: cheap, and paid from a budget of its own. */
export const TYPING_FRAME = '{"type":"typing"}';
/** Typing frames a socket may send: one a second, three at once; past that they pay the main rate limit. */
export const TYPING_LIMIT = { ratePerSecond: 1, rateBurst: 3 } as const;

export type Screened =
  /** Refused `rateBurst` times in a row: the sender ignored every "slow down". Close it. */
  | "flooding"
  /** Over the rate: answer "slow down", deliver nothing. */
  | "slow_down"
  /** A heartbeat to answer with `pong`. */
  | "ping"
  /** A JSON client's typing notice, within its own budget: tell the partner, and that is all. */
  | "typing"
  | "binary"
  /** Far over the size limit: the runtime read it already (up to 32 MiB), and the socket may not send another. */
  | "far_too_big"
  | "too_big"
  /** A text frame to read. */
  | "ok";

/** What a frame refused here gets: a close (the socket may send no more) or an error (it may go on). */
export const REFUSED = {
  flooding: { close: [CloseCode.policy, "flooding"] },
  slow_down: { error: "rate_limited" },
  binary: { error: "binary_frame" },
  far_too_big: { close: [CloseCode.tooBig, "message too big"] },
  too_big: { error: "too_big" },
} as const satisfies Record<Exclude<Screened, "ping" | "typing" | "ok">, { close: readonly [number, string] } | { error: string }>;

export interface ScreenLimits {
  ratePerSecond: number;
  rateBurst: number;
  maxMessageBytes: number;
}

/** A frame longer than this (in UTF-16 units, so at least this many bytes) costs its socket. */
export function farLimit(maxMessageBytes: number): number {
  return Math.max(4 * maxMessageBytes, 65_536);
}

export function screen(
  frame: string | ArrayBuffer,
  json: boolean,
  buckets: { main: Bucket; typing: Bucket },
  now: number,
  limits: ScreenLimits,
): Screened {
  // Typing notices come every few seconds while someone types: they must not eat the budget of the chat lines.
  if (json && frame === TYPING_FRAME && take(buckets.typing, now, TYPING_LIMIT) === "ok") return "typing";
  const verdict = take(buckets.main, now, limits);
  if (verdict !== "ok") return verdict;
  if (frame === PING) return "ping";
  if (typeof frame !== "string") return "binary";
  const max = limits.maxMessageBytes;
  if (frame.length > farLimit(max)) return "far_too_big";
  // Each UTF-16 unit is 1 to 3 bytes: only frames near the limit need counting.
  if (frame.length > max || (frame.length * 3 > max && utf8Length(frame) > max)) return "too_big";
  return "ok";
}
