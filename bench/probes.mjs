// @ts-check
// Probes that count rather than time, through the bench worker's instrumented ProbeLobby, and two comparisons:
//   heartbeat   1000 `ping`s from one socket are answered `pong` without one webSocketMessage call
//   storage     SQLite writes (statements and SQLite's rowsWritten), alarms and attachment writes per operation
//   extensions  a deflate-offering client against the Lobby with Sec-WebSocket-Extensions forwarded or stripped
//   no writes   logins and pairings of the Lobby, of the Lobby with its SQLite writes dropped, and of the Relay

import { performance } from "node:perf_hooks";
import { PING } from "../public/wire/protocol.js";
import { Client, closeAll } from "../scripts/lib/client.mjs";
import { fmt, median, table, times } from "../scripts/lib/figures.mjs";
import { loginBatch, measure, openSession } from "./measure.mjs";
import { lobbyTarget, loginAll, pairAll, relayTarget } from "./targets.mjs";

/** @typedef {import("../scripts/dev-server.mjs").DevServer} DevServer */

const PINGS = 1000;

/**
 * ProbeLobby's counters (bench/worker.ts).
 * @typedef {{ messages: number, writeStatements: number, rowsWritten: number, alarms: number, attachments: number }} ProbeCounts
 */

/**
 * @param {DevServer} dev
 * @param {string} lobby
 * @returns {Promise<ProbeCounts>}
 */
async function stats(dev, lobby) {
  const res = await fetch(`${dev.url}/probe/stats?lobby=${lobby}`);
  if (!res.ok) throw new Error(`/probe/stats answered ${res.status}: ${await res.text()}`);
  return /** @type {Promise<ProbeCounts>} */ (res.json());
}

/** @param {ProbeCounts} a @param {ProbeCounts} b */
const delta = (a, b) => ({
  messages: b.messages - a.messages,
  writeStatements: b.writeStatements - a.writeStatements,
  rowsWritten: b.rowsWritten - a.rowsWritten,
  alarms: b.alarms - a.alarms,
  attachments: b.attachments - a.attachments,
});

const fresh = (/** @type {string} */ what) => `${what}-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}`;

/** @param {DevServer} dev */
async function heartbeat(dev) {
  const lobby = fresh("heartbeat");
  const target = lobbyTarget("text", "probe");
  const c = await Client.open(new URL(target.path(lobby), dev.wsUrl).href, "pinger");
  try {
    await target.login(c);
    // While anyone has spoken in the last QUIET_MS (src/timers.ts, 3 s) the Lobby answers pings itself, under the
    // rate limit; once the lobby is quiet the runtime answers them without waking it. Heartbeats are for quiet.
    await new Promise((r) => setTimeout(r, 3000 + 1500));
    const before = await stats(dev, lobby);
    const start = performance.now();
    for (let i = 0; i < PINGS; i++) c.sendRaw(PING);
    let pongs = 0;
    let other = 0;
    while (pongs + other < PINGS) {
      if ((await c.next(() => true, "an answer to a ping")).ev.type === "pong") pongs++;
      else other++;
    }
    const secs = (performance.now() - start) / 1000;
    const afterPings = await stats(dev, lobby);
    // The control: one ordinary command must show up as exactly one call, or the counter proves nothing.
    c.send({ type: "list" });
    await c.next((e) => e.type === "users" && e.total === 1, "the list");
    const afterControl = await stats(dev, lobby);
    return {
      pings: PINGS,
      pongs,
      otherReplies: other,
      secs,
      callsForPings: afterPings.messages - before.messages,
      callsForControl: afterControl.messages - afterPings.messages,
    };
  } finally {
    await closeAll([c]);
  }
}

/**
 * Counts through ProbeLobby while 2×pairs users log in, pair, chat, exit and close, in a fresh lobby.
 * @param {DevServer} dev
 * @param {number} pairs
 * @param {number} lines  per pair
 */
async function storage(dev, pairs, lines) {
  const lobby = fresh("storage");
  const target = lobbyTarget("text", "probe");
  const s0 = await stats(dev, lobby);
  const { clients } = await loginAll(target, { base: dev.wsUrl, room: lobby, n: 2 * pairs, deflate: false, concurrency: 8 });
  try {
    const s1 = await stats(dev, lobby);
    const paired = await pairAll(target, clients, 8);
    const s2 = await stats(dev, lobby);
    for (const { from, to } of paired.pairs) {
      for (let i = 0; i < lines; i++) {
        from.send({ type: "say", text: `line ${i}` });
        await to.next((e) => e.type === "message" && e.from === from.name && e.text === `line ${i}`, `line ${i}`);
      }
    }
    const s3 = await stats(dev, lobby);
    for (const { from, to } of paired.pairs) {
      from.send({ type: "exit" });
      await Promise.all([
        from.next((e) => e.type === "you_left", "you left"),
        to.next((e) => e.type === "partner_left" && e.name === from.name && e.reason === "exit", "partner left"),
      ]);
    }
    const s4 = await stats(dev, lobby);
    await closeAll(clients);
    const s5 = await stats(dev, lobby);
    return [
      { op: "login", count: 2 * pairs, ...delta(s0, s1) },
      { op: "pairing (connect + y)", count: pairs, ...delta(s1, s2) },
      { op: "chat line", count: pairs * lines, ...delta(s2, s3) },
      { op: "exit", count: pairs, ...delta(s3, s4) },
      { op: "departure (close)", count: 2 * pairs, ...delta(s4, s5) },
    ];
  } finally {
    await closeAll(clients);
  }
}

