// The one WebSocket to /ws in the JSON dialect: parses server events, keeps the heartbeat, and reconnects with
// exponential backoff and jitter when the socket drops. It knows nothing about logins or chats.

import { JSON_SUBPROTOCOL, PING, PONG, parseEvent } from "./wire/protocol.js";

/** @typedef {import("./wire/protocol.js").ServerEvent} ServerEvent */
/** @typedef {import("./wire/protocol.js").ClientAction} ClientAction */
/**
 * @typedef {{ kind: "connecting", attempt: number }
 *   | { kind: "open" }
 *   | { kind: "waiting", attempt: number, retryAt: number }
 *   | { kind: "stopped" }} LinkState
 */

export const DEFAULT = {
  /** First retry after about this long; each failed attempt multiplies it by growFactor, up to maxDelayMs. */
  minDelayMs: 1000,
  maxDelayMs: 30_000,
  growFactor: 2,
  /** Each delay is shortened by a random fraction up to this, so a restarted server is not hit by everyone at once. */
  jitter: 0.5,
  /** A socket that has not opened by then is given up and retried. */
  connectTimeoutMs: 10_000,
  /**
   * Only a socket that stayed open this long resets the backoff: one the server opens and closes at once (too
   * many connections from this address, a flood) keeps backing off instead of being retried every second.
   */
  minUptimeMs: 5_000,
  /** Until `welcome` gives the server's heartbeat timeout (see useLimits). */
  pingEveryMs: 20_000,
  /** Nothing heard for pingEveryMs + this: the connection is dead even if no close event came (a sleeping laptop). */
  silenceMs: 12_000,
  /** How often the heartbeat looks at the clock. */
  tickMs: 4_000,
};

/** @typedef {typeof DEFAULT} LinkOptions */

/**
 * How long to wait before attempt number `attempt` (0 = the first retry).
 * @param {number} attempt
 * @param {Pick<LinkOptions, "minDelayMs" | "maxDelayMs" | "growFactor" | "jitter">} [options]
 * @param {() => number} [random]
 */
export function backoffDelay(attempt, options = DEFAULT, random = Math.random) {
  const base = Math.min(options.maxDelayMs, options.minDelayMs * options.growFactor ** attempt);
  return Math.round(base * (1 - options.jitter * random()));
}


export class Link {
  /** @type {WebSocket | null} */ #ws = null;
  /** @type {LinkState} */ #state = { kind: "stopped" };
  #attempt = 0;
  #openedAt = 0;
  #lastHeard = 0;
  #lastPing = 0;
  /** @type {ReturnType<typeof setTimeout> | undefined} */ #timer;
  /** @type {(() => void) | null} */ #stopTicker = null;
  #options;

  /**
   * @param {string} url
   * @param {{ event(e: ServerEvent): void, state(s: LinkState): void, refused?(reason: string): void }} on
   * @param {Partial<LinkOptions>} [options]
   */
  constructor(url, on, options = {}) {
    this.url = url;
    this.on = on;
    this.#options = { ...DEFAULT, ...options };
  }

  get state() {
    return this.#state;
  }

