// @ts-check
// A CPU profile of the worker's isolate inside workerd, through its DevTools inspector (Miniflare's inspectorPort, or
// wrangler dev's --inspector-port proxy):
// V8's sampling profiler, attached only while a relay run goes on, then self time summed per function and per
// V8 bucket ((program) is the runtime's own C++ work: sockets, frames, event dispatch; (idle) is waiting).
//
// Run it on a runtime of its own, started fresh with the inspector open (the timed runs have none): attaching
// enables the debugger in the isolate, which must not be on for timed runs, and wrangler's inspector proxy keeps
// every runtime inspector event (a Network.requestWillBeSent per WebSocket upgrade) until a DevTools client
// attaches and then replays them all (after the main benchmark's tens of thousands of upgrades that replay once
// took wrangler's Node process past 1 GB and out of memory).

import WebSocket from "ws";
import { closeAll } from "../scripts/lib/client.mjs";
import { fmt, table } from "../scripts/lib/figures.mjs";
import { openSession, relayRun } from "./measure.mjs";
import { lobbyTarget, relayTarget } from "./targets.mjs";

/**
 * @typedef {object} CpuProfile
 * @property {{ id: number, callFrame: { functionName: string, url: string, lineNumber: number } }[]} nodes
 * @property {number[]} samples
 * @property {number[]} timeDeltas  µs
 */

class Inspector {
  /** @param {WebSocket} ws */
  constructor(ws) {
    this.ws = ws;
    this.nextId = 1;
    /** @type {Map<number, { resolve: (v: any) => void, reject: (e: Error) => void }>} */
    this.pending = new Map();
    ws.on("message", (data) => {
      const msg = JSON.parse(String(data));
      const waiter = msg.id === undefined ? undefined : this.pending.get(msg.id);
      if (!waiter) return; // events
      this.pending.delete(msg.id);
      if (msg.error) waiter.reject(new Error(`inspector: ${JSON.stringify(msg.error)}`));
      else waiter.resolve(msg.result);
    });
  }

  /** @param {number} port */
  static async connect(port) {
    const targets = /** @type {{ webSocketDebuggerUrl: string }[]} */ (await (await fetch(`http://127.0.0.1:${port}/json`)).json());
    const url = targets[0]?.webSocketDebuggerUrl;
    if (!url) throw new Error(`inspector: no target at http://127.0.0.1:${port}/json`);
    const ws = new WebSocket(url, { perMessageDeflate: false, maxPayload: 1 << 30 });
    await new Promise((res, rej) => {
      ws.once("open", res);
      ws.once("error", rej);
    });
    return new Inspector(ws);
  }

  /**
   * @param {string} method
   * @param {object} [params]
   * @returns {Promise<any>}
   */
  call(method, params = {}) {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.ws.send(JSON.stringify({ id, method, params }));
    });
  }

  /**
   * Profiles the isolate while `fn` runs.
   * @template T
   * @param {() => Promise<T>} fn
   * @param {number} intervalUs
   * @returns {Promise<{ result: T, profile: CpuProfile }>}
   */
  async profile(fn, intervalUs = 200) {
    await this.call("Profiler.enable");
    await this.call("Profiler.setSamplingInterval", { interval: intervalUs });
    await this.call("Profiler.start");
    const result = await fn();
    const { profile } = await this.call("Profiler.stop");
    return { result, profile };
  }

  close() {
    this.ws.close();
  }
}

/**
 * Where the isolate's time went, µs, in buckets: the worker's own JavaScript (by function, self time including
 * whatever V8 inlined into it), the native WebSocket send, the runtime's JavaScript glue (no script URL), V8's
 * garbage collector, (program) = workerd's C++ (sockets, frames, event dispatch), and (idle).
 * @param {CpuProfile} profile
 */
function buckets(profile) {
  /** @type {Map<number, { name: string, bucket: string }>} */
  const kinds = new Map();
  for (const node of profile.nodes) {
    const { functionName, url } = node.callFrame;
    let bucket;
    if (functionName === "(idle)") bucket = "idle";
    else if (functionName === "(program)" || functionName === "(root)") bucket = "program";
    else if (functionName === "(garbage collector)") bucket = "gc";
    else if (!url && functionName === "send") bucket = "send";
    else if (!url) bucket = "glue";
    else bucket = "worker";
    kinds.set(node.id, { name: functionName || "(anonymous)", bucket });
  }
  /** @type {Record<string, number>} */
  const totals = { worker: 0, send: 0, glue: 0, gc: 0, program: 0, idle: 0 };
  /** @type {Map<string, number>} */
  const functions = new Map();
  for (let i = 0; i < profile.samples.length; i++) {
    const kind = kinds.get(/** @type {number} */ (profile.samples[i]));
    // timeDeltas[i + 1] is the time until the next sample: the time spent where sample i was taken.
    const dt = profile.timeDeltas[i + 1] ?? 0;
    if (!kind) continue;
    totals[kind.bucket] = (totals[kind.bucket] ?? 0) + dt;
    if (kind.bucket === "worker") functions.set(kind.name, (functions.get(kind.name) ?? 0) + dt);
  }
  return { totals, functions };
}

