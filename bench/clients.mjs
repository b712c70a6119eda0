// @ts-check
// The benchmark's users: one WebSocket each, the login and pairing dialogue of each target, and the timed relay
// (requesters send numbered, timestamped lines with a sliding window; partners check the order and the latency).

import { performance } from "node:perf_hooks";
import WebSocket from "ws";
import { JSON_SUBPROTOCOL } from "../public/wire/protocol.js";
import { say } from "../public/wire/text.js";

/** How long one expected frame may take before the benchmark gives up with an explanation. */
const FRAME_TIMEOUT_MS = 30_000;

export class Client {
  /**
   * @param {WebSocket} ws
   * @param {string} name
   * @param {import("node:net").Socket | null} socket  the TCP socket, for byte counts
   */
  constructor(ws, name, socket) {
    this.ws = ws;
    this.name = name;
    this.socket = socket;
    /** @type {string[]} */
    this.frames = [];
    /** @type {(() => void) | null} */
    this.wake = null;
    /** While set, frames go here instead of the queue (the timed relay). @type {((frame: string) => void) | null} */
    this.onFrame = null;
    /** @type {Promise<void>} */
    this.closed = new Promise((res) => ws.once("close", () => res()));
    // A socket error is followed by a close event, which is what the benchmark waits for.
    ws.on("error", () => {});
    ws.on("message", (data) => {
      const frame = String(data);
      if (this.onFrame) return this.onFrame(frame);
      this.frames.push(frame);
      this.wake?.();
    });
  }

  /**
   * @param {string} url
   * @param {string} name
   * @param {{ protocol?: string, deflate: boolean }} opts
   * @returns {Promise<Client>}
   */
  static open(url, name, { protocol, deflate }) {
    return new Promise((res, rej) => {
      const ws = new WebSocket(url, protocol ? [protocol] : [], { perMessageDeflate: deflate });
      /** @type {import("node:net").Socket | null} */
      let socket = null;
      ws.once("upgrade", (response) => (socket = /** @type {import("node:net").Socket} */ (response.socket)));
      ws.once("open", () => res(new Client(ws, name, socket)));
      ws.once("error", (err) => rej(new Error(`${name}: could not open ${url}: ${err.message}`)));
    });
  }

  /** @param {string} frame */
  send(frame) {
    this.ws.send(frame);
  }

