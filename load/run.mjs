#!/usr/bin/env node
// @ts-check
// `npm run load`: N pairs of users chat, part and pair up again against a `wrangler dev` this script starts on a
// free loopback port; some crash mid-chat. At the end every transcript is checked (see check.mjs for what counts
// as lost) and one summary line is printed; the exit code is 1 when anything was lost, duplicated, reordered,
// missing or unexpected.
//
//   npm run load                                  500 pairs (1,000 users), 60 s, 10% of chats end in a crash
//   npm run load -- --pairs 50 --seconds 15
//   npm run load -- --json                        the summary as one JSON object on stdout
//   npm run load -- --drops                       100 pairs (200 users), 30 s: sockets dropped mid-chat and resumed
//   npm run load -- --homes 8                     the same 1,000 users spread over 8 home Lobbies (HOMES=8)
//   npm run load -- --help                        every option
//
// Each pair (u<i>a, u<i>b) logs in once, then loops until the time is up: one side asks (`connect`), the other
// accepts (`y`), both send tagged lines (`m<chat>.<seq>`) at --rate per second each with at most --window
// unanswered in flight, and after a random 2–6 s one side either types `exit` or, with probability
// --crash-share, crashes (ws.terminate(): the TCP connection is destroyed without a close frame). A crashed user
// logs in again with the same name once its partner has been told it left. When the time is up, each pair stops
// sending, waits for its lines to arrive, exits its chat and quits. By default (--dialect mix) u<i>a speaks the
// text dialect and u<i>b the JSON one, so every chat crosses dialects and JSON presence pushes are part of the load.
//
// With --drops (load/drops.mjs) every user speaks JSON and resumes: a share of sockets is dropped at random moments
// mid-chat, each comes back with its credential, its client resends what was not confirmed, and the checker
// demands every line exactly once and in order and every away, back and left notice.
//
// With --homes N the server runs with HOMES=N, which spreads the sockets over N "home" Lobby objects, and each
// socket asks for its home with `&home=<k>`: u<i>a lives on home i mod N and u<i>b on home (i+1) mod N, so with
// N ≥ 2 every chat, every request and every departure notice crosses from one home to another, which is what the
// homes must get right. A user that crashed logs in again on the same home. Everything is checked as with one
// Lobby. With --drops as well, every socket (and every socket that comes back to resume) lands on a home at random,
// so most resumes happen on another home than the one that holds the session.
//
// The server runs a snapshot of the code taken at the start (scripts/dev-server.mjs), with the rate limit and the
// per-address caps lifted, since all 1,000 users come from 127.0.0.1, and, without --drops, resuming off.

import { cpus, loadavg } from "node:os";
import { monitorEventLoopDelay } from "node:perf_hooks";
import { LIFTED_LIMITS, startDevServer } from "../scripts/dev-server.mjs";
import { number, oneOf, readArgs, text, whole } from "../scripts/lib/args.mjs";
import { Client, barrier, limiter, pairUp } from "../scripts/lib/client.mjs";
import { fmtMs, quantile } from "../scripts/lib/figures.mjs";
import { machineCpu } from "../scripts/lib/procs.mjs";
import { CHAT_END_GRACE_MS } from "../public/wire/text.js";
import { Problems, check, tag, untag } from "./check.mjs";
import { abortDrops, runDrops } from "./drops.mjs";

/** @typedef {import("./check.mjs").Session} Session */
/** @typedef {import("./check.mjs").ClientRecord} ClientRecord */
/** @typedef {import("../scripts/lib/client.mjs").Ev} Ev */
/** @typedef {import("../public/wire/protocol.js").Dialect} Dialect */

