// @ts-check
// One measurement: targets side by side at one size and deflate setting, logged in, paired and relayed through
// several times in the order A, B, B, A…, so that noise from the rest of the machine falls on both alike.
// Medians per target (p50/p99 over every line of the runs), plus the CPU each relayed message cost the server and
// this client, and logins/s from batches into the same lobbies.

import { closeAll } from "../scripts/lib/client.mjs";
import { fmt, median, quantile } from "../scripts/lib/figures.mjs";
import { loginAll, pairAll, relayFlow } from "./targets.mjs";

/** @typedef {import("../scripts/dev-server.mjs").DevServer} DevServer */
/** @typedef {import("./targets.mjs").Target} Target */

/**
 * @typedef {object} Settings
 * @property {"text" | "json"} dialect
 * @property {number} window
 * @property {number} bytes
 * @property {number} reps
 * @property {number} concurrency
 * @property {(size: number, deflate: boolean) => number} messages  per requester per relay run
 */

/**
 * @typedef {object} Row
 * @property {string} target
 * @property {number} size  pairs
 * @property {boolean} deflate  the client offered permessage-deflate
 * @property {string} negotiated  what the server agreed to ("" for nothing)
 * @property {boolean} together  both targets' sockets were open at once (else a fresh session per run)
 * @property {number} logins  per second
 * @property {number} runtimeUsPerLogin  CPU µs of the runtime per login, the WebSocket upgrade included
 * @property {number} pairings  per second
 * @property {number} rxBytesPerUser  TCP bytes a client read from its upgrade until paired (median)
 * @property {number} rate  relayed messages per second (median of the runs)
 * @property {number[]} rates  every run's
 * @property {number} p50  ms, over every message of every run
 * @property {number} p99  ms, over every message of every run (see `pooled`)
 * @property {number} lost  over all runs
 * @property {number} reordered  over all runs
 * @property {number} rxBytesPerMsg  TCP bytes the receiving clients read per relayed message
 * @property {number} runtimeUsPerMsg  CPU µs of the workerd running the worker and its objects, per message
 * @property {number} proxyUsPerMsg  CPU µs of wrangler dev's proxy workerd per message (absent in production)
 * @property {number} clientUsPerMsg  CPU µs of this process per message
 * @property {number} messages  per requester per run
 */

/**
 * @typedef {object} Session
 * @property {Target} target
 * @property {boolean} deflate  the clients offered permessage-deflate
 * @property {string} room  the lobby's (or room's) name
 * @property {number} batches  login batches so far (see loginBatch)
 * @property {import("../scripts/lib/client.mjs").Client[]} clients
 * @property {import("./targets.mjs").Pair[]} pairs
 * @property {string} negotiated
 * @property {number} pairings  per second
 * @property {number} rxBytesPerUser  TCP bytes each client read while all logged in and paired (JSON presence shows here)
 */

/**
 * How many client sockets may be open at once under a 20,000-file limit (this machine's, hard). workerd holds one
 * descriptor per socket; wrangler dev's proxy about six, and past its limit new sockets are reset.
 */
const MAX_OPEN_SOCKETS = { miniflare: 8000, wrangler: 2400 };

/** JSON clients get presence pushes at most every 500 ms (PRESENCE_INTERVAL_MS): let the last one pass. */
const PRESENCE_SETTLE_MS = 700;

/**
 * How many users log in per timed batch: the same at every size, into a lobby (or room) already holding the
 * size's users, so that logins/s shows how a login's cost grows with the number of users present.
 */
const LOGIN_BATCH = 200;

/**
 * Logs in `n` users in `room`, which exists already; only the logins are timed.
 * @param {DevServer} dev
 * @param {Settings} s
 * @param {Target} target
 * @param {string} room
 * @param {number} n
 * @param {boolean} deflate
 * @param {string} prefix  of the users' names, unique in the room
 */
async function timedLogins(dev, s, target, room, n, deflate, prefix) {
  const cpuBefore = dev.cpu();
  const login = await loginAll(target, { base: dev.wsUrl, room, n, deflate, concurrency: s.concurrency, prefix });
  const cpuAfter = dev.cpu();
  return {
    clients: login.clients,
    negotiated: login.negotiated,
    logins: n / login.secs,
    runtimeUsPerLogin: cpuBefore && cpuAfter ? ((cpuAfter.runtime - cpuBefore.runtime) * 1000) / n : NaN,
  };
}

/**
 * Logs in 2×size users in a fresh lobby (or room) and pairs them; only the pairing is timed.
 * @param {DevServer} dev
 * @param {Settings} s
 * @param {Target} target
 * @param {number} size
 * @param {boolean} deflate
 * @returns {Promise<Session>}
 */