/**
 * Logins (a batch into a lobby of `size` pairs) and pairings of the Lobby, the Lobby with its SQLite writes
 * dropped, and the Relay: fresh sessions, `reps` times each, in the order A B C, C B A, …
 * @param {DevServer} dev
 * @param {import("./measure.mjs").Settings} s
 * @param {number} size
 * @param {(line: string) => void} log
 */
async function noWrites(dev, s, size, log) {
  const targets = [lobbyTarget(s.dialect), lobbyTarget(s.dialect, "nowrite"), relayTarget(s.dialect)];
  /** @type {Map<string, { logins: number[], pairings: number[] }>} */
  const results = new Map(targets.map((t) => [t.label, { logins: [], pairings: [] }]));
  for (let rep = 0; rep < s.reps; rep++) {
    for (const target of rep % 2 ? [...targets].reverse() : targets) {
      const session = await openSession(dev, s, target, size, false);
      const batch = await loginBatch(dev, s, session);
      await closeAll(session.clients);
      results.get(target.label)?.logins.push(batch.logins);
      results.get(target.label)?.pairings.push(session.pairings);
      log(`  ${target.label.padEnd(16)} ${size} pairs #${rep + 1}: ${fmt(batch.logins)} logins/s, ${fmt(session.pairings)} pairings/s`);
    }
  }
  return targets.map((t) => {
    const r = /** @type {{ logins: number[], pairings: number[] }} */ (results.get(t.label));
    return { target: t.label, logins: median(r.logins), pairings: median(r.pairings), loginRuns: r.logins.map(Math.round) };
  });
}

/**
 * @param {DevServer} dev
 * @param {import("./measure.mjs").Settings} s
 * @param {number} size  pairs for the comparisons
 * @param {(line: string) => void} log
 */
export async function runProbes(dev, s, size, log) {
  log("probes: heartbeat");
  const hb = await heartbeat(dev);
  log("probes: storage writes per operation");
  const st = await storage(dev, 10, 10);
  log("probes: Sec-WebSocket-Extensions forwarded vs stripped (deflate-offering client)");
  const ext = await measure(dev, s, [lobbyTarget(s.dialect), lobbyTarget(s.dialect, "lobby-strip")], size, true, log);
  log("probes: storage share of logins and pairings");
  const nw = await noWrites(dev, s, size, log);

  const [forwarded, stripped] = ext;
  const lines = [
    `(a) Heartbeat: ${hb.pings} pings from one logged-in socket → ${hb.pongs} pongs (${hb.otherReplies} other replies) ` +
      `in ${(hb.secs * 1000).toFixed(0)} ms; Lobby.webSocketMessage calls during them: ${hb.callsForPings} ` +
      `(control: one "list" afterwards → ${hb.callsForControl} call).`,
    "",
    "(b) Storage per operation, counted in ProbeLobby (bench/worker.ts wraps ctx.storage.sql.exec, setAlarm and",
    "    acceptWebSocket before the Lobby's constructor runs; rows written = SQLite's cursor.rowsWritten, which",
    "    counts the primary-key index entry as well, so an INSERT OR REPLACE of one row reports 2):",
    table(
      ["operation", "count", "SQL writes/op", "rows written/op", "setAlarm/op", "attachment writes/op", "webSocketMessage/op"],
      st.map((r) => [
        r.op,
        r.count,
        (r.writeStatements / r.count).toFixed(2),
        (r.rowsWritten / r.count).toFixed(2),
        (r.alarms / r.count).toFixed(2),
        (r.attachments / r.count).toFixed(2),
        (r.messages / r.count).toFixed(2),
      ]),
    ),
    "",
    `(c) Sec-WebSocket-Extensions, ${size} pairs, deflate-offering client, ${s.dialect} dialect, medians of ${s.reps} runs:`,
    table(
      ["route", "negotiated", "msgs/s", "p50 ms", "p99 ms", "rx B/msg", "runtime µs/msg", "lost", "reordered"],
      ext.map((r) => [
        r.target === "Lobby" ? "header forwarded" : "header stripped",
        r.negotiated || "none",
        fmt(r.rate),
        r.p50.toFixed(1),
        r.p99.toFixed(1),
        r.rxBytesPerMsg.toFixed(1),
        r.runtimeUsPerMsg.toFixed(1),
        r.lost,
        r.reordered,
      ]),
    ),
    forwarded && stripped
      ? `    stripped/forwarded: msgs/s ${times(stripped.rate / forwarded.rate)}, p99 ${times(stripped.p99 / forwarded.p99)}, ` +
        `runtime CPU ${times(stripped.runtimeUsPerMsg / forwarded.runtimeUsPerMsg)}; compression ` +
        (stripped.negotiated && forwarded.negotiated
          ? "was negotiated either way: the runtime settles it with the client before the Lobby sees the request"
          : stripped.negotiated === forwarded.negotiated
            ? "was refused either way"
            : "differs between the routes")
      : "",
    "",
    `(d) What storage costs a login and a pairing, ${size} pairs, no deflate, medians of ${s.reps} fresh sessions:`,
    table(
      ["target", "logins/s", "pairings/s", "logins/s per run"],
      nw.map((r) => [r.target, fmt(r.logins), fmt(r.pairings), r.loginRuns.join(" ")]),
    ),
  ];
  return { heartbeat: hb, storage: st, extensions: ext, noWrites: nw, report: lines.join("\n") };
}
