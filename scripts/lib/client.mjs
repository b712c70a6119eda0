// @ts-check
// The tools' user of Parley (the load test's and the bench's): one WebSocket speaking either dialect through the
// wire (public/wire/), every frame read into one event shape, the server's checks answered as a reading client
// answers them, and waits for events that say, when they time out, what they waited for.

import WebSocket from "ws";
import { JSON_SUBPROTOCOL, PONG, parseEvent } from "../../public/wire/protocol.js";
import { readLine } from "../../public/wire/text.js";

/** @typedef {import("../../public/wire/protocol.js").Dialect} Dialect */
/** @typedef {import("../../public/wire/protocol.js").ClientAction} Action */
/** @typedef {import("../../public/wire/text.js").Sentence} Sentence */

/**
 * What the tools make of a frame, in either dialect: the JSON dialect's events that they act on (a text line is
 * read back into the same event, with the fields its sentence carries), `said` for another sentence of the text
 * dialect (its errors among them: the text dialect carries no error code), and `other` for anything unreadable.
 * @typedef {{ type: "ask_name" }
 *   | { type: "welcome", name: string, resume?: { token: string, graceMs: number } }
 *   | { type: "name_rejected", reason: string }
 *   | { type: "request_sent", to: string }
 *   | { type: "incoming_request", from: string }
 *   | { type: "connected", with: string }
 *   | { type: "message", from: string, text: string, seq?: number }
 *   | { type: "partner_left", name: string, reason: "exit" | "disconnected" }
 *   | { type: "you_left", with: string }
 *   | { type: "users", total: number }
 *   | { type: "presence" }
 *   | { type: "check", token: string }
 *   | { type: "error", code: string, message: string }
 *   | { type: "bye" }
 *   | { type: "pong" }
 *   | { type: "resumed", name: string, resume: { token: string, graceMs: number }, partner: string | null, missed: Ev[] }
 *   | { type: "resume_failed" }
 *   | { type: "partner_away", name: string }
 *   | { type: "partner_back", name: string, seen: number | null }
 *   | { type: "seen", seq: number }
 *   | { type: "said", sentence: Sentence, fields: Record<string, string>, line: string }
 *   | { type: "other", raw: string }} Ev
 */

/** @typedef {{ t: number, ev: Ev }} Received  an event, with performance.now() when its frame arrived */

/** The JSON events passed on as they are; any other type is `other`. */
const JSON_EVENTS = new Set([
  "ask_name", "welcome", "name_rejected", "request_sent", "incoming_request", "connected", "message", "partner_left",
  "you_left", "users", "presence", "check", "error", "bye",
  // Resuming (the load test's --drops): JSON only.
  "resumed", "resume_failed", "partner_away", "partner_back", "seen",
]);

/**
 * Which event each text sentence words (the inverse of renderText in public/wire/text.js); null for a line that
 * continues the event before it (the command summary under `welcome`, the entries under `users`).
 * @type {Partial<Record<Sentence, (f: Record<string, string>) => Ev | null>>}
 */
const FROM_TEXT = {
  ask_name: () => ({ type: "ask_name" }),
  welcome: (f) => ({ type: "welcome", name: f.name ?? "" }),
  commands: () => null,
  name_taken: () => ({ type: "name_rejected", reason: "taken" }),
  name_confusable: () => ({ type: "name_rejected", reason: "confusable" }),
  name_invalid: () => ({ type: "name_rejected", reason: "invalid" }),
  request_sent: (f) => ({ type: "request_sent", to: f.to ?? "" }),
  incoming_request: (f) => ({ type: "incoming_request", from: f.from ?? "" }),
  connected: (f) => ({ type: "connected", with: f.with ?? "" }),
  message: (f) => ({ type: "message", from: f.from ?? "", text: f.text ?? "" }),
  partner_exited: (f) => ({ type: "partner_left", name: f.name ?? "", reason: "exit" }),
  partner_dropped: (f) => ({ type: "partner_left", name: f.name ?? "", reason: "disconnected" }),
  you_left: (f) => ({ type: "you_left", with: f.with ?? "" }),
  users_total: (f) => ({ type: "users", total: Number(f.total) }),
  users_entry: () => null,
  users_you: () => null,
  users_more: () => null,
  check: (f) => ({ type: "check", token: f.token ?? "" }),
  bye: () => ({ type: "bye" }),
};

/**
 * The events in one frame: one in JSON, one per line in the text dialect (an event of several lines is one frame).
 * @param {string} frame
 * @param {Dialect} dialect
 * @returns {Ev[]}
 */