const opt = readArgs("npm run load -- [options]", {
  pairs: { arg: "N", help: "pairs of users (default 500; 100 with --drops)", read: whole({ max: 5000 }) },
  seconds: { arg: "S", help: "length of the chat phase, after every user has logged in (default 60; 30 with --drops)", read: number({ above: 0, max: 3600 }) },
  drops: { help: "drop sockets mid-chat (both sides, lines in flight) and resume them; every user speaks JSON,\nno chat ends in a crash, and every chat is drained before it ends" },
  "drop-share": { arg: "F", help: "with --drops: per chat and side, the chance that its socket is dropped once", default: "0.5", read: number({ atLeast: 0, max: 1 }) },
  "crash-share": { arg: "F", help: "share of chats that end with one side crashing instead of typing exit", default: "0.1", read: number({ atLeast: 0, max: 1 }) },
  rate: { arg: "R", help: "chat lines per second each user sends while in a chat", default: "2", read: number({ above: 0, max: 100 }) },
  window: { arg: "W", help: "at most W of a user's lines in flight (sent, not yet received by the partner)", default: "8", read: whole() },
  "chat-seconds": { arg: "A-B", help: "how long each chat lasts, uniformly at random", default: "2-6", read: range },
  dialect: {
    arg: "text|json|mix",
    help: "mix gives every requester-side user (u<i>a) the text dialect and every u<i>b the JSON\none, so each chat crosses dialects",
    default: "mix",
    read: oneOf("text", "json", "mix"),
  },
  homes: {
    arg: "N",
    help: "run the server with HOMES=N and put u<i>a on home i mod N, u<i>b on home (i+1) mod N (`&home=<k>`),\nso every chat crosses homes; with --drops every socket, and every socket that comes back to resume,\nlands on a home at random, so most resumes cross homes",
    read: whole({ max: 1024 }), // src/config.ts MAX_HOMES: the server clamps above it, so home=k would not match
  },
  concurrency: { arg: "C", help: "sockets being opened and logged in at once", default: "25", read: whole() },
  seed: { arg: "N", help: "seed of the random choices (default: random, printed)", read: whole({ min: 0 }) },
  "log-level": { arg: "L", help: "wrangler dev's --log-level; warn prints no line per request", default: "warn", read: text },
  direct: { help: "run the worker under Miniflare and connect to workerd itself, without wrangler dev's proxy\n(tells the Lobby's own cost from the proxy's)" },
  json: { help: "print the summary as JSON" },
});

/** @param {string} raw  "A-B", two numbers above 0 with A ≤ B */
function range(raw) {
  const [a, b, ...rest] = raw.split("-").map(number({ above: 0 }));
  if (a === undefined || b === undefined || rest.length || b < a) throw new Error("A-B with 0 < A ≤ B");
  return /** @type {[number, number]} */ ([a, b]);
}

const PAIRS = opt.pairs ?? (opt.drops ? 100 : 500);
const SECONDS = opt.seconds ?? (opt.drops ? 30 : 60);
const CRASH_SHARE = opt["crash-share"];
const RATE = opt.rate;
const WINDOW = opt.window;
const CONCURRENCY = opt.concurrency;
const SEED = opt.seed ?? Math.floor(Math.random() * 2 ** 31);
const [CHAT_MIN, CHAT_MAX] = opt["chat-seconds"];
const DIALECT = opt.dialect;
const LOBBY = `load-${crypto.randomUUID().slice(0, 8)}`;
const HOMES = opt.homes;

/**
 * The socket URL of one side of pair i: with --homes, its home on the URL (a on i mod N, b on (i+1) mod N, so the
 * two sides of a pair are on different homes whenever N ≥ 2); without, the URL as it is.
 * @param {string} wsUrl
 * @param {number} i
 * @param {0 | 1} side
 */
function userUrl(wsUrl, i, side) {
  if (HOMES === undefined) return wsUrl;
  const url = new URL(wsUrl);
  url.searchParams.set("home", String((i + side) % HOMES));
  return url.href;
}

/** How long the driver waits for each thing before calling it an error. */
const TIMEOUT = {
  devServer: 90_000,
  open: 30_000,
  login: 30_000,
  connect: 30_000,
  notice: 30_000,
  drain: 30_000,
  quit: 10_000,
  /** All users must be logged in by then; the chat phase starts anyway with whoever is. */
  ramp: 180_000,
  /** After the chat phase: the drain, the quits and the check. The hard deadline is ramp + seconds + this. */
  grace: 90_000,
};

/**
 * mulberry32: a tiny seeded PRNG, so a run's choices (chat lengths, who ends, who crashes) can be replayed.
 * @param {number} seed
 * @returns {() => number} uniform in [0, 1)
 */
function prng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const rng = prng(SEED);
/** @param {string} line */
const progress = (line) => process.stderr.write(`${line}\n`);
const sleep = (/** @type {number} */ ms) => new Promise((r) => setTimeout(r, ms));
const now = () => performance.now();

// -------------------------------------------------------------------------------------------------------------
// What the run records