  /**
   * The next frame `match` accepts; frames before it are skipped (they are remembered for the error message).
   * @param {string | ((frame: string) => boolean)} match  a prefix, or a predicate
   * @returns {Promise<string>}
   */
  async until(match, timeoutMs = FRAME_TIMEOUT_MS) {
    const ok = typeof match === "string" ? (/** @type {string} */ f) => f.startsWith(match) : match;
    const deadline = performance.now() + timeoutMs;
    /** @type {string[]} */
    const skipped = [];
    for (;;) {
      while (this.frames.length > 0) {
        const frame = /** @type {string} */ (this.frames.shift());
        if (ok(frame)) return frame;
        skipped.push(frame);
      }
      const left = deadline - performance.now();
      if (left <= 0 || this.ws.readyState !== WebSocket.OPEN) {
        const what = typeof match === "string" ? JSON.stringify(match) : "the expected frame";
        throw new Error(
          `${this.name} never got ${what} in ${timeoutMs} ms (socket ${this.ws.readyState === WebSocket.OPEN ? "open" : "closed"}); ` +
            `skipped: ${JSON.stringify(skipped.slice(-5))}`,
        );
      }
      await new Promise((res) => {
        const timer = setTimeout(res, left);
        this.wake = () => {
          clearTimeout(timer);
          this.wake = null;
          res(undefined);
        };
      });
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Targets: the same benchmark speaks to the Lobby (text or JSON dialect) and to the Relay.

/**
 * @typedef {"text" | "json"} Dialect
 * @typedef {object} Target
 * @property {string} label
 * @property {(room: string) => string} path
 * @property {string} [protocol]
 * @property {(c: Client) => Promise<void>} login  from an open socket to logged in
 * @property {"request" | "arrival"} pairing
 * @property {(body: string) => string} say  a chat line as a frame
 * @property {(frame: string) => string | null} hear  a relayed chat line's text, or null for any other frame
 */


/** The bench worker's routes to the Lobby class and its bench-only variants, with their labels. */
export const LOBBY_ROUTES = {
  lobby: "Lobby",
  "lobby-strip": "Lobby, stripped",
  probe: "Lobby probe",
  nowrite: "Lobby, no writes",
};
/** @param {string} frame */
const hearJson = (frame) => {
  const v = JSON.parse(frame);
  return v.type === "message" || v.type === "say" ? v.text : null;
};
/** @param {string} body */
const sayJson = (body) => JSON.stringify({ type: "say", text: body });

/**
 * The real Lobby. `via` picks the bench worker's route: `lobby` (as src/index.ts forwards it), `lobby-strip`
 * (Sec-WebSocket-Extensions removed first), `probe` (the counting subclass) or `nowrite` (storage writes dropped).
 * @param {Dialect} dialect
 * @param {keyof typeof LOBBY_ROUTES} [via]
 * @returns {Target}
 */
export function lobbyTarget(dialect, via = "lobby") {
  const path = (/** @type {string} */ room) => `/${via}/ws?lobby=${room}`;
  const label = LOBBY_ROUTES[via];
  if (dialect === "json") {
    return {
      label,
      path,
      protocol: JSON_SUBPROTOCOL,
      pairing: "request",
      // Like the Relay's clients, and like any program, the name goes out as soon as the socket is open: the
      // Lobby reads a new socket's first frame as its name, prompt or not (PROTOCOL.md).
      async login(c) {
        c.send(JSON.stringify({ type: "login", name: c.name }));
        await c.until((f) => f.includes('"welcome"'));
      },
      say: sayJson,
      hear: hearJson,
    };
  }
  return {
    label,
    path,
    pairing: "request",
    async login(c) {
      c.send(c.name);
      // One frame: the welcome and the command summary under it.
      await c.until(say("welcome", { name: c.name }));
    },
    say: (body) => body,
    // "alice: 12 345.678": the numbers are read from the end, so the sender's name needs no parsing.
    hear: (frame) => frame,
  };
}

/**
 * The zero-logic Relay: speaks whatever the clients speak, verbatim.
 * @param {Dialect} dialect
 * @returns {Target}
 */
export function relayTarget(dialect) {
  return {
    label: "Relay",
    path: (room) => `/relay/ws?room=${room}`,
    pairing: "arrival",
    async login(c) {
      c.send(c.name);
      await c.until(`hello ${c.name}`);
    },
    say: dialect === "json" ? sayJson : (body) => body,
    hear: dialect === "json" ? hearJson : (frame) => frame,
  };
}

// ---------------------------------------------------------------------------------------------
// Phases

/**
 * Runs `fn` over `items` with at most `limit` in flight.
 * @template T
 * @param {T[]} items
 * @param {number} limit
 * @param {(item: T, index: number) => Promise<void>} fn
 */
export async function pool(items, limit, fn) {
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      await fn(/** @type {T} */ (items[i]), i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}

/**
 * Opens and logs in `n` users; each login is the WebSocket handshake, the name and the answer.
 * @param {Target} target
 * @param {{ base: string, room: string, n: number, deflate: boolean, concurrency: number, prefix?: string }} opts
 * @returns {Promise<{ clients: Client[], secs: number, negotiated: string }>}
 */
export async function loginAll(target, { base, room, n, deflate, concurrency, prefix = "u" }) {
  /** @type {Client[]} */
  const clients = new Array(n);
  const url = base + target.path(room);
  const start = performance.now();
  try {
    await pool([...Array(n).keys()], concurrency, async (i) => {
      const c = await Client.open(url, `${prefix}${i}`, { protocol: target.protocol, deflate });
      clients[i] = c;
      await target.login(c);
    });
  } catch (err) {
    await closeAll(clients.filter(Boolean));
    throw err;
  }
  const secs = (performance.now() - start) / 1000;
  return { clients, secs, negotiated: clients[0]?.ws.extensions ?? "" };
}

/**
 * @typedef {{ from: Client, to: Client }} Pair
 */

/**
 * Pairs the users. The Lobby: user 2i sends `connect` to user 2i+1, who answers y (two round trips). The Relay:
 * every user sends one frame and the relay pairs consecutive arrivals (one round trip), telling each its partner.
 * @param {Target} target
 * @param {Client[]} clients
 * @param {{ dialect: Dialect, concurrency: number }} opts
 * @returns {Promise<{ pairs: Pair[], secs: number }>}
 */
export async function pairAll(target, clients, { dialect, concurrency }) {
  const start = performance.now();
  /** @type {Pair[]} */
  const pairs = [];
  if (target.pairing === "request") {
    const couples = [];
    for (let i = 0; i + 1 < clients.length; i += 2) couples.push({ from: /** @type {Client} */ (clients[i]), to: /** @type {Client} */ (clients[i + 1]) });
    await pool(couples, concurrency, async ({ from, to }) => {
      await lobbyPair(from, to, dialect);
      pairs.push({ from, to });
    });
  } else {
    const byName = new Map(clients.map((c) => [c.name, c]));
    /** @type {Map<Client, Client>} */
    const partnerOf = new Map();
    await pool(clients, concurrency, async (c) => {
      c.send("pair");
      const frame = await c.until("paired ");
      const partner = byName.get(frame.slice("paired ".length));
      if (!partner) throw new Error(`${c.name} was paired with a stranger: ${frame}`);
      partnerOf.set(c, partner);
    });
    for (const c of clients) {
      const partner = partnerOf.get(c);
      if (!partner || partnerOf.get(partner) !== c) throw new Error(`${c.name} and ${partner?.name} disagree on the pairing`);
      if (clients.indexOf(c) < clients.indexOf(partner)) pairs.push({ from: c, to: partner });
    }
  }
  return { pairs, secs: (performance.now() - start) / 1000 };
}

/**
 * @param {Client} a  the requester
 * @param {Client} b
 * @param {Dialect} dialect
 */
async function lobbyPair(a, b, dialect) {
  if (dialect === "json") {
    a.send(JSON.stringify({ type: "connect", to: b.name }));
    await b.until((f) => f.includes('"incoming_request"'));
    b.send(JSON.stringify({ type: "answer", accept: true }));
    await Promise.all([a.until((f) => f.includes('"connected"')), b.until((f) => f.includes('"connected"'))]);
    return;
  }
  a.send(`connect ${b.name}`);
  await b.until(`${a.name} is trying to connect with you`);
  b.send("y");
  await Promise.all([a.until(`You are now connected with ${b.name}`), b.until(`You are now connected with ${a.name}`)]);
}

/**
 * @typedef {object} FlowResult
 * @property {number} messages  delivered
 * @property {number} secs
 * @property {number} rate  delivered per second
 * @property {number} p50  ms
 * @property {number} p99  ms
 * @property {number} lost  sent but never delivered
 * @property {number} reordered  delivered with a sequence number other than the previous one + 1
 * @property {number} rxBytesPerMsg  TCP bytes the partners received per delivered message (compression shows here)
 * @property {Float64Array} latencies  ms, of every delivered message, sorted
 */

/** Chat-like filler, so that permessage-deflate sees text it can compress, as it would in a real chat. */
const FILLER = "the quick brown fox jumps over the lazy dog while alice and bob chat about the weather ".repeat(8);

/**
 * Every requester sends `messages` lines "FILLER SEQ TIME" with at most `window` not yet delivered; its partner
 * checks SEQ and takes TIME's age as the latency (one process, one clock).
 * @param {Target} target
 * @param {Pair[]} pairs
 * @param {{ messages: number, window: number, bytes: number, stallMs?: number }} opts
 * @returns {Promise<FlowResult>}
 */
export function relayFlow(target, pairs, { messages, window, bytes, stallMs = 10_000 }) {
  const expected = pairs.length * messages;
  const latencies = new Float64Array(expected);
  // "FILLER SEQ TIME": the two numbers take about 16 bytes; a space keeps the filler off the sequence number.
  const filler = FILLER.slice(0, Math.max(0, bytes - 17));
  let delivered = 0;
  let reordered = 0;
  let lastAt = performance.now();
  const rxBefore = pairs.reduce((sum, p) => sum + (p.to.socket?.bytesRead ?? 0), 0);

  return new Promise((resolve) => {
    const start = performance.now();
    const finish = () => {
      clearInterval(watchdog);
      for (const { to } of pairs) to.onFrame = null;
      const secs = (lastAt - start) / 1000;
      const sorted = latencies.subarray(0, delivered).sort();
      const at = (/** @type {number} */ q) => (delivered ? /** @type {number} */ (sorted[Math.min(delivered - 1, Math.floor(q * delivered))]) : NaN);
      const rx = pairs.reduce((sum, p) => sum + (p.to.socket?.bytesRead ?? 0), 0) - rxBefore;
      resolve({
        messages: delivered,
        secs,
        rate: delivered / secs,
        p50: at(0.5),
        p99: at(0.99),
        lost: expected - delivered,
        reordered,
        rxBytesPerMsg: delivered ? rx / delivered : NaN,
        latencies: sorted,
      });
    };
    const watchdog = setInterval(() => {
      if (performance.now() - lastAt > stallMs) finish();
    }, 250);

    for (const pair of pairs) {
      let sent = 0;
      let received = 0;
      let next = 0;
      const pump = () => {
        while (sent < messages && sent - received < window) {
          pair.from.send(target.say(`${filler} ${sent++} ${performance.now().toFixed(3)}`));
        }
      };
      pair.to.onFrame = (frame) => {
        const body = target.hear(frame);
        if (body === null) return; // presence and the like
        const now = performance.now();
        const space = body.lastIndexOf(" ");
        const seqAt = body.lastIndexOf(" ", space - 1) + 1;
        const seq = Number(body.slice(seqAt, space));
        if (seq !== next) reordered++;
        next = seq + 1;
        latencies[delivered++] = now - Number(body.slice(space + 1));
        received++;
        lastAt = now;
        if (delivered === expected) return finish();
        pump();
      };
      pump();
    }
  });
}

/**
 * Closes every socket and waits for the server's answering close frames, so that the departures are over before
 * the next measurement starts.
 * @param {Client[]} clients
 */
export async function closeAll(clients, timeoutMs = 15_000) {
  for (const c of clients) {
    if (c.ws.readyState === WebSocket.OPEN || c.ws.readyState === WebSocket.CONNECTING) c.ws.close(1000, "bench done");
  }
  let timer;
  const all = Promise.all(clients.map((c) => c.closed));
  const late = new Promise((res) => (timer = setTimeout(res, timeoutMs)));
  await Promise.race([all, late]);
  clearTimeout(timer);
  for (const c of clients) if (c.ws.readyState !== WebSocket.CLOSED) c.ws.terminate();
}