/**
 * V8's sampling profiler on the worker's isolate during relay runs of the Lobby and the Relay (sessions open side
 * by side, runs A B B A…), summed per bucket and divided by the messages relayed.
 * @param {import("../scripts/dev-server.mjs").DevServer} dev
 * @param {import("./measure.mjs").Settings} s
 * @param {number} size
 * @param {(line: string) => void} log
 */
async function isolateProfile(dev, s, size, log) {
  const targets = [lobbyTarget(s.dialect), relayTarget(s.dialect)];
  const inspector = await Inspector.connect(dev.inspectorPort);
  /** @type {Map<string, { totals: Record<string, number>, functions: Map<string, number>, messages: number }>} */
  const sums = new Map(targets.map((t) => [t.label, { totals: {}, functions: new Map(), messages: 0 }]));
  /** @type {import("./measure.mjs").Session[]} */
  const sessions = [];
  try {
    for (const target of targets) sessions.push(await openSession(dev, s, target, size, false));
    for (let rep = 0; rep < s.reps; rep++) {
      for (const session of rep % 2 ? [...sessions].reverse() : sessions) {
        const { result, profile } = await inspector.profile(() => relayRun(dev, s, session), 100);
        const { totals, functions } = buckets(profile);
        const sum = /** @type {NonNullable<ReturnType<typeof sums.get>>} */ (sums.get(session.target.label));
        for (const [k, v] of Object.entries(totals)) sum.totals[k] = (sum.totals[k] ?? 0) + v;
        for (const [k, v] of functions) sum.functions.set(k, (sum.functions.get(k) ?? 0) + v);
        sum.messages += result.messages;
        log(`  ${session.target.label.padEnd(16)} profiled run #${rep + 1}: ${fmt(result.rate)} msgs/s`);
      }
    }
  } finally {
    inspector.close();
    for (const session of sessions) await closeAll(session.clients);
  }
  return targets.map((t) => {
    const sum = /** @type {NonNullable<ReturnType<typeof sums.get>>} */ (sums.get(t.label));
    /** @type {Record<string, number>} */
    const perMsg = {};
    for (const [k, v] of Object.entries(sum.totals)) perMsg[k] = v / sum.messages;
    const top = [...sum.functions].sort((a, b) => b[1] - a[1]).slice(0, 8).map(([name, us]) => ({ name, usPerMsg: us / sum.messages }));
    return { target: t.label, messages: sum.messages, perMsg, top };
  });
}

const BUCKETS = /** @type {const} */ ([
  ["worker", "worker JS (self, incl. inlined)"],
  ["send", "WebSocket.send (native)"],
  ["glue", "runtime JS glue"],
  ["gc", "garbage collector"],
  ["program", "(program): workerd C++"],
]);

/**
 * @param {import("../scripts/dev-server.mjs").DevServer} dev  a fresh one (see the header)
 * @param {import("./measure.mjs").Settings} s
 * @param {number} size
 * @param {(line: string) => void} log
 */
export async function runIsolateProfile(dev, s, size, log) {
  log("isolate profile through the inspector");
  const iso = await isolateProfile(dev, s, size, log);
  const busy = (/** @type {Record<string, number>} */ p) => BUCKETS.reduce((sum, [k]) => sum + (p[k] ?? 0), 0);
  const lobby = iso.find((r) => r.target === "Lobby");
  const report = [
    `(5a) Where the isolate's time goes per relayed message: V8's sampling profiler (100 µs) on the worker's isolate through`,
    `     workerd's inspector, ${size} pairs, no deflate, ${s.dialect} dialect, ${s.reps} profiled runs each (µs per message;`,
    "     V8 moves native-call time between a caller's self time and the callee, so read worker JS + send together):",
    table(
      ["bucket", ...iso.map((r) => r.target), "difference"],
      [
        ...BUCKETS.map(([k, label]) => [
          label,
          ...iso.map((r) => (r.perMsg[k] ?? 0).toFixed(2)),
          ((iso[0]?.perMsg[k] ?? 0) - (iso[1]?.perMsg[k] ?? 0)).toFixed(2),
        ]),
        ["busy total", ...iso.map((r) => busy(r.perMsg).toFixed(2)), (busy(iso[0]?.perMsg ?? {}) - busy(iso[1]?.perMsg ?? {})).toFixed(2)],
        ["(idle)", ...iso.map((r) => (r.perMsg.idle ?? 0).toFixed(2)), ""],
      ],
    ),
    lobby ? `     the Lobby's busiest functions (self µs/msg): ${lobby.top.map((f) => `${f.name} ${f.usPerMsg.toFixed(2)}`).join(", ")}` : "",
  ].join("\n");
  return { isolate: iso, report };
}