/** Every incarnation of every user, as the checker reads them. */
/** @type {ClientRecord[]} */
const records = [];
/** @type {Map<Client, ClientRecord>} */
const recordOf = new Map();
/** @type {Session[]} */
const sessions = [];
/** Every socket not yet closed by us, so the end (or an abort) can drop them all. */
const live = new Set(/** @type {Client[]} */ ([]));
/** @type {WeakMap<Client, { s: Session, side: 0 | 1 }>} */
const current = new WeakMap();
/** When each client was last told its partner left (performance.now()). @type {WeakMap<Client, number>} */
const partnerLeftAt = new WeakMap();
/** Problems the driver saw live (timeouts, failed opens, sockets closed under it); the checker adds its own. */
const problems = new Problems();
/** @type {number[]} */ const latencies = [];
/** @type {number[]} */ const loginMs = [];
/** @type {number[]} */ const connectMs = [];
let crashes = 0;
let windowStalls = 0;
let stopping = false;
/** @type {() => void} */
let wakeAll = () => {};
/** Resolves when the run is aborted, so that no chat sleeps through an abort. */
const aborted = new Promise((/** @type {(v?: unknown) => void} */ r) => (wakeAll = r));
let phaseEnd = Infinity;

/**
 * Every event of every client passes here first: delivery latency, the send window, and a departure notice stops
 * the receiver from sending any further line into that chat.
 * @param {Client} client
 * @param {Ev} ev
 * @param {number} t
 */
function onEvent(client, ev, t) {
  const c = current.get(client);
  if (ev.type === "message") {
    const id = untag(ev.text);
    const s = id ? sessions[id.session] : undefined;
    if (!id || !s) return;
    const d = s.clients[0] === recordOf.get(client) ? 1 : 0;
    const sentAt = s.sentAt[d][id.seq];
    if (sentAt !== undefined) latencies.push(t - sentAt);
    s.recvCount[d]++;
  } else if ((ev.type === "partner_left" || ev.type === "you_left") && c) {
    c.s.stop[c.side] = true;
    if (ev.type === "partner_left") partnerLeftAt.set(client, t);
  }
}

// -------------------------------------------------------------------------------------------------------------
// Driving users

/** Bounds how many sockets are being opened and logged in at once. */
const gate = limiter(CONCURRENCY);

/**
 * Opens a socket and logs in as `name`. A "taken" answer (the previous incarnation's departure not processed
 * yet) is retried on the same socket a few times; the checker counts those retries.
 * @param {string} wsUrl
 * @param {string} name
 * @param {Dialect} dialect
 */
function openUser(wsUrl, name, dialect) {
  return gate(async () => {
    if (stopping) throw new Error(`${name}: not opened, the run was aborted`);
    const started = now();
    const c = await Client.open(wsUrl, name, { dialect, timeoutMs: TIMEOUT.open, onEvent });
    const rec = { id: c.id, name, recv: c.received, sessions: [] };
    records.push(rec);
    recordOf.set(c, rec);
    live.add(c);
    try {
      await c.next((e) => e.type === "ask_name", "username prompt", TIMEOUT.login);
      for (let attempt = 0; ; attempt++) {
        const ev = await c.login(TIMEOUT.login);
        if (ev.type === "welcome") break;
        if (attempt === 4) throw new Error(`${name}: login refused 5 times (${ev.type})`);
        await c.next((e) => e.type === "ask_name", "username prompt", TIMEOUT.login);
        await sleep(100 * 2 ** attempt);
      }
      loginMs.push(now() - started);
      return c;
    } catch (err) {
      c.destroy();
      live.delete(c);
      throw err;
    }
  });
}

/**
 * @param {Client} c
 * @param {string} name
 * @param {"exit" | "disconnected"} reason
 */
const partnerLeft = (c, name, reason) =>
  c.next((e) => e.type === "partner_left" && e.name === name && e.reason === reason, `"${name} has left the chat${reason === "exit" ? "" : " (disconnected)"}"`, TIMEOUT.notice);

/**
 * `ender` types exit: it is told it left, and its partner that it did.
 * @param {Client} ender
 * @param {Client} partner
 */
async function exitChat(ender, partner) {
  ender.send({ type: "exit" });
  await Promise.all([
    ender.next((ev) => ev.type === "you_left" && ev.with === partner.name, `"You left the chat with ${partner.name}"`, TIMEOUT.notice),
    partnerLeft(partner, ender.name, "exit"),
  ]);
}