export function decode(frame, dialect) {
  if (frame === PONG) return [{ type: "pong" }];
  if (dialect === "json") {
    const e = parseEvent(frame);
    return [e && JSON_EVENTS.has(e.type) ? /** @type {Ev} */ (e) : { type: "other", raw: frame.slice(0, 200) }];
  }
  /** @type {Ev[]} */
  const events = [];
  for (const line of frame.split("\n")) {
    const read = readLine(line);
    const toEvent = read && FROM_TEXT[read.sentence];
    if (!read) events.push({ type: "other", raw: line.slice(0, 200) });
    else if (!toEvent) events.push({ type: "said", sentence: read.sentence, fields: read.fields, line });
    else {
      const ev = toEvent(read.fields);
      if (ev) events.push(ev);
    }
  }
  return events;
}

/**
 * An action as the frame a client sends. Text commands carry a `/`, as a program should send them: they then mean
 * the same in every state (a bare line in a chat is a message, and right after one is refused).
 * @param {Action} action
 * @param {Dialect} dialect
 */
export function encode(action, dialect) {
  if (dialect === "json") return JSON.stringify(action);
  switch (action.type) {
    case "login":
      return action.name;
    case "say":
      return action.text;
    case "connect":
      return action.to === undefined ? "/connect" : `/connect ${action.to}`;
    case "answer":
      return action.accept ? "/y" : "/n";
    case "checked":
      return `/ok ${action.token}`;
    default:
      return `/${action.type}`;
  }
}

let nextId = 0;

export class Client {
  /** Every event received, in order, unless a tap took its frame. */
  received = /** @type {Received[]} */ ([]);
  /** Events before this index have been looked at by a wait. */
  cursor = 0;
  /**
   * Sees every frame first; returning true consumes it (the bench's timed lines, read without decoding).
   * @type {((frame: string) => boolean) | null}
   */
  tap = null;
  /** @type {string | null} why the socket is unusable, once it is */
  dead = null;
  /** @type {number | null} the close code, once closed */
  closeCode = null;
  /** @type {{ pred: (ev: Ev) => boolean, resolve: (r: Received) => void, reject: (e: Error) => void } | null} */
  waiter = null;
  /** @type {import("node:net").Socket | null} the TCP socket, for byte counts */
  socket = null;

  /**
   * @param {WebSocket} ws
   * @param {string} name
   * @param {Dialect} dialect
   * @param {((c: Client, ev: Ev, t: number) => void) | undefined} onEvent  sees every event before any wait
   */
  constructor(ws, name, dialect, onEvent) {
    this.id = nextId++;
    this.ws = ws;
    this.name = name;
    this.dialect = dialect;
    /** @type {Promise<void>} */
    this.ended = new Promise((res) => ws.once("close", () => res()));
    ws.once("upgrade", (response) => (this.socket = /** @type {import("node:net").Socket} */ (response.socket)));
    ws.on("message", (data) => {
      const frame = String(data);
      if (this.tap?.(frame)) return;
      const t = performance.now();
      for (const ev of decode(frame, dialect)) {
        // Proof of reading (see src/unread.ts): a client that reads what it is sent echoes each check at once.
        if (ev.type === "check") this.sendRaw(encode({ type: "checked", token: ev.token }, dialect));
        this.received.push({ t, ev });
        onEvent?.(this, ev, t);
        const w = this.waiter;
        if (w?.pred(ev)) {
          this.waiter = null;
          this.cursor = this.received.length;
          w.resolve({ t, ev });
        }
      }
    });
    ws.on("close", (code) => {
      this.closeCode = code;
      this.fail(`socket closed (${code})`);
    });
    ws.on("error", (err) => this.fail(`socket error: ${err.message}`));
  }

  /**
   * A socket to `url`, open; in the JSON dialect it offers the dialect's subprotocol.
   * @param {string} url
   * @param {string} name
   * @param {{ dialect?: Dialect, deflate?: boolean, timeoutMs?: number, onEvent?: (c: Client, ev: Ev, t: number) => void }} [opts]
   * @returns {Promise<Client>}
   */
  static open(url, name, { dialect = "text", deflate = false, timeoutMs = 30_000, onEvent } = {}) {
    const ws = new WebSocket(url, dialect === "json" ? [JSON_SUBPROTOCOL] : [], { perMessageDeflate: deflate, handshakeTimeout: timeoutMs });
    const client = new Client(ws, name, dialect, onEvent);
    return new Promise((res, rej) => {
      ws.once("open", () => res(client));
      ws.once("error", (err) => rej(new Error(`${name}: could not open ${url}: ${err.message}`)));
    });
  }

  /** @param {string} why */
  fail(why) {
    if (this.dead) return;
    this.dead = why;
    const w = this.waiter;
    this.waiter = null;
    w?.reject(new Error(`${this.name}: ${why}`));
  }

  /** @param {Action} action */
  send(action) {
    this.sendRaw(encode(action, this.dialect));
  }

  /**
   * A frame as it is; dropped when the socket is not open (the next wait says why).
   * @param {string} frame
   */
  sendRaw(frame) {
    if (this.ws.readyState === WebSocket.OPEN) this.ws.send(frame);
  }