  start() {
    if (this.#state.kind !== "stopped") return;
    this.#stopTicker ??= startTicker(this.#options.tickMs, () => this.#beat());
    this.#open();
  }

  /** Sends one action; false when there is no open socket (the caller tells the person). */
  send(/** @type {ClientAction} */ action) {
    if (this.#state.kind !== "open" || !this.#ws) return false;
    try {
      this.#ws.send(JSON.stringify(action));
      return true;
    } catch {
      this.#lost();
      return false;
    }
  }

  /**
   * Heartbeat as the server's limits ask (they come with `welcome`): a third of its heartbeat timeout, so two pings
   * may be lost, and at most every 20 s.
   * @param {import("./wire/protocol.js").Limits} limits
   */
  useLimits(limits) {
    this.#options.pingEveryMs = Math.max(1000, Math.min(DEFAULT.pingEveryMs, Math.floor(limits.heartbeatTimeoutMs / 3)));
  }

  /** Skip the rest of the backoff wait (a "Retry now" click, the tab becoming visible, the network returning). */
  retryNow() {
    if (this.#state.kind === "waiting") this.#open();
  }

  /** Drop this socket and open a fresh one at once, e.g. after `quit`. */
  restart() {
    this.#detach(1000, "restart");
    this.#attempt = 0;
    this.#open();
  }

  /** Close for good, with a close frame so the server frees the name at once (the page is going away). */
  stop() {
    this.#detach(1000, "page closed");
    this.#stopTicker?.();
    this.#stopTicker = null;
    this.#set({ kind: "stopped" });
  }

  #open() {
    clearTimeout(this.#timer);
    this.#set({ kind: "connecting", attempt: this.#attempt });
    let ws;
    try {
      ws = new WebSocket(this.url, JSON_SUBPROTOCOL);
    } catch {
      return this.#lost();
    }
    this.#ws = ws;
    this.#timer = setTimeout(() => this.#lost(), this.#options.connectTimeoutMs);
    ws.onopen = () => {
      clearTimeout(this.#timer);
      this.#openedAt = this.#lastHeard = this.#lastPing = Date.now();
      this.#set({ kind: "open" });
    };
    ws.onmessage = (e) => {
      this.#lastHeard = Date.now();
      if (e.data === PONG) return; // the heartbeat's answer, not JSON
      const event = parseEvent(e.data);
      // The server asks now and then for proof that this page reads what it is sent (a page that stops reading
      // would make it hold everything): echoing the token is that proof.
      if (event?.type === "check") this.send({ type: "checked", token: event.token });
      else if (event) this.on.event(event);
      else console.warn("Parley: ignored a frame that is not a server event", e.data);
    };
    // An error is always followed by a close event; the close decides.
    ws.onclose = () => {
      if (this.#state.kind === "connecting") void this.#askWhy();
      this.#lost();
    };
  }

  /**
   * A socket that never opened may have been refused (too many connections from this address, a full lobby):
   * a browser's WebSocket cannot read the refusal, so ask the server why, and say so.
   */
  async #askWhy() {
    try {
      const url = new URL(this.url);
      url.protocol = url.protocol === "wss:" ? "https:" : "http:";
      url.pathname = `${url.pathname.replace(/\/$/, "")}/admission`;
      const answer = await (await fetch(url)).json();
      if (answer && answer.ok === false && typeof answer.reason === "string") this.on.refused?.(answer.reason);
    } catch {
      // No answer either: the network is down, which the backoff already says.
    }
  }

  /** The socket is gone (closed, failed to open, or silent): wait, then try again. */
  #lost() {
    if (this.#state.kind === "stopped") return;
    const wasOpen = this.#state.kind === "open";
    this.#detach(1000, "reconnecting");
    if (wasOpen && Date.now() - this.#openedAt >= this.#options.minUptimeMs) this.#attempt = 0;
    const attempt = this.#attempt++;
    const delay = backoffDelay(attempt, this.#options);
    this.#set({ kind: "waiting", attempt, retryAt: Date.now() + delay });
    this.#timer = setTimeout(() => this.#open(), delay);
  }

  /** Forget the current socket without hearing from it again. */
  #detach(/** @type {number} */ code, /** @type {string} */ reason) {
    clearTimeout(this.#timer);
    const ws = this.#ws;
    this.#ws = null;
    if (!ws) return;
    ws.onopen = ws.onmessage = ws.onclose = null;
    try {
      ws.close(code, reason);
    } catch {
      // already closing
    }
  }

  #beat() {
    if (this.#state.kind !== "open" || !this.#ws) return;
    const now = Date.now();
    if (now - this.#lastHeard > this.#options.pingEveryMs + this.#options.silenceMs) return this.#lost();
    if (now - this.#lastPing >= this.#options.pingEveryMs) {
      this.#lastPing = now;
      try {
        this.#ws.send(PING);
      } catch {
        this.#lost();
      }
    }
  }

  #set(/** @type {LinkState} */ state) {
    this.#state = state;
    this.on.state(state);
  }
}

/**
 * Calls `fn` every `ms`. The clock runs in a worker when it can: Chrome throttles timers in a tab hidden for
 * five minutes to one wake-up a minute, which would stretch the 20 s heartbeat past the server's 45 s sweep.
 * @param {number} ms
 * @param {() => void} fn
 */
function startTicker(ms, fn) {
  try {
    const worker = new Worker(new URL("./ticker.js", import.meta.url));
    worker.onmessage = () => fn();
    worker.postMessage(ms);
    return () => worker.terminate();
  } catch {
    const id = setInterval(fn, ms);
    return () => clearInterval(id);
  }
}
