// @ts-check
// What the bench speaks to (the real Lobby, or the zero-logic Relay, through the bench worker's routes), and its
// three phases on either: log users in, pair them, and the timed relay (requesters send numbered, timestamped
// lines with a sliding window; partners check the order and the latency).

import { performance } from "node:perf_hooks";
import { parseEvent } from "../public/wire/protocol.js";
import { messageLine } from "../public/wire/text.js";
import { Client, closeAll, encode, limiter, pairUp } from "../scripts/lib/client.mjs";
import { quantile } from "../scripts/lib/figures.mjs";

/** @typedef {import("../public/wire/protocol.js").Dialect} Dialect */

/**
 * @typedef {object} Target
 * @property {string} label
 * @property {(room: string) => string} path
 * @property {Dialect} dialect  what its clients open with (the Relay's offer no subprotocol)
 * @property {(c: Client) => Promise<void>} login  from an open socket to logged in
 * @property {"request" | "arrival"} pairing
 * @property {(body: string) => string} say  a chat line as a frame
 * @property {(from: string) => (frame: string) => string | null} hearFrom  reads a frame relayed from `from`:
 *   the chat line holding the body (read from its end), or null for any other frame
 * @property {boolean} [offersDeflate]  whether its clients offer permessage-deflate, whatever the run's setting
 *   (two targets that differ only in this compare a browser-like client with a plain one under the same noise)
 */

/** The bench worker's routes to the Lobby class and its bench-only variants, with their labels. */
const LOBBY_ROUTES = {
  lobby: "Lobby",
  probe: "Lobby probe",
  nowrite: "Lobby, no writes",
};

/** @param {string} frame */
const jsonText = (frame) => {
  const e = /** @type {{ type: string, text?: string } | null} */ (parseEvent(frame));
  return e?.type === "message" || e?.type === "say" ? (e.text ?? null) : null;
};

/**
 * The real Lobby. `via` picks the bench worker's route: `lobby` (as src/index.ts forwards it), `probe` (the counting
 * subclass) or `nowrite` (storage writes dropped).
 * @param {Dialect} dialect
 * @param {keyof typeof LOBBY_ROUTES} [via]
 * @returns {Target}
 */
export function lobbyTarget(dialect, via = "lobby") {
  return {
    label: LOBBY_ROUTES[via],
    path: (room) => `/${via}/ws?lobby=${room}`,
    dialect,
    // Like the Relay's clients, and like any program, the name goes out as soon as the socket is open: the Lobby
    // reads a new socket's first frame as its name, prompt or not (PROTOCOL.md).
    async login(c) {
      const ev = await c.login();
      if (ev.type !== "welcome") throw new Error(`${c.name} was not let in: ${JSON.stringify(ev)}`);
    },
    pairing: "request",
    say: (body) => encode({ type: "say", text: body }, dialect),
    hearFrom(from) {
      if (dialect === "json") return jsonText;
      // "alice: 12 345.678": the numbers are read from the end, so the line needs no more parsing.
      const prefix = messageLine(from, "") ?? "";
      return (frame) => (frame.startsWith(prefix) ? frame : null);
    },
  };
}

/**
 * The zero-logic Relay (bench/relay.ts): "hello NAME" for a name, "paired NAME" for a second frame, and from then
 * on every frame to the partner as it is, so the clients' JSON lines go through verbatim.
 * @param {Dialect} dialect
 * @returns {Target}
 */
export function relayTarget(dialect) {
  return {
    label: "Relay",
    path: (room) => `/relay/ws?room=${room}`,
    dialect: "text",
    async login(c) {
      c.sendRaw(c.name);
      await c.next((e) => e.type === "other" && e.raw === `hello ${c.name}`, "hello");
    },
    pairing: "arrival",
    say: (body) => encode({ type: "say", text: body }, dialect),
    hearFrom: () => (dialect === "json" ? jsonText : (frame) => frame),
  };
}

/**
 * Opens and logs in `n` users; each login is the WebSocket handshake, the name and the answer.
 * @param {Target} target
 * @param {{ base: string, room: string, n: number, deflate: boolean, concurrency: number, prefix?: string }} opts
 *   `base`: the server's ws:// URL
 * @returns {Promise<{ clients: Client[], secs: number, negotiated: string }>}
 */
export async function loginAll(target, { base, room, n, deflate, concurrency, prefix = "u" }) {
  const url = new URL(target.path(room), base).href;
  const accounts = Array.from({ length: n }, (_, i) => ({ url, name: `${prefix}${i}` }));
  const { clients, secs } = await openAll(target, accounts, { deflate, concurrency });
  return { clients, secs, negotiated: clients[0]?.ws.extensions ?? "" };
}

