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
// wrangler dev serves a copy of the worker's sources taken at the start (see scripts/dev-server.mjs: an edit to src/
// during a run would otherwise restart the worker and drop every socket), with the rate limit and the
// per-address caps lifted, since all 1,000 users come from 127.0.0.1.

import { writeFileSync } from "node:fs";
import { monitorEventLoopDelay } from "node:perf_hooks";
import { parseArgs } from "node:util";
import { cpus, loadavg } from "node:os";
import { check } from "./check.mjs";
import { LoadClient } from "./client.mjs";
import { tag, untag } from "./codec.mjs";
import { startDevServer } from "../scripts/dev-server.mjs";
import { findWorkerUrl, machineCpu, processTreeCpu, sourceVersion } from "./machine.mjs";
import { Problems, fmtMs, percentile, prng } from "./stats.mjs";

/** @typedef {import("./check.mjs").Session} Session */
/** @typedef {import("./codec.mjs").Dialect} Dialect */
/** @typedef {import("./codec.mjs").Ev} Ev */

const USAGE = `npm run load -- [options]
  --pairs N          pairs of users (default 500 = 1,000 users)
  --seconds S        length of the chat phase, after every user has logged in (default 60)
  --crash-share F    share of chats that end with one side crashing instead of typing exit (default 0.1)
  --rate R           chat lines per second each user sends while in a chat (default 2)
  --window W         at most W of a user's lines in flight (sent, not yet received by the partner) (default 8)
  --chat-seconds A-B how long each chat lasts, uniformly at random (default 2-6)
  --dialect D        text | json | mix: mix gives every requester-side user (u<i>a) the text dialect and every
                     u<i>b the JSON one, so each chat crosses dialects (default mix)
  --concurrency C    sockets being opened and logged in at once (default 25)
  --seed N           seed of the random choices (default: random, printed)
  --log-level L      wrangler dev's --log-level (default warn: no line per request)
  --direct           connect straight to the workerd that runs the worker, bypassing wrangler dev's proxy
                     (an experiment: tells the Lobby's own cost from the proxy's; Linux only)
  --trace FILE       write every delivered line as CSV (sent_ms since the chat phase began, latency_ms, chat)
  --json             print the summary as JSON
  --help`;

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

// -------------------------------------------------------------------------------------------------------------
// Options

const { values: opt } = parseArgs({
  options: {
    pairs: { type: "string", default: "500" },
    seconds: { type: "string", default: "60" },
    "crash-share": { type: "string", default: "0.1" },
    rate: { type: "string", default: "2" },
    window: { type: "string", default: "8" },
    "chat-seconds": { type: "string", default: "2-6" },
    dialect: { type: "string", default: "mix" },
    concurrency: { type: "string", default: "25" },
    seed: { type: "string" },
    "log-level": { type: "string", default: "warn" },
    trace: { type: "string" },
    direct: { type: "boolean", default: false },
    json: { type: "boolean", default: false },
    help: { type: "boolean", default: false },
  },
});
if (opt.help) {
  console.log(USAGE);
  process.exit(0);
}

/**
 * @param {string} name
 * @param {string | undefined} raw
 * @param {(n: number) => boolean} ok
 */
