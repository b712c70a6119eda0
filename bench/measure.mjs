// @ts-check
// One measurement: targets side by side at one size and deflate setting, logged in, paired and relayed through
// several times in the order A, B, B, A…, so that noise from the rest of the machine falls on both alike.
// Medians per target, plus the CPU each relayed message cost the server and this client.

import { closeAll, loginAll, pairAll, relayFlow } from "./clients.mjs";
import { fmt, median } from "./format.mjs";

/**
 * Under wrangler dev the proxy workerd holds about six descriptors per client socket, and its limit here is
 * 20000: more open sockets than this and new ones are reset. Above it, each run gets a session of its own.
 */
const MAX_OPEN_SOCKETS = 2400;

/**
 * @typedef {object} Settings
 * @property {"text" | "json"} dialect
 * @property {number} window
 * @property {number} bytes
 * @property {number} reps
 * @property {number} concurrency
 * @property {(size: number) => number} messages  per requester per relay run
 */

/**
 * @typedef {object} Row
 * @property {string} target
 * @property {number} size  pairs
 * @property {boolean} deflate  the client offered permessage-deflate
 * @property {string} negotiated  what the server agreed to ("" for nothing)
 * @property {boolean} together  both targets' sockets were open at once (else a fresh session per run)
 * @property {number} logins  per second
 * @property {number} pairings  per second
 * @property {number} rxBytesPerUser  TCP bytes a client read from its upgrade until paired (median)
 * @property {number} rate  relayed messages per second (median of the runs)
 * @property {number[]} rates  every run's
 * @property {number} p50  ms (median of the runs)
 * @property {number} p99  ms (median of the runs)
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
 * @property {import("./clients.mjs").Target} target
 * @property {import("./clients.mjs").Client[]} clients
 * @property {import("./clients.mjs").Pair[]} pairs
 * @property {string} negotiated
 * @property {number} logins  per second
 * @property {number} pairings  per second
 * @property {number} rxBytesPerUser  TCP bytes each client read while all logged in and paired (JSON presence shows here)
 */

/** JSON clients get presence pushes at most every 500 ms (PRESENCE_INTERVAL_MS): let the last one pass. */
const PRESENCE_SETTLE_MS = 700;

/**
 * Logs in 2×size users in a fresh lobby (or room) and pairs them; only the logins and the pairing are timed.
 * @param {import("./dev-server.mjs").DevServer} dev
 * @param {Settings} s
 * @param {import("./clients.mjs").Target} target
 * @param {number} size
 * @param {boolean} deflate
 * @returns {Promise<Session>}
 */
export async function openSession(dev, s, target, size, deflate) {
  const room = `${target.label.replace(/\W+/g, "").toLowerCase()}-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}`;
  // One untimed login and departure first: the object is constructed (and the Lobby's tables created) before the
  // clock starts, as in production, where the one lobby lives long and logins do not pay for its creation.
  const warm = await loginAll(target, { base: dev.ws, room, n: 1, deflate, concurrency: 1, prefix: "warmup" });
  await closeAll(warm.clients);
  const login = await loginAll(target, { base: dev.ws, room, n: 2 * size, deflate, concurrency: s.concurrency });
  try {
    const pairing = await pairAll(target, login.clients, { dialect: s.dialect, concurrency: s.concurrency });
    // Presence pushes still due after the pairing would land in the first relay run: wait them out.
    if (s.dialect === "json") await new Promise((res) => setTimeout(res, PRESENCE_SETTLE_MS));
    const rx = login.clients.reduce((sum, c) => sum + (c.socket?.bytesRead ?? 0), 0);
    return {
      target,
      clients: login.clients,
      pairs: pairing.pairs,
      negotiated: login.negotiated,
      logins: (2 * size) / login.secs,
      pairings: size / pairing.secs,
      rxBytesPerUser: rx / login.clients.length,
    };
  } catch (err) {
    await closeAll(login.clients);
    throw err;
  }
}

/**
 * @typedef {import("./clients.mjs").FlowResult & { runtimeUsPerMsg: number, proxyUsPerMsg: number, clientUsPerMsg: number }} Run
 */

/**
 * @param {import("./dev-server.mjs").DevServer} dev
 * @param {Settings} s
 * @param {Session} session
 * @returns {Promise<Run>}
 */