/**
 * One side's chat lines: a jittered pace around --rate, skipped while --window lines are in flight.
 * @param {Session} s
 * @param {Client} c
 * @param {0 | 1} side
 */
async function sendLoop(s, c, side) {
  const gap = 1000 / RATE;
  for (;;) {
    await sleep(gap * (0.5 + rng()));
    if (s.stop[side]) return;
    if (s.sentAt[side].length - s.recvCount[side] >= WINDOW) {
      windowStalls++;
      continue;
    }
    if (c.dead) return; // the chat's next wait reports the dead socket
    const seq = s.sentAt[side].length;
    s.sentAt[side].push(now());
    c.send({ type: "say", text: tag(s.id, seq) });
  }
}

/**
 * @param {() => boolean} done
 * @param {number} timeoutMs
 * @param {string} what
 */
async function until(done, timeoutMs, what) {
  const deadline = now() + timeoutMs;
  while (!done()) {
    if (now() > deadline) throw new Error(`no ${what} within ${timeoutMs} ms`);
    await sleep(20);
  }
}

/**
 * A pair's two users, u<i>a then u<i>b, each with the URL it logs in on (and on again after a crash).
 * @typedef {{ wsUrls: [string, string], users: Client[] }} Pair
 */

/**
 * One chat of a pair, from the request to its end. Side 0 of the session is the requester.
 * @param {Pair} pair
 * @param {number} cycle requesters alternate
 */
async function chatOnce(pair, cycle) {
  const users = /** @type {[Client, Client]} */ ([pair.users[cycle % 2], pair.users[1 - (cycle % 2)]]);
  const [requester, target] = users;
  const recs = /** @type {[ClientRecord, ClientRecord]} */ (users.map((u) => recordOf.get(u)));
  /** @type {Session} */
  const s = {
    id: sessions.length,
    clients: recs,
    sentAt: [[], []],
    recvCount: [0, 0],
    stop: [false, false],
    connected: false,
    end: null,
    aborted: null,
  };
  sessions.push(s);
  for (const rec of recs) rec.sessions.push(s.id);
  current.set(requester, { s, side: 0 });
  current.set(target, { s, side: 1 });
  const loops = [];
  try {
    const t0 = now();
    await pairUp(requester, target, TIMEOUT.connect);
    s.connected = true;
    connectMs.push(now() - t0);
    loops.push(sendLoop(s, requester, 0), sendLoop(s, target, 1));

    const lasts = (CHAT_MIN + (CHAT_MAX - CHAT_MIN) * rng()) * 1000;
    await Promise.race([sleep(Math.max(0, Math.min(lasts, phaseEnd - now()))), aborted]);
    const e = rng() < 0.5 ? 0 : 1;
    const ender = users[e];
    const partner = users[1 - e];
    if (stopping) throw new Error("aborted");
    if (now() >= phaseEnd) {
      // The orderly end of the run: every line sent must arrive before the exit.
      s.stop = [true, true];
      await Promise.all(loops);
      // A line that never arrives is the checker's to count as lost; the drain only waits a bounded time for it.
      await until(() => s.recvCount[0] >= s.sentAt[0].length && s.recvCount[1] >= s.sentAt[1].length, TIMEOUT.drain, "drain").catch(() => {});
      s.end = { how: "exit", by: e, drain: true };
      await exitChat(ender, partner);
    } else if (rng() < CRASH_SHARE) {
      s.stop[e] = true;
      s.end = { how: "crash", by: e, drain: false };
      crashes++;
      live.delete(ender);
      ender.crash();
      await partnerLeft(partner, ender.name, "disconnected");
      await Promise.all(loops);
      // Back with the same name, on the same home, now that the server has let it go.
      const at = /** @type {0 | 1} */ (pair.users.indexOf(ender));
      pair.users[at] = await openUser(pair.wsUrls[at], ender.name, ender.dialect);
    } else {
      s.stop[e] = true;
      s.end = { how: "exit", by: e, drain: false };
      await exitChat(ender, partner);
      await Promise.all(loops);
    }
  } catch (err) {
    // Before the chat ended, the driver lost track of it: not checkable, and counted as an error by runPair.
    // After (a notice that never came, a failed re-login), the checker still judges the chat: it counts a
    // missing notice and lost lines.
    if (!s.end) s.aborted = err instanceof Error ? err.message : String(err);
    throw err;
  } finally {
    s.stop = [true, true];
    await Promise.allSettled(loops);
  }
}