function num(name, raw, ok) {
  const n = Number(raw);
  if (raw === undefined || raw.trim() === "" || !Number.isFinite(n) || !ok(n)) {
    console.error(`load: --${name} ${raw} is not valid\n${USAGE}`);
    process.exit(2);
  }
  return n;
}
const PAIRS = num("pairs", opt.pairs, (n) => Number.isInteger(n) && n >= 1 && n <= 5000);
const SECONDS = num("seconds", opt.seconds, (n) => n > 0 && n <= 3600);
const CRASH_SHARE = num("crash-share", opt["crash-share"], (n) => n >= 0 && n <= 1);
const RATE = num("rate", opt.rate, (n) => n > 0 && n <= 100);
const WINDOW = num("window", opt.window, (n) => Number.isInteger(n) && n >= 1);
const CONCURRENCY = num("concurrency", opt.concurrency, (n) => Number.isInteger(n) && n >= 1);
const SEED = num("seed", opt.seed ?? String(Math.floor(Math.random() * 2 ** 31)), Number.isInteger);
const [CHAT_MIN, CHAT_MAX] = (opt["chat-seconds"] ?? "").split("-").map((x, i, a) =>
  num("chat-seconds", a.length === 2 ? x : undefined, (n) => n > 0),
);
if (CHAT_MAX < CHAT_MIN) num("chat-seconds", opt["chat-seconds"], () => false);
const DIALECT = /** @type {"text" | "json" | "mix"} */ (opt.dialect);
if (!["text", "json", "mix"].includes(DIALECT)) num("dialect", opt.dialect, () => false);
const LOBBY = `load-${crypto.randomUUID().slice(0, 8)}`;

const rng = prng(SEED);
/** @param {string} line */
const progress = (line) => process.stderr.write(`${line}\n`);
const sleep = (/** @type {number} */ ms) => new Promise((r) => setTimeout(r, ms));
const now = () => performance.now();

// -------------------------------------------------------------------------------------------------------------
// What the run records

/** @type {import("./client.mjs").ClientRecord[]} */
const records = [];
/** @type {Session[]} */
const sessions = [];
/** Every socket not yet closed by us, so the end (or an abort) can drop them all. */
const live = new Set(/** @type {LoadClient[]} */ ([]));
/** @type {WeakMap<LoadClient, { s: Session, side: 0 | 1 }>} */
const current = new WeakMap();
/** Problems the driver saw live (timeouts, failed opens, sockets closed under it); the checker adds its own. */
const problems = new Problems();
/** @type {number[]} */ const latencies = [];
/** With --trace: when each delivered line was sent, and in which chat, beside `latencies`. */
/** @type {number[]} */ const traceSent = [];
/** @type {number[]} */ const traceChat = [];
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
 * Every frame of every client passes here first: delivery latency, the send window, and a departure notice stops
 * the receiver from sending any further line into that chat.
 * @param {LoadClient} client
 * @param {Ev} ev
 * @param {number} t
 */
function onEvent(client, ev, t) {
  if (ev.type === "message") {
    const id = untag(ev.text);
    const s = id ? sessions[id.session] : undefined;
    if (!id || !s) return;
    const d = s.clients[0] === client.rec ? 1 : 0;
    const sentAt = s.sentAt[d][id.seq];
    if (sentAt !== undefined) {
      latencies.push(t - sentAt);
      if (opt.trace) traceSent.push(sentAt), traceChat.push(s.id);
    }
    s.recvCount[d]++;
  } else if (ev.type === "partner_left" || ev.type === "you_left") {
    const c = current.get(client);
    if (c) c.s.stop[c.side] = true;
  }
}

// -------------------------------------------------------------------------------------------------------------
// Driving users

/** Bounds how many sockets are being opened and logged in at once. */
class Gate {
  /** @type {(() => void)[]} */
  queue = [];
  /** @param {number} slots */
  constructor(slots) {
    this.free = slots;
  }
  /**
   * @template T
   * @param {() => Promise<T>} fn
   * @returns {Promise<T>}
   */
  async run(fn) {
    if (this.free > 0) this.free--;
    else await new Promise((/** @type {(v?: unknown) => void} */ r) => this.queue.push(r));
    try {
      return await fn();
    } finally {
      const next = this.queue.shift();
      if (next) next();
      else this.free++;
    }
  }
}
const gate = new Gate(CONCURRENCY);

/**
 * Opens a socket and logs in as `name`. A "taken" answer (the previous incarnation's departure not processed
 * yet) is retried on the same socket a few times; the checker counts those retries.
 * @param {string} wsUrl
 * @param {string} name
 * @param {Dialect} dialect
 */