export async function relayRun(dev, s, session) {
  const serverBefore = dev.serverCpu();
  const clientBefore = process.cpuUsage();
  const flow = await relayFlow(session.target, session.pairs, {
    messages: s.messages(session.pairs.length),
    window: s.window,
    bytes: s.bytes,
  });
  const serverAfter = dev.serverCpu();
  const client = process.cpuUsage(clientBefore);
  if (serverBefore && serverAfter && serverBefore.runtimePid !== serverAfter.runtimePid) {
    // Every socket dropped with it: this run's losses are the restart's, not the target's. Say so loudly.
    console.error(
      `\nWARNING: wrangler dev restarted its runtime during a ${session.target.label} run ` +
        `(workerd ${serverBefore.runtimePid} → ${serverAfter.runtimePid}); wrangler said:\n${dev.output().slice(-3000)}\n`,
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
 * targets' sockets fit at once, each logs in and pairs once and the runs interleave over the open sessions;
 * otherwise every run gets a fresh session (login, pairing, relay, close) in the same alternating order, and
 * logins/s and pairings/s are medians too.
 * @param {import("./dev-server.mjs").DevServer} dev
 * @param {Settings} s
 * @param {import("./clients.mjs").Target[]} targets  in the order of the first run
 * @param {number} size
 * @param {boolean} deflate
 * @param {(line: string) => void} log
 * @returns {Promise<Row[]>}
 */
export async function measure(dev, s, targets, size, deflate, log) {
  /** @typedef {{ session: Session | null, runs: Run[], logins: number[], pairings: number[], rx: number[], negotiated: string }} Results */
  /** @type {Map<import("./clients.mjs").Target, Results>} */
  const results = new Map(targets.map((t) => [t, { session: null, runs: [], logins: [], pairings: [], rx: [], negotiated: "" }]));
  const of = (/** @type {import("./clients.mjs").Target} */ t) => /** @type {Results} */ (results.get(t));
  const together = targets.length * 2 * size <= MAX_OPEN_SOCKETS;
  const label = `${size} pairs ${deflate ? "deflate" : "plain  "}`;

  /** @param {import("./clients.mjs").Target} target */
  const open = async (target) => {
    const r = of(target);
    r.session = await openSession(dev, s, target, size, deflate);
    r.logins.push(r.session.logins);
    r.pairings.push(r.session.pairings);
    r.rx.push(r.session.rxBytesPerUser);
    r.negotiated = r.session.negotiated;
    log(`  ${target.label.padEnd(16)} ${label}: ${fmt(r.session.logins)} logins/s, ${fmt(r.session.pairings)} pairings/s`);
  };
  /** @param {import("./clients.mjs").Target} target */
  const close = async (target) => {
    const r = of(target);
    if (r.session) await closeAll(r.session.clients);
    r.session = null;
  };
  /** @param {import("./clients.mjs").Target} target @param {number} rep */
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
    if (together) for (const target of targets) await open(target);
    // Short runs on open sessions are cheap and noisy: they get all the repetitions. Fresh sessions (the largest
    // sizes) cost a login and pairing of thousands of sockets each, so they stop at three.
    const reps = together ? s.reps : Math.min(s.reps, 3);
    for (let rep = 0; rep < reps; rep++) {
      for (const target of rep % 2 ? [...targets].reverse() : targets) {
        if (!together) await open(target);
        await run(target, rep);
        if (!together) await close(target);
      }
    }
  } finally {
    for (const target of targets) await close(target);
  }

  return targets.map((target) => {
    const r = of(target);
    return {
      target: target.label,
      size,
      deflate,
      negotiated: r.negotiated,
      together,
      logins: median(r.logins),
      pairings: median(r.pairings),
      rxBytesPerUser: median(r.rx),
      rate: median(r.runs.map((x) => x.rate)),
      rates: r.runs.map((x) => Math.round(x.rate)),
      p50: median(r.runs.map((x) => x.p50)),
      p99: median(r.runs.map((x) => x.p99)),
      lost: r.runs.reduce((sum, x) => sum + x.lost, 0),
      reordered: r.runs.reduce((sum, x) => sum + x.reordered, 0),
      rxBytesPerMsg: median(r.runs.map((x) => x.rxBytesPerMsg)),
      runtimeUsPerMsg: median(r.runs.map((x) => x.runtimeUsPerMsg)),
      proxyUsPerMsg: median(r.runs.map((x) => x.proxyUsPerMsg)),
      clientUsPerMsg: median(r.runs.map((x) => x.clientUsPerMsg)),
      messages: s.messages(size),
    };
  });
}