/**
 * Notes a problem under a kind derived from its message, with the message as the example.
 * @param {string} where
 * @param {unknown} err
 */
function noteFailure(where, err) {
  const message = err instanceof Error ? err.message : String(err);
  const kind = /within \d+ ms/.test(message)
    ? `${where}_timeout`
    : /socket (closed|error)/.test(message)
      ? `${where}_socket_closed`
      : `${where}_failed`;
  problems.add(kind, message);
}

/**
 * One pair's whole life: log in, wait for everyone, chat until the time is up, quit.
 * @param {string} wsUrl
 * @param {number} i
 * @param {Promise<void>} everyoneIn
 * @param {() => void} ready
 */
async function runPair(wsUrl, i, everyoneIn, ready) {
  const dialects = /** @type {[Dialect, Dialect]} */ (DIALECT === "mix" ? ["text", "json"] : [DIALECT, DIALECT]);
  /** @type {Pair} */
  const pair = { wsUrls: [userUrl(wsUrl, i, 0), userUrl(wsUrl, i, 1)], users: [] };
  try {
    const both = await Promise.allSettled([openUser(pair.wsUrls[0], `u${i}a`, dialects[0]), openUser(pair.wsUrls[1], `u${i}b`, dialects[1])]);
    ready();
    for (const r of both) if (r.status === "fulfilled") pair.users.push(r.value);
    const failed = both.find((r) => r.status === "rejected");
    if (failed) throw Object.assign(new Error(String(failed.reason?.message ?? failed.reason)), { phase: "login" });
    await everyoneIn;
    for (let cycle = 0; !stopping && now() < phaseEnd; cycle++) await chatOnce(pair, cycle);
  } catch (err) {
    noteFailure(/** @type {{ phase?: string }} */ (err).phase ?? "chat", err);
    for (const u of pair.users) {
      u.destroy();
      live.delete(u);
    }
    return;
  }
  await Promise.all(
    pair.users.map(async (u) => {
      // For 3 s after its partner left, a text user's lines are refused, `/quit` among them (R10): quit after that.
      const wait = u.dialect === "text" ? CHAT_END_GRACE_MS - (now() - (partnerLeftAt.get(u) ?? -Infinity)) : 0;
      if (wait > 0) await sleep(wait);
      await u.quit(TIMEOUT.quit);
      live.delete(u);
      if (u.closeCode !== 1000) problems.add("quit_not_closed_1000", `${u.name}: closed with ${u.closeCode}`);
    }),
  );
}

// -------------------------------------------------------------------------------------------------------------
// The run

/** Set on Ctrl-C or SIGTERM: every socket is dropped, the server stopped, and the run ends with 130. */
let interrupted = false;
/** @type {import("../scripts/dev-server.mjs").DevServer | null} */
let dev = null;

/** @param {"interrupted" | "hard deadline"} why */
function abortAll(why) {
  if (stopping) return;
  stopping = true;
  wakeAll();
  problems.add(why === "interrupted" ? "interrupted" : "hard_deadline", `aborted (${why}); ${live.size} sockets dropped`);
  for (const c of live) c.destroy();
  live.clear();
  abortDrops();
  // Every wait has a timeout, so the pairs wind down by themselves; this is the backstop if one does not.
  setTimeout(() => {
    progress(`load: still running 30 s after the ${why}; stopping`);
    void (dev?.stop() ?? Promise.resolve()).then(() => process.exit(interrupted ? 130 : 1));
  }, 30_000).unref();
}

for (const signal of /** @type {const} */ (["SIGINT", "SIGTERM"])) {
  process.on(signal, () => {
    if (interrupted) return;
    interrupted = true;
    progress(`load: ${signal}, stopping`);
    // Still starting: exit now; the launcher's exit hook stops the server.
    if (!dev) process.exit(130);
    abortAll("interrupted");
  });
}

/** A percentile in ms, to 0.1 ms; null without samples. @param {number[]} xs @param {number} p */
function pct(xs, p) {
  const v = quantile(Float64Array.from(xs).sort(), p / 100);
  return Number.isNaN(v) ? null : Math.round(v * 10) / 10;
}