function openUser(wsUrl, name, dialect) {
  return gate.run(async () => {
    if (stopping) throw new Error(`${name}: not opened, the run was aborted`);
    const started = now();
    const c = new LoadClient(wsUrl, name, dialect, onEvent);
    records.push(c.rec);
    live.add(c);
    try {
      await c.open(TIMEOUT.open);
      await c.waitFor((e) => e.type === "ask_name", TIMEOUT.login, "username prompt");
      for (let attempt = 0; ; attempt++) {
        c.send({ type: "login", name });
        const { ev } = await c.waitFor((e) => e.type === "welcome" || e.type === "name_rejected", TIMEOUT.login, "welcome");
        if (ev.type === "welcome") break;
        if (attempt === 4) throw new Error(`${name}: login refused 5 times (${ev.type})`);
        await c.waitFor((e) => e.type === "ask_name", TIMEOUT.login, "username prompt");
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
 * @param {LoadClient} c
 * @param {string} name
 * @param {"exit" | "disconnected"} reason
 */
const partnerLeft = (c, name, reason) =>
  c.waitFor((e) => e.type === "partner_left" && e.name === name && e.reason === reason, TIMEOUT.notice, `"${name} has left the chat${reason === "exit" ? "" : " (disconnected)"}"`);

/**
 * One side's chat lines: a jittered pace around --rate, skipped while --window lines are in flight.
 * @param {Session} s
 * @param {LoadClient} c
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
 * One chat of a pair, from the request to its end. Side 0 of the session is the requester.
 * @param {{ wsUrl: string, users: LoadClient[] }} pair
 * @param {number} cycle requesters alternate
 */
async function chatOnce(pair, cycle) {
  const requester = pair.users[cycle % 2];
  const target = pair.users[1 - (cycle % 2)];
  const users = /** @type {[LoadClient, LoadClient]} */ ([requester, target]);
  /** @type {Session} */
  const s = {
    id: sessions.length,
    clients: [requester.rec, target.rec],
    sentAt: [[], []],
    recvCount: [0, 0],
    stop: [false, false],
    connected: false,
    end: null,
    aborted: null,
  };
  sessions.push(s);
  requester.rec.sessions.push(s.id);
  target.rec.sessions.push(s.id);
  current.set(requester, { s, side: 0 });
  current.set(target, { s, side: 1 });
  const loops = [];
  try {
    const t0 = now();
    requester.send({ type: "connect", to: target.name });
    await target.waitFor((e) => e.type === "incoming_request" && e.from === requester.name, TIMEOUT.connect, `request from ${requester.name}`);
    target.send({ type: "answer", accept: true });
    await Promise.all([
      requester.waitFor((e) => e.type === "connected" && e.with === target.name, TIMEOUT.connect, `connected with ${target.name}`),
      target.waitFor((e) => e.type === "connected" && e.with === requester.name, TIMEOUT.connect, `connected with ${requester.name}`),
    ]);
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
      ender.send({ type: "exit" });
      await Promise.all([
        ender.waitFor((ev) => ev.type === "you_left" && ev.with === partner.name, TIMEOUT.notice, `"You left the chat with ${partner.name}"`),
        partnerLeft(partner, ender.name, "exit"),
      ]);
    } else if (rng() < CRASH_SHARE) {
      s.stop[e] = true;
      s.end = { how: "crash", by: e, drain: false };
      crashes++;
      live.delete(ender);
      ender.crash();
      await partnerLeft(partner, ender.name, "disconnected");
      await Promise.all(loops);
      // Back with the same name, now that the server has let it go.
      pair.users[pair.users.indexOf(ender)] = await openUser(pair.wsUrl, ender.name, ender.rec.dialect);
    } else {
      s.stop[e] = true;
      s.end = { how: "exit", by: e, drain: false };
      ender.send({ type: "exit" });
      await Promise.all([
        ender.waitFor((ev) => ev.type === "you_left" && ev.with === partner.name, TIMEOUT.notice, `"You left the chat with ${partner.name}"`),
        partnerLeft(partner, ender.name, "exit"),
      ]);
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
  /** @type {{ wsUrl: string, users: LoadClient[] }} */
  const pair = { wsUrl, users: [] };
  try {
    const both = await Promise.allSettled([openUser(wsUrl, `u${i}a`, dialects[0]), openUser(wsUrl, `u${i}b`, dialects[1])]);
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
      await u.quit(TIMEOUT.quit);
      live.delete(u);
      if (u.rec.closed?.code !== 1000) problems.add("quit_not_closed_1000", `${u.name}: closed with ${u.rec.closed?.code}`);
    }),
  );
}

// -------------------------------------------------------------------------------------------------------------
// The run

/**
 * @param {Map<number, { name: string, cpuMs: number }>} a
 * @param {Map<number, { name: string, cpuMs: number }>} b
 * @param {number} ms
 */
function cpuShares(a, b, ms) {
  return [...b]
    .map(([pid, p]) => ({ name: p.name, pct: Math.round(((p.cpuMs - (a.get(pid)?.cpuMs ?? 0)) / ms) * 100) }))
    .filter((p) => p.pct > 0 || p.name.startsWith("workerd"))
    .sort((x, y) => y.pct - x.pct);
}

/** Set on Ctrl-C or SIGTERM: every socket is dropped, wrangler dev stopped, and the run ends with 130. */
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
    // Still starting: exit now; startDevServer's exit hook kills wrangler dev's process group.
    if (!dev) process.exit(130);
    abortAll("interrupted");
  });
}

async function main() {
  const load0 = loadavg()[0];
  // Every user of the load comes from 127.0.0.1, and chats at --rate: lift the per-socket rate limit and the
  // per-address caps, which exist against abuse and would otherwise be what this run measures.
  const vars = {
    RATE_PER_SECOND: "100000",
    RATE_BURST: "100000",
    MAX_SOCKETS_PER_IP: "1000000",
    LOGINS_PER_MINUTE_PER_IP: "1000000",
  };
  const version = sourceVersion();
  progress(`load: starting wrangler dev on a copy of ${version} (lobby ${LOBBY}, seed ${SEED}, loadavg ${load0.toFixed(2)} on ${cpus().length} cores)`);
  const server = await startDevServer({ vars, timeoutMs: TIMEOUT.devServer, logLevel: opt["log-level"] });
  dev = server;
  const hard = setTimeout(() => abortAll("hard deadline"), TIMEOUT.ramp + SECONDS * 1000 + TIMEOUT.grace);
  try {
    let wsUrl = `${server.wsUrl}?lobby=${LOBBY}`;
    if (opt.direct) {
      const direct = await findWorkerUrl(server.pid);
      if (!direct) throw new Error("--direct: could not find the worker's own port");
      wsUrl = `${direct.replace("http:", "ws:")}/ws?lobby=${LOBBY}`;
      progress(`load: --direct: connecting to ${direct}, not through wrangler dev's proxy`);
    }

    // Ramp: every user logs in, a bounded number at a time; the chat phase starts when all are in.
    const rampStart = now();
    let readyPairs = 0;
    /** @type {() => void} */
    let everyoneInNow = () => {};
    const everyoneIn = new Promise((/** @type {(v?: unknown) => void} */ r) => (everyoneInNow = r)).then(() => {});
    const rampTimer = setTimeout(everyoneInNow, TIMEOUT.ramp);
    const ready = () => {
      if (++readyPairs === PAIRS) everyoneInNow();
    };
    const progressTimer = setInterval(() => {
      if (phaseEnd === Infinity) progress(`load: ramp ${Math.round((now() - rampStart) / 1000)} s: ${loginMs.length} of ${PAIRS * 2} logged in`);
      else progress(`load: chat ${Math.round((now() - (phaseEnd - SECONDS * 1000)) / 1000)} s: chats=${connectMs.length} lines received=${latencies.length} crashes=${crashes} problems=${problems.total()}`);
    }, 10_000);
    const pairs = Array.from({ length: PAIRS }, (_, i) => runPair(wsUrl, i, everyoneIn, ready));
    await everyoneIn;
    clearTimeout(rampTimer);
    const rampSeconds = (now() - rampStart) / 1000;
    const loggedIn = loginMs.length;
    progress(`load: ${loggedIn} users logged in in ${rampSeconds.toFixed(1)} s; chatting for ${SECONDS} s`);

    const phaseStart = now();
    const phaseStartedAt = Date.now();
    phaseEnd = phaseStart + SECONDS * 1000;
    const cpu0 = processTreeCpu(server.pid);
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
      const mine = process.cpuUsage(me0);
      cpu = [...cpuShares(cpu0, processTreeCpu(server.pid), ms), { name: "driver(node)", pct: Math.round(((mine.user + mine.system) / 1000 / ms) * 100) }];
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

    if (opt.trace) {
      const lines = latencies.map((l, i) => `${(traceSent[i] - phaseStart).toFixed(1)},${l.toFixed(2)},${traceChat[i]}`);
      writeFileSync(opt.trace, `sent_ms,latency_ms,chat\n${lines.join("\n")}\n`);
    }
    const result = check(records, sessions);
    const lat = latencies;
    /** A percentile in ms, to 0.1 ms. @param {number[]} xs @param {number} p */
    const pct = (xs, p) => {
      const v = percentile(xs, p);
      return v === null ? null : Math.round(v * 10) / 10;
    };
    const errors = problems.total() + result.errors.total();
    for (const [kind, { count, example }] of Object.entries(result.errors.toJSON())) problems.add(kind, example, count);
    const summary = {
      users: PAIRS * 2,
      pairs: PAIRS,
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
      source: version,
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
      loadavgAtEnd: Number(loadavg()[0].toFixed(2)),
      problems: problems.toJSON(),
    };
    const failed = summary.lost + summary.duplicates + summary.reordered + summary.notices_missing + summary.errors > 0;
    if (opt.json) {
      console.log(JSON.stringify({ ...summary, ok: !failed, detail }));
      return failed ? 1 : 0;
    }
    console.log(
      `load: users=${summary.users} pairs=${PAIRS} seconds=${SECONDS} chats=${summary.chats} messages=${summary.messages} ` +
        `lost=${summary.lost} duplicates=${summary.duplicates} reordered=${summary.reordered} ` +
        `notices_missing=${summary.notices_missing} errors=${errors} crashes=${crashes} ` +
        `p50=${fmtMs(summary.p50)}ms p99=${fmtMs(summary.p99)}ms msgs/s=${summary.msgsPerSecond}`,
    );
    console.log(
      `  setup: source=${version}${opt.direct ? " direct (no wrangler proxy)" : ""} dialect=${DIALECT} seed=${SEED} ` +
        `rate=${RATE}/s per user window=${WINDOW} chats of ${CHAT_MIN}-${CHAT_MAX} s crash-share=${CRASH_SHARE} ` +
        `open concurrency=${CONCURRENCY}`,
    );
    console.log(
      `  ramp: ${loggedIn} of ${PAIRS * 2} users logged in in ${rampSeconds.toFixed(1)} s ` +
        `(open+login p50=${fmtMs(detail.ramp.loginP50)}ms p99=${fmtMs(detail.ramp.loginP99)}ms)`,
    );
    console.log(
      `  chats: ${result.chats} checked (${result.endedByExit} ended by exit, ${result.endedByCrash} by a crash); ` +
        `request to both connected p50=${fmtMs(detail.chats.connectP50)}ms p99=${fmtMs(detail.chats.connectP99)}ms`,
    );
    console.log(
      `  lines: sent=${result.sent} delivered=${result.delivered} refused after the chat ended=${result.refused} ` +
        `unverifiable crash tails=${result.unverifiable} window stalls=${windowStalls}; ` +
        `latency p90=${fmtMs(detail.messages.p90)}ms p99.9=${fmtMs(detail.messages.p999)}ms max=${fmtMs(detail.messages.max)}ms`,
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

main().then(
  (code) => process.exit(code),
  (err) => {
    console.error(`load: ${err instanceof Error ? err.stack : err}`);
    process.exit(2);
  },
);
