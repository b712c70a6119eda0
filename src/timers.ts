// When the Lobby must wake, and which sockets have gone silent: pure decisions over times.

export interface SilenceLimits {
  /** A socket that has pinged and then stays silent this long is dead (a Chrome tab closed without a close event). */
  heartbeatTimeoutMs: number;
  /** Any socket silent this long is closed, pinging or not: a name is not held by a socket that says nothing. */
  idleTimeoutMs: number;
}

/**
 * Why a socket should be closed for silence, or null. `pingedAt` is the last heartbeat (null: never pinged),
 * `heardAt` the last frame of any kind. A client that heartbeats (the web and terminal clients, every 20 s) is
 * held to the short heartbeat timeout and never reaches the idle one; a client that never pings (wscat) is
 * closed only after the long idle timeout.
 */
export function silence(pingedAt: number | null, heardAt: number, now: number, limits: SilenceLimits): "heartbeat" | "idle" | null {
  const heard = Math.max(pingedAt ?? 0, heardAt);
  if (pingedAt !== null && now - heard > limits.heartbeatTimeoutMs) return "heartbeat";
  if (now - heard > limits.idleTimeoutMs) return "idle";
  return null;
}

/**
 * The runtime answers `ping` itself only once the lobby has been quiet this long. While anyone is talking the
 * Lobby answers pings, through the same rate limit as every frame, so a ping flood costs its sender its socket;
 * a quiet lobby lets the runtime answer them and goes back to hibernation.
 */
export const QUIET_MS = 3000;

export interface AlarmInputs {
  /** The earliest pending request's deadline. */
  requestDeadline: number | null;
  /** Someone is in a chat or a request: a silent socket there keeps a partner waiting, so sweep often. */
  engaged: boolean;
  /** When batched presence is due, if any is waiting. */
  presenceDue: number | null;
  /** The earliest time any socket could be idle past the idle timeout. */
  idleDue: number | null;
  /** When the lobby will have been quiet for QUIET_MS, while the runtime is not answering pings. */
  quietDue: number | null;
}

/** One alarm serves every timer: the earliest of them, or null for none (an idle lobby has no alarm). */
export function nextAlarm(t: AlarmInputs, now: number, heartbeatTimeoutMs: number): number | null {
  let next: number | null = null;
  const consider = (at: number | null) => {
    if (at !== null && (next === null || at < next)) next = at;
  };
  consider(t.requestDeadline);
  consider(t.engaged ? now + Math.max(1000, heartbeatTimeoutMs / 3) : null);
  consider(t.presenceDue);
  consider(t.idleDue);
  consider(t.quietDue);
  return next;
}