export async function openSession(dev, s, target, size, deflate) {
  deflate = target.offersDeflate ?? deflate;
  const room = `${target.label.replace(/\W+/g, "").toLowerCase()}-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}`;
  // One login and departure first: the object is constructed (and the Lobby's tables created) before anything is
  // timed, as in production, where the one lobby lives long and logins do not pay for its creation.
  const warm = await loginAll(target, { base: dev.wsUrl, room, n: 1, deflate, concurrency: 1, prefix: "warmup" });
  await closeAll(warm.clients);
  const login = await timedLogins(dev, s, target, room, 2 * size, deflate, "u");
  try {
    const pairing = await pairAll(target, login.clients, s.concurrency);
    // Presence pushes still due after the pairing would land in the first relay run: wait them out.
    if (s.dialect === "json") await new Promise((res) => setTimeout(res, PRESENCE_SETTLE_MS));
    const rx = login.clients.reduce((sum, c) => sum + (c.socket?.bytesRead ?? 0), 0);
    return {
      target,
      deflate,
      room,
      batches: 0,
      clients: login.clients,
      pairs: pairing.pairs,
      negotiated: login.negotiated,
      pairings: size / pairing.secs,
      rxBytesPerUser: rx / login.clients.length,
    };
  } catch (err) {
    await closeAll(login.clients);
    throw err;
  }
}

/**
 * Logs LOGIN_BATCH more users into a session's lobby (timed), and closes them again.
 * @param {DevServer} dev
 * @param {Settings} s
 * @param {Session} session
 */
export async function loginBatch(dev, s, session) {
  const batch = await timedLogins(dev, s, session.target, session.room, LOGIN_BATCH, session.deflate, `b${session.batches++}-`);
  await closeAll(batch.clients);
  return batch;
}

/**
 * @typedef {import("./targets.mjs").FlowResult & { runtimeUsPerMsg: number, proxyUsPerMsg: number, clientUsPerMsg: number }} Run
 */

/**
 * @param {DevServer} dev
 * @param {Settings} s
 * @param {Session} session
 * @returns {Promise<Run>}
 */
export async function relayRun(dev, s, session) {
  const serverBefore = dev.cpu();
  const clientBefore = process.cpuUsage();
  const flow = await relayFlow(session.target, session.pairs, {
    messages: s.messages(session.pairs.length, session.deflate),
    window: s.window,
    bytes: s.bytes,
  });
  const serverAfter = dev.cpu();
  const client = process.cpuUsage(clientBefore);
  if (serverBefore && serverAfter && serverBefore.runtimePid !== serverAfter.runtimePid) {
    // Every socket dropped with it: this run's losses are the restart's, not the target's. Say so loudly.
    console.error(
      `\nWARNING: the runtime restarted during a ${session.target.label} run ` +
        `(workerd ${serverBefore.runtimePid} → ${serverAfter.runtimePid}); it said:\n${dev.output().slice(-3000)}\n`,
    );
  }
  const per = (/** @type {number | undefined} */ before, /** @type {number | undefined} */ after) =>
    before === undefined || after === undefined ? NaN : ((after - before) * 1000) / flow.messages;
  return {
    ...flow,
    runtimeUsPerMsg: per(serverBefore?.runtime, serverAfter?.runtime),
    proxyUsPerMsg: per(serverBefore?.proxy, serverAfter?.proxy),
    clientUsPerMsg: (client.user + client.system) / flow.messages,
  };
}

/**
 * Both targets at one size and deflate setting, `reps` relay runs each in the order A, B, B, A… When both
 * targets' sockets fit at once, each logs in and pairs once, relays one untimed warm-up run (so that the first
 * timed run does not pay for the JIT), the runs interleave over the open sessions, and then, in the same order,
 * batches of LOGIN_BATCH more users log into each lobby (timed, then closed); otherwise every run gets a fresh
 * session (login, pairing, relay, login batch, close) in the same alternating order. Either way logins/s is a
 * median of several batches.
 * @param {DevServer} dev
 * @param {Settings} s
 * @param {Target[]} targets  in the order of the first run
 * @param {number} size
 * @param {boolean} deflate
 * @param {(line: string) => void} log
 * @returns {Promise<Row[]>}
 */
