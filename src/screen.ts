// What happens to a frame before anyone reads it: the rate limit first (every frame, of any kind and size), then
// the heartbeat, binary frames and the size limit. Pure: the Lobby acts on the verdict.

import { type Bucket, take } from "./rate-limit";
import { PING, utf8Length } from "../public/wire/protocol.js";

export type Screened =
  /** Refused `rateBurst` times in a row: the sender ignored every "slow down". Close it. */
  | "flooding"
  /** Over the rate: answer "slow down", deliver nothing. */
  | "slow_down"
  /** A heartbeat to answer with `pong`. */
  | "ping"
  | "binary"
  /** Far over the size limit: the runtime read it already (up to 32 MiB), and the socket may not send another. */
  | "far_too_big"
  | "too_big"
  /** A text frame to read. */
  | "ok";

export interface ScreenLimits {
  ratePerSecond: number;
  rateBurst: number;
  maxMessageBytes: number;
}

/** A frame longer than this (in UTF-16 units, so at least this many bytes) costs its socket. */
export function farLimit(maxMessageBytes: number): number {
  return Math.max(4 * maxMessageBytes, 65_536);
}

export function screen(frame: string | ArrayBuffer, bucket: Bucket, now: number, limits: ScreenLimits): Screened {
  const verdict = take(bucket, now, limits);
  if (verdict !== "ok") return verdict;
  if (frame === PING) return "ping";
  if (typeof frame !== "string") return "binary";
  const max = limits.maxMessageBytes;
  if (frame.length > farLimit(max)) return "far_too_big";
  // Each UTF-16 unit is 1 to 3 bytes: only frames near the limit need counting.
  if (frame.length > max || (frame.length * 3 > max && utf8Length(frame) > max)) return "too_big";
  return "ok";
}