  /**
   * The first event from the cursor on that `pred` accepts; the events it passes over stay in `received`.
   * @param {(ev: Ev) => boolean} pred
   * @param {string} what  for the error: "no <what> within N ms"
   * @param {number} [timeoutMs]
   * @returns {Promise<Received>}
   */
  next(pred, what, timeoutMs = 30_000) {
    const received = this.received;
    for (let i = this.cursor; i < received.length; i++) {
      const r = /** @type {Received} */ (received[i]);
      if (pred(r.ev)) {
        this.cursor = i + 1;
        return Promise.resolve(r);
      }
    }
    this.cursor = received.length;
    if (this.dead) return Promise.reject(new Error(`${this.name}: waiting for ${what}, but ${this.dead}`));
    if (this.waiter) return Promise.reject(new Error(`${this.name}: two waits at once (${what})`));
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiter = null;
        const last = received.slice(-3).map((r) => JSON.stringify(r.ev));
        reject(new Error(`${this.name}: no ${what} within ${timeoutMs} ms (last received: ${last.join(", ") || "nothing"})`));
      }, timeoutMs);
      this.waiter = {
        pred,
        resolve: (r) => {
          clearTimeout(timer);
          resolve(r);
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      };
    });
  }

  /**
   * Sends the name and waits for the answer: `welcome`, or `name_rejected`.
   * @param {number} [timeoutMs]
   */
  async login(timeoutMs) {
    this.send({ type: "login", name: this.name });
    const { ev } = await this.next((e) => e.type === "welcome" || e.type === "name_rejected", "welcome", timeoutMs);
    return ev;
  }

  /** A crash: the TCP connection is destroyed without a close frame. */
  crash() {
    this.ws.terminate();
  }

  /**
   * `quit`, then the server's close; the socket is dropped if that does not come in time.
   * @param {number} timeoutMs
   */
  async quit(timeoutMs) {
    if (this.dead) return;
    this.send({ type: "quit" });
    await this.settle(timeoutMs);
  }

  /**
   * Closes with 1000 and waits for the server's answering close; drops the socket if that does not come in time.
   * @param {number} timeoutMs
   */
  async close(timeoutMs) {
    if (this.ws.readyState === WebSocket.OPEN) this.ws.close(1000, "done");
    await this.settle(timeoutMs);
  }

  /** @param {number} timeoutMs */
  async settle(timeoutMs) {
    /** @type {NodeJS.Timeout | undefined} */
    let timer;
    await Promise.race([this.ended, new Promise((res) => (timer = setTimeout(res, timeoutMs)))]);
    clearTimeout(timer);
    this.destroy();
  }

  /** Drops the socket if it is still open. */
  destroy() {
    if (this.ws.readyState !== WebSocket.CLOSED) this.ws.terminate();
  }
}

/**
 * `a` asks `b`, who accepts: resolves when both are told they are connected.
 * @param {Client} a
 * @param {Client} b
 * @param {number} [timeoutMs]
 */
export async function pairUp(a, b, timeoutMs) {
  a.send({ type: "connect", to: b.name });
  await b.next((e) => e.type === "incoming_request" && e.from === a.name, `request from ${a.name}`, timeoutMs);
  b.send({ type: "answer", accept: true });
  await Promise.all([
    a.next((e) => e.type === "connected" && e.with === b.name, `connected with ${b.name}`, timeoutMs),
    b.next((e) => e.type === "connected" && e.with === a.name, `connected with ${a.name}`, timeoutMs),
  ]);
}

/**
 * Closes every socket and waits for the server's answers, so that the departures are over when it resolves.
 * @param {Client[]} clients
 */
export async function closeAll(clients, timeoutMs = 15_000) {
  await Promise.all(clients.map((c) => c.close(timeoutMs)));
}

/**
 * Waits for `count` parties to say they are ready, or for `timeoutMs`, whichever comes first (a load test's ramp:
 * the chat phase starts when every user is in, or when the ramp has taken too long).
 * @param {number} count
 * @param {number} timeoutMs
 * @returns {{ ready: () => void, all: Promise<void> }}
 */
export function barrier(count, timeoutMs) {
  let arrived = 0;
  /** @type {() => void} */
  let open = () => {};
  const all = new Promise((/** @type {(v?: unknown) => void} */ r) => (open = r)).then(() => clearTimeout(timer));
  const timer = setTimeout(open, timeoutMs);
  return { ready: () => void (++arrived === count && open()), all };
}

/**
 * At most `slots` calls of the returned function's argument run at once; the others wait their turn.
 * @param {number} slots
 */
export function limiter(slots) {
  /** @type {(() => void)[]} */
  const queue = [];
  let free = slots;
  /**
   * @template T
   * @param {() => Promise<T>} fn
   * @returns {Promise<T>}
   */
  return async (fn) => {
    if (free > 0) free--;
    else await new Promise((/** @type {(v?: unknown) => void} */ r) => queue.push(r));
    try {
      return await fn();
    } finally {
      const next = queue.shift();
      if (next) next();
      else free++;
    }
  };
}