/**
 * Opens and logs in one user per account (its socket URL and name), at most `concurrency` at once; timed. If any
 * fails, every socket opened is closed and the first failure thrown.
 * @param {Target} target
 * @param {{ url: string, name: string }[]} accounts
 * @param {{ deflate?: boolean, concurrency: number }} opts
 * @returns {Promise<{ clients: Client[], secs: number }>}
 */
export async function openAll(target, accounts, { deflate = false, concurrency }) {
  const run = limiter(concurrency);
  /** @type {Client[]} */
  const clients = [];
  const start = performance.now();
  const opened = await Promise.allSettled(
    accounts.map(({ url, name }, i) =>
      run(async () => {
        const c = await Client.open(url, name, { dialect: target.dialect, deflate });
        clients[i] = c;
        await target.login(c);
      }),
    ),
  );
  const secs = (performance.now() - start) / 1000;
  const failed = opened.find((r) => r.status === "rejected");
  if (failed) {
    await closeAll(clients.filter(Boolean));
    throw failed.reason;
  }
  return { clients, secs };
}

/** @typedef {{ from: Client, to: Client }} Pair */

/**
 * Pairs the users. The Lobby: user 2i asks user 2i+1, who accepts (two round trips). The Relay: every user sends
 * one frame and the relay pairs consecutive arrivals (one round trip), telling each its partner.
 * @param {Target} target
 * @param {Client[]} clients
 * @param {number} concurrency
 * @returns {Promise<{ pairs: Pair[], secs: number }>}
 */
export async function pairAll(target, clients, concurrency) {
  const run = limiter(concurrency);
  const start = performance.now();
  /** @type {Pair[]} */
  const pairs = [];
  if (target.pairing === "request") {
    for (let i = 0; i + 1 < clients.length; i += 2) pairs.push({ from: /** @type {Client} */ (clients[i]), to: /** @type {Client} */ (clients[i + 1]) });
    await Promise.all(pairs.map(({ from, to }) => run(() => pairUp(from, to))));
  } else {
    const byName = new Map(clients.map((c) => [c.name, c]));
    /** @type {Map<Client, Client>} */
    const partnerOf = new Map();
    await Promise.all(
      clients.map((c) =>
        run(async () => {
          c.sendRaw("pair");
          const { ev } = await c.next((e) => e.type === "other" && e.raw.startsWith("paired "), "paired");
          const partner = byName.get(ev.type === "other" ? ev.raw.slice("paired ".length) : "");
          if (!partner) throw new Error(`${c.name} was paired with a stranger: ${JSON.stringify(ev)}`);
          partnerOf.set(c, partner);
        }),
      ),
    );
    for (const c of clients) {
      const partner = partnerOf.get(c);
      if (!partner || partnerOf.get(partner) !== c) throw new Error(`${c.name} and ${partner?.name} disagree on the pairing`);
      if (clients.indexOf(c) < clients.indexOf(partner)) pairs.push({ from: c, to: partner });
    }
  }
  return { pairs, secs: (performance.now() - start) / 1000 };
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
 * checks SEQ and takes TIME's age as the latency (one process, one clock). The partners read their lines through
 * a tap, undecoded; any other frame (a check, presence) goes on to the client, which answers checks.
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
  const rxBytes = () => pairs.reduce((sum, p) => sum + (p.to.socket?.bytesRead ?? 0), 0);
  const rxBefore = rxBytes();

  return new Promise((resolve) => {
    const start = performance.now();
    const finish = () => {
      clearInterval(watchdog);
      for (const { to } of pairs) to.tap = null;
      const secs = (lastAt - start) / 1000;
      const sorted = latencies.subarray(0, delivered).sort();
      resolve({
        messages: delivered,
        secs,
        rate: delivered / secs,
        p50: quantile(sorted, 0.5),
        p99: quantile(sorted, 0.99),
        lost: expected - delivered,
        reordered,
        rxBytesPerMsg: delivered ? (rxBytes() - rxBefore) / delivered : NaN,
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
      const hear = target.hearFrom(pair.from.name);
      const pump = () => {
        while (sent < messages && sent - received < window) {
          pair.from.sendRaw(target.say(`${filler} ${sent++} ${performance.now().toFixed(3)}`));
        }
      };
      pair.to.tap = (frame) => {
        const body = hear(frame);
        if (body === null) return false;
        const now = performance.now();
        const space = body.lastIndexOf(" ");
        const seqAt = body.lastIndexOf(" ", space - 1) + 1;
        const seq = Number(body.slice(seqAt, space));
        if (seq !== next) reordered++;
        next = seq + 1;
        latencies[delivered++] = now - Number(body.slice(space + 1));
        received++;
        lastAt = now;
        if (delivered === expected) finish();
        else pump();
        return true;
      };
      pump();
    }
  });
}