export async function measure(dev, s, targets, size, deflate, log) {
  /**
   * @typedef {{ session: Session | null, runs: Run[], logins: number[], loginCpu: number[], pairings: number[], rx: number[], negotiated: string }} Results
   */
  /** @type {Map<Target, Results>} */
  const results = new Map(
    targets.map((t) => [t, { session: null, runs: [], logins: [], loginCpu: [], pairings: [], rx: [], negotiated: "" }]),
  );
  const of = (/** @type {Target} */ t) => /** @type {Results} */ (results.get(t));
  // Where both targets' sockets do not fit at once, each run gets a session of its own.
  const together = targets.length * 2 * size <= MAX_OPEN_SOCKETS[dev.runtime];
  const label = `${size} pairs ${deflate ? "deflate" : "plain  "}`;

  /** @param {Target} target */
  const open = async (target) => {
    const r = of(target);
    r.session = await openSession(dev, s, target, size, deflate);
    r.pairings.push(r.session.pairings);
    r.rx.push(r.session.rxBytesPerUser);
    r.negotiated = r.session.negotiated;
    log(`  ${target.label.padEnd(16)} ${label}: ${fmt(r.session.pairings)} pairings/s`);
  };
  /** @param {Target} target */
  const close = async (target) => {
    const r = of(target);
    if (r.session) await closeAll(r.session.clients);
    r.session = null;
  };
  /** @param {Target} target */
  const logins = async (target) => {
    const r = of(target);
    const batch = await loginBatch(dev, s, /** @type {Session} */ (r.session));
    r.logins.push(batch.logins);
    r.loginCpu.push(batch.runtimeUsPerLogin);
    log(`  ${target.label.padEnd(16)} ${label}: ${fmt(batch.logins)} logins/s (runtime ${batch.runtimeUsPerLogin.toFixed(0)} µs/login)`);
  };
  /** @param {Target} target */
  const warmUp = async (target) => {
    const session = /** @type {Session} */ (of(target).session);
    // As long as a timed run: a quarter of one left the Lobby's first timed run ~10% slower than its others.
    await relayFlow(target, session.pairs, { messages: s.messages(size, session.deflate), window: s.window, bytes: s.bytes });
  };
  /** @param {Target} target @param {number} rep */
  const run = async (target, rep) => {
    const r = of(target);
    const result = await relayRun(dev, s, /** @type {Session} */ (r.session));
    r.runs.push(result);
    log(
      `  ${target.label.padEnd(16)} ${label} #${rep + 1}: ${fmt(result.rate)} msgs/s, p99 ${result.p99.toFixed(1)} ms, ` +
        `runtime ${result.runtimeUsPerMsg.toFixed(1)} µs/msg` +
        (result.lost || result.reordered ? `, LOST ${result.lost}, REORDERED ${result.reordered}` : ""),
    );
  };

  try {
    if (together) {
      for (const target of targets) await open(target);
      for (const target of targets) await warmUp(target);
    }
    // Short runs on open sessions are cheap and noisy: they get all the repetitions. Fresh sessions (the largest
    // sizes) cost a login and pairing of thousands of sockets each, so they stop at three.
    const reps = together ? s.reps : Math.min(s.reps, 3);
    /** @param {number} rep */
    const order = (rep) => (rep % 2 ? [...targets].reverse() : targets);
    for (let rep = 0; rep < reps; rep++) {
      for (const target of order(rep)) {
        if (!together) await open(target);
        await run(target, rep);
        // On open sessions the login batches come after all the relay runs: the garbage a batch of 200 logins
        // and departures leaves in the isolate set off collections in the runs that followed, which put the
        // Lobby's p99 at 10 pairs at up to 1.8× the relay's where it is 1.1–1.2× without.
        if (!together) await logins(target);
        if (!together) await close(target);
      }
    }
    if (together) for (let rep = 0; rep < reps; rep++) for (const target of order(rep)) await logins(target);
  } finally {
    for (const target of targets) await close(target);
  }

  return targets.map((target) => {
    const r = of(target);
    return {
      target: target.label,
      size,
      deflate: target.offersDeflate ?? deflate,
      negotiated: r.negotiated,
      together,
      logins: median(r.logins),
      runtimeUsPerLogin: median(r.loginCpu),
      pairings: median(r.pairings),
      rxBytesPerUser: median(r.rx),
      rate: median(r.runs.map((x) => x.rate)),
      rates: r.runs.map((x) => Math.round(x.rate)),
      p50: pooled(r.runs, 0.5),
      p99: pooled(r.runs, 0.99),
      lost: r.runs.reduce((sum, x) => sum + x.lost, 0),
      reordered: r.runs.reduce((sum, x) => sum + x.reordered, 0),
      rxBytesPerMsg: median(r.runs.map((x) => x.rxBytesPerMsg)),
      runtimeUsPerMsg: median(r.runs.map((x) => x.runtimeUsPerMsg)),
      proxyUsPerMsg: median(r.runs.map((x) => x.proxyUsPerMsg)),
      clientUsPerMsg: median(r.runs.map((x) => x.clientUsPerMsg)),
      messages: s.messages(size, target.offersDeflate ?? deflate),
    };
  });
}

/**
 * The q-quantile of the latencies of every message over all the runs. Not the median of each run's p99: a run
 * lasts about a second here, and whether its p99 is 2 ms or 15 ms depends on whether one scheduler hiccup of the
 * shared 2-core machine fell into it, so per-run p99s come out as two clusters and their median flips between
 * them. Over all the runs' messages a p99 is the latency 1% of the messages exceeded, however the hiccups fell.
 * @param {{ latencies: Float64Array }[]} runs
 * @param {number} q
 */
export function pooled(runs, q) {
  const all = new Float64Array(runs.reduce((n, r) => n + r.latencies.length, 0));
  let at = 0;
  for (const r of runs) {
    all.set(r.latencies, at);
    at += r.latencies.length;
  }
  return quantile(all.sort(), q);
}