/** @param {number | null} ms */
const showMs = (ms) => fmtMs(ms ?? NaN);

async function main() {
  const load0 = loadavg()[0] ?? 0;
  const runtime = opt.direct ? "miniflare" : "wrangler";
  const under = opt.direct ? "Miniflare (workerd directly)" : "wrangler dev";
  const homes = HOMES === undefined ? "" : `, ${HOMES} homes`;
  progress(`load: starting ${under} (lobby ${LOBBY}${homes}, seed ${SEED}, loadavg ${load0.toFixed(2)} on ${cpus().length} cores)`);
  // Without --drops a crash is a departure, as the checker counts it (its partner is told at once that it left): a
  // JSON user that crashed would otherwise be away for RESUME_GRACE_MS, waiting to resume, which --drops tests.
  const vars = {
    ...(opt.drops ? LIFTED_LIMITS : { ...LIFTED_LIMITS, RESUME_GRACE_MS: "0" }),
    ...(HOMES === undefined ? {} : { HOMES: String(HOMES) }),
  };
  const server = await startDevServer({ runtime, vars, timeoutMs: TIMEOUT.devServer, logLevel: opt["log-level"] });
  dev = server;
  progress(`load: ${under} on a snapshot of ${server.source} at ${server.url}`);
  const hard = setTimeout(() => abortAll("hard deadline"), TIMEOUT.ramp + SECONDS * 1000 + TIMEOUT.grace);
  try {
    const wsUrl = `${server.wsUrl}?lobby=${LOBBY}`;
    if (opt.drops) return await drops(wsUrl, server.source, under);

    // Ramp: every user logs in, a bounded number at a time; the chat phase starts when all are in.
    const rampStart = now();
    const { ready, all: everyoneIn } = barrier(PAIRS, TIMEOUT.ramp);
    const progressTimer = setInterval(() => {
      if (phaseEnd === Infinity) progress(`load: ramp ${Math.round((now() - rampStart) / 1000)} s: ${loginMs.length} of ${PAIRS * 2} logged in`);
      else progress(`load: chat ${Math.round((now() - (phaseEnd - SECONDS * 1000)) / 1000)} s: chats=${connectMs.length} lines received=${latencies.length} crashes=${crashes} problems=${problems.total()}`);
    }, 10_000);
    const pairs = Array.from({ length: PAIRS }, (_, i) => runPair(wsUrl, i, everyoneIn, ready));
    await everyoneIn;
    const rampSeconds = (now() - rampStart) / 1000;
    const loggedIn = loginMs.length;
    progress(`load: ${loggedIn} users logged in in ${rampSeconds.toFixed(1)} s; chatting for ${SECONDS} s`);

    const phaseStart = now();
    const phaseStartedAt = Date.now();
    phaseEnd = phaseStart + SECONDS * 1000;
    const cpu0 = server.cpu();
    const me0 = process.cpuUsage();
    const machine0 = machineCpu();
    // The driver's own event loop: if it lags, latencies include the driver's delay, not only the server's.
    const lag = monitorEventLoopDelay({ resolution: 10 });
    lag.enable();
    /** @type {{ name: string, pct: number }[]} */
    let cpu = [];
    let machineBusy = 0;
    const cpuTimer = setTimeout(() => {
      const ms = now() - phaseStart;
      const share = (/** @type {number} */ cpuMs) => Math.round((cpuMs / ms) * 100);
      const cpu1 = server.cpu();
      const mine = process.cpuUsage(me0);
      if (cpu0 && cpu1) {
        cpu.push({ name: "workerd(worker+Lobby)", pct: share(cpu1.runtime - cpu0.runtime) });
        if (runtime === "wrangler") {
          cpu.push({ name: "workerd(proxy)", pct: share(cpu1.proxy - cpu0.proxy) }, { name: "node(wrangler)", pct: share(cpu1.wrangler - cpu0.wrangler) });
        }
      }
      cpu.push({ name: "driver(node)", pct: share((mine.user + mine.system) / 1000) });
      cpu = cpu.sort((x, y) => y.pct - x.pct);
      const m = machineCpu();
      machineBusy = m.totalMs > machine0.totalMs ? Math.round(((m.busyMs - machine0.busyMs) / (m.totalMs - machine0.totalMs)) * cpus().length * 100) : 0;
      lag.disable();
    }, SECONDS * 1000);

    await Promise.all(pairs);
    clearTimeout(cpuTimer);
    clearInterval(progressTimer);
    clearTimeout(hard);
    const phaseMs = Math.min(now(), phaseEnd) - phaseStart;
    for (const c of live) c.destroy();
    live.clear();
    if (interrupted) {
      progress("load: interrupted");
      return 130;
    }

    const result = check(records, sessions);
    const lat = latencies;
    const errors = problems.total() + result.errors.total();
    for (const [kind, { count, example }] of Object.entries(result.errors.toJSON())) problems.add(kind, example, count);
    const summary = {
      users: PAIRS * 2,
      pairs: PAIRS,
      ...(HOMES === undefined ? {} : { homes: HOMES }),
      seconds: SECONDS,
      chats: result.chats,
      messages: result.delivered,
      lost: result.lost,
      duplicates: result.duplicates,
      reordered: result.reordered,
      notices_missing: result.noticesMissing,
      errors,
      crashes,
      p50: pct(lat, 50),
      p99: pct(lat, 99),
      msgsPerSecond: Math.round(result.delivered / (phaseMs / 1000)),
    };
    const detail = {
      source: server.source,
      direct: opt.direct,
      dialect: DIALECT,
      seed: SEED,
      lobby: LOBBY,
      chatPhaseStartedAt: new Date(phaseStartedAt).toISOString(),
      ratePerUser: RATE,
      window: WINDOW,
      chatSeconds: [CHAT_MIN, CHAT_MAX],
      crashShare: CRASH_SHARE,
      concurrency: CONCURRENCY,
      ramp: { loggedIn, seconds: Number(rampSeconds.toFixed(1)), loginP50: pct(loginMs, 50), loginP99: pct(loginMs, 99) },
      chats: { exit: result.endedByExit, crash: result.endedByCrash, connectP50: pct(connectMs, 50), connectP99: pct(connectMs, 99) },
      messages: {
        sent: result.sent,
        delivered: result.delivered,
        refusedAfterEnd: result.refused,
        unverifiableCrashTails: result.unverifiable,
        windowStalls,
        p90: pct(lat, 90),
        p999: pct(lat, 99.9),
        max: pct(lat, 100),
      },
      nameRetries: result.nameRetries,
      presenceFrames: result.presence,
      cpuPercentDuringChat: cpu,
      machineBusyPercent: machineBusy,
      othersPercent: Math.max(0, machineBusy - cpu.reduce((a, p) => a + p.pct, 0)),
      driverLoopDelayMs: { p99: Number((lag.percentile(99) / 1e6).toFixed(1)), max: Number((lag.max / 1e6).toFixed(1)) },
      loadavgAtStart: Number(load0.toFixed(2)),
      loadavgAtEnd: Number((loadavg()[0] ?? 0).toFixed(2)),
      problems: problems.toJSON(),
    };
    const failed = summary.lost + summary.duplicates + summary.reordered + summary.notices_missing + summary.errors > 0;
    if (opt.json) {
      console.log(JSON.stringify({ ...summary, ok: !failed, detail }));
      return failed ? 1 : 0;
    }
    console.log(
      `load: users=${summary.users} pairs=${PAIRS}${HOMES === undefined ? "" : ` homes=${HOMES}`} seconds=${SECONDS} chats=${summary.chats} messages=${summary.messages} ` +
        `lost=${summary.lost} duplicates=${summary.duplicates} reordered=${summary.reordered} ` +
        `notices_missing=${summary.notices_missing} errors=${errors} crashes=${crashes} ` +
        `p50=${showMs(summary.p50)}ms p99=${showMs(summary.p99)}ms msgs/s=${summary.msgsPerSecond}`,
    );
    console.log(
      `  setup: source=${server.source} under ${under} dialect=${DIALECT} seed=${SEED} ` +
        `rate=${RATE}/s per user window=${WINDOW} chats of ${CHAT_MIN}-${CHAT_MAX} s crash-share=${CRASH_SHARE} ` +
        `open concurrency=${CONCURRENCY}` +
        (HOMES === undefined ? "" : `; u<i>a on home i mod ${HOMES}, u<i>b on (i+1) mod ${HOMES}`),
    );
    console.log(
      `  ramp: ${loggedIn} of ${PAIRS * 2} users logged in in ${rampSeconds.toFixed(1)} s ` +
        `(open+login p50=${showMs(detail.ramp.loginP50)}ms p99=${showMs(detail.ramp.loginP99)}ms)`,
    );
    console.log(
      `  chats: ${result.chats} checked (${result.endedByExit} ended by exit, ${result.endedByCrash} by a crash); ` +
        `request to both connected p50=${showMs(detail.chats.connectP50)}ms p99=${showMs(detail.chats.connectP99)}ms`,
    );
    console.log(
      `  lines: sent=${result.sent} delivered=${result.delivered} refused after the chat ended=${result.refused} ` +
        `unverifiable crash tails=${result.unverifiable} window stalls=${windowStalls}; ` +
        `latency p90=${showMs(detail.messages.p90)}ms p99.9=${showMs(detail.messages.p999)}ms max=${showMs(detail.messages.max)}ms`,
    );
    console.log(
      `  cpu during the chat phase (100% = one core): ${cpu.map((p) => `${p.name} ${p.pct}%`).join(", ") || "n/a"}; ` +
        `whole machine ${machineBusy}% of ${cpus().length * 100}%, so other work ${detail.othersPercent}%; ` +
        `loadavg ${detail.loadavgAtStart} at start, ${detail.loadavgAtEnd} at end`,
    );
    console.log(
      `  driver event loop delay p99=${detail.driverLoopDelayMs.p99}ms max=${detail.driverLoopDelayMs.max}ms ` +
        `(a lagging driver adds to the measured latency)`,
    );
    for (const [kind, { count, example }] of Object.entries(problems.toJSON()).slice(0, 12)) {
      console.log(`  problem ${kind} x${count}: ${example}`);
    }
    return failed ? 1 : 0;
  } finally {
    clearTimeout(hard);
    await server.stop();
    dev = null;
  }
}

