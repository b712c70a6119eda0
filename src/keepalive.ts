// Heartbeats and silence: who answers `ping` (the runtime while the lobby is quiet, the Lobby under the rate limit
// while anyone talks), and which sockets have gone silent (timers.ts: silence). Holds the runtime's heartbeat API
// so that the Lobby only asks.

import type { Config } from "./config";
import type { Conn } from "./sockets";
import { QUIET_MS, silence } from "./timers";
import { CloseCode, PING, PONG } from "../public/wire/protocol.js";

const SILENCE_CLOSE = { heartbeat: [CloseCode.heartbeatTimeout, "heartbeat timeout"], idle: [CloseCode.idle, "idle"] } as const;

export class Keepalive {
  /** Whether the runtime answers `ping` now; when a frame last arrived. */
  private runtimePongs = true;
  private lastFrameAt = 0;
  /** No socket can go idle before this (a lower bound, moved by each sweep). */
  idleDue: number | null = null;

  constructor(
    private readonly ctx: DurableObjectState,
    private readonly config: Config,
  ) {
    // A woken object starts quiet: heartbeats are answered without waking it.
    ctx.setWebSocketAutoResponse(new WebSocketRequestResponsePair(PING, PONG));
  }

  /** A socket that may go idle from `heardAt` on (a new one, or one found again at a wake). */
  watch(heardAt: number): void {
    this.idleDue = Math.min(this.idleDue ?? Infinity, heardAt + this.config.idleTimeoutMs);
  }

  /** A frame arrived: true when the lobby was quiet until now (pings are the Lobby's to answer from here on). */
  frame(now: number): boolean {
    this.lastFrameAt = now;
    if (!this.runtimePongs) return false;
    this.runtimePongs = false;
    this.ctx.setWebSocketAutoResponse();
    return true;
  }

  /** When the lobby will have been quiet long enough to hand pings back to the runtime, if it is not already. */
  quietDue(): number | null {
    return this.runtimePongs ? null : this.lastFrameAt + QUIET_MS;
  }

  /** A timer run: hand pings back to the runtime if the lobby has been quiet; start a new idle sweep. */
  tick(now: number): void {
    if (!this.runtimePongs && now - this.lastFrameAt >= QUIET_MS) {
      this.runtimePongs = true;
      this.ctx.setWebSocketAutoResponse(new WebSocketRequestResponsePair(PING, PONG));
    }
    this.idleDue = null;
  }

  /** How to close a socket gone silent, or null (then it counts toward the next idle sweep). */
  silent(conn: Conn, now: number): readonly [code: number, reason: string] | null {
    const pingedAt = this.ctx.getWebSocketAutoResponseTimestamp(conn.ws)?.getTime() ?? (conn.att.pinged ? conn.att.heardAt : null);
    const why = silence(pingedAt, conn.att.heardAt, now, this.config);
    if (!why) this.watch(Math.max(pingedAt ?? 0, conn.att.heardAt));
    return why && SILENCE_CLOSE[why];
  }
}