/**
 * --drops: the run, its summary line and details.
 * @param {string} wsUrl
 * @param {string} source
 * @param {string} under
 */
async function drops(wsUrl, source, under) {
  const { summary: s, detail, failed } = await runDrops({
    wsUrl,
    pairs: PAIRS,
    seconds: SECONDS,
    rate: RATE,
    window: WINDOW,
    chatSeconds: [CHAT_MIN, CHAT_MAX],
    dropShare: opt["drop-share"],
    concurrency: CONCURRENCY,
    rng,
    progress,
  });
  if (interrupted) return 130;
  if (opt.json) {
    console.log(JSON.stringify({ ...s, ok: !failed, detail: { source, seed: SEED, lobby: LOBBY, ...detail } }));
    return failed ? 1 : 0;
  }
  console.log(
    `load --drops: users=${s.users} pairs=${s.pairs}${HOMES === undefined ? "" : ` homes=${HOMES}`} seconds=${s.seconds} chats=${s.chats} messages=${s.messages} ` +
      `drops=${s.drops} resumed=${s.resumed} lost=${s.lost} duplicates=${s.duplicates} reordered=${s.reordered} ` +
      `notices_missing=${s.notices_missing} errors=${s.errors} p50=${showMs(s.p50)}ms p99=${showMs(s.p99)}ms ` +
      `resume p50=${showMs(s.resumeP50)}ms p99=${showMs(s.resumeP99)}ms msgs/s=${s.msgsPerSecond}`,
  );
  console.log(
    `  setup: source=${source} under ${under} dialect=json seed=${SEED} rate=${RATE}/s per user window=${WINDOW} ` +
      `chats of ${CHAT_MIN}-${CHAT_MAX} s drop-share=${opt["drop-share"]} per side per chat`,
  );
  console.log(
    `  lines: sent=${detail.sent} shown=${s.messages} resent after a drop=${detail.resent} received twice, shown once=${detail.duplicatesDropped} ` +
      `refused while the partner was away (then resent)=${detail.notDelivered} window stalls=${detail.windowStalls}; ` +
      `ramp: ${detail.ramp.loggedIn} users in ${detail.ramp.seconds} s`,
  );
  for (const [kind, { count, example }] of Object.entries(detail.problems).slice(0, 12)) console.log(`  problem ${kind} x${count}: ${example}`);
  for (const [kind, { count, example }] of Object.entries(detail.noticesMissing)) console.log(`  missing ${kind} x${count}: ${example}`);
  return failed ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  (err) => {
    console.error(`load: ${err instanceof Error ? err.stack : err}`);
    process.exit(2);
  },
);
