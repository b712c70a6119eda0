// @ts-check
// Probes that count rather than time, through the bench worker's instrumented ProbeLobby, and two comparisons:
//   heartbeat   1000 `ping`s from one socket are answered `pong` without one webSocketMessage call
//   storage     SQLite writes (statements and SQLite's rowsWritten), alarms and attachment writes per operation,
//               for each dialect, and per chat from request to exit
//   no writes   logins and pairings of the Lobby, of the Lobby with its SQLite writes dropped, and of the Relay

import { performance } from "node:perf_hooks";
import { PING } from "../public/wire/protocol.js";
import { Client, closeAll, pairUp } from "../scripts/lib/client.mjs";
import { fmt, median, table, times } from "../scripts/lib/figures.mjs";
import { loginBatch, openSession } from "./measure.mjs";
import { lobbyTarget, loginAll, relayTarget } from "./targets.mjs";

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
 * @typedef {{ op: string, count: number } & ReturnType<typeof delta>} StorageRow  what `count` operations cost in all
 */

/**
 * Counts through ProbeLobby while 2×pairs users log in, and each pair asks, accepts, chats, exits, and closes its
 * sockets, in a fresh lobby. One pair goes through a whole chat first, uncounted: a lobby lives long, and the tables
 * its first request creates (4 rows in sqlite_master, once) are no chat's (that first chat is reported on its own).
 * A JSON client's socket that closes leaves its user away for RESUME_GRACE_MS (it may resume): an away row, and
 * deleting it when the window ends, which the probe waits for.
 * @param {DevServer} dev
 * @param {"text" | "json"} dialect
 * @param {number} pairs
 * @param {number} lines  per pair
 * @param {number} graceMs  RESUME_GRACE_MS of the runtime
 * @returns {Promise<StorageRow[]>}
 */
export async function storage(dev, dialect, pairs, lines, graceMs) {
  const lobby = fresh(`storage-${dialect}`);
  const target = lobbyTarget(dialect, "probe");
  const base = dev.wsUrl;
  const first = await loginAll(target, { base, room: lobby, n: 2, deflate: false, concurrency: 2, prefix: "first" });
  const [fa, fb] = /** @type {[Client, Client]} */ (first.clients);
  const sFirst = await stats(dev, lobby);
  await pairUp(fa, fb);
  await exit(fa, fb);
  const sFirstDone = await stats(dev, lobby);
  const { clients } = await loginAll(target, { base, room: lobby, n: 2 * pairs, deflate: false, concurrency: 8 });
  /** @type {import("./targets.mjs").Pair[]} */
  const pairsOf = [];
  for (let i = 0; i + 1 < clients.length; i += 2) pairsOf.push({ from: /** @type {Client} */ (clients[i]), to: /** @type {Client} */ (clients[i + 1]) });
  try {
    const s1 = await stats(dev, lobby);
    for (const { from, to } of pairsOf) {
      from.send({ type: "connect", to: to.name });
      await to.next((e) => e.type === "incoming_request" && e.from === from.name, `request from ${from.name}`);
    }
    const s2 = await stats(dev, lobby);
    for (const { from, to } of pairsOf) {
      to.send({ type: "answer", accept: true });
      await from.next((e) => e.type === "connected" && e.with === to.name, `connected with ${to.name}`);
    }
    const s3 = await stats(dev, lobby);
    for (const { from, to } of pairsOf) {
      for (let i = 0; i < lines; i++) {
        from.send({ type: "say", text: `line ${i}` });
        await to.next((e) => e.type === "message" && e.from === from.name && e.text === `line ${i}`, `line ${i}`);
      }
    }
    const s4 = await stats(dev, lobby);
    for (const { from, to } of pairsOf) await exit(from, to);
    const s5 = await stats(dev, lobby);
    await closeAll([...clients, fa, fb]);
    const s6 = await stats(dev, lobby);
    /** @type {StorageRow[]} */
    const rows = [
      { op: "login", count: 2 * pairs, ...delta(sFirstDone, s1) },
      { op: "request (connect)", count: pairs, ...delta(s1, s2) },
      { op: "accept (y)", count: pairs, ...delta(s2, s3) },
      { op: "chat line", count: pairs * lines, ...delta(s3, s4) },
      { op: "exit", count: pairs, ...delta(s4, s5) },
      { op: "chat (request to exit)", count: pairs, ...delta(s1, s5) },
      { op: "first chat of a new lobby", count: 1, ...delta(sFirst, sFirstDone) },
      { op: "departure (close)", count: 2 * pairs + 2, ...delta(s5, s6) },
    ];
    if (dialect === "json" && graceMs > 0) {
      // Every user who closed is away until its window ends; then its row goes.
      await new Promise((r) => setTimeout(r, graceMs + 2000));
      rows.push({ op: "away window ends", count: 2 * pairs + 2, ...delta(s6, await stats(dev, lobby)) });
    }
    return rows;
  } finally {
    await closeAll([...clients, fa, fb]);
  }
}

/** `from` leaves the chat with `to`; both hear so. @param {Client} from @param {Client} to */
async function exit(from, to) {
  from.send({ type: "exit" });
  await Promise.all([
    from.next((e) => e.type === "you_left", "you left"),
    to.next((e) => e.type === "partner_left" && e.name === from.name && e.reason === "exit", "partner left"),
  ]);
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
 * @param {number} graceMs  RESUME_GRACE_MS of the runtime
 * @param {(line: string) => void} log
 */
export async function runProbes(dev, s, size, graceMs, log) {
  log("probes: heartbeat");
  const hb = await heartbeat(dev);
  log("probes: storage writes per operation");
  /** @type {Record<"text" | "json", StorageRow[]>} */
  const st = { text: await storage(dev, "text", 10, 10, graceMs), json: await storage(dev, "json", 10, 10, graceMs) };
  log("probes: storage share of logins and pairings");
  const nw = await noWrites(dev, s, size, log);
  const perChat = (/** @type {StorageRow[]} */ rows) => {
    const chat = rows.find((r) => r.op === "chat (request to exit)");
    return chat ? chat.rowsWritten / chat.count : NaN;
  };

  const lines = [
    `(a) Heartbeat: ${hb.pings} pings from one logged-in socket → ${hb.pongs} pongs (${hb.otherReplies} other replies) ` +
      `in ${(hb.secs * 1000).toFixed(0)} ms; Lobby.webSocketMessage calls during them: ${hb.callsForPings} ` +
      `(control: one "list" afterwards → ${hb.callsForControl} call).`,
    "",
    "(b) Storage per operation, counted in ProbeLobby (bench/worker.ts wraps ctx.storage.sql.exec, setAlarm and",
    "    acceptWebSocket before the Lobby's constructor runs; rows written = the sum of SQLite's cursor.rowsWritten",
    "    over every statement, which is what Cloudflare bills: a CREATE TABLE writes 2 rows of sqlite_master).",
    `    10 pairs in a fresh lobby, 10 lines each; a JSON client that closes is away for RESUME_GRACE_MS (${graceMs} ms here):`,
    table(
      ["dialect", "operation", "count", "SQL writes/op", "rows written/op", "setAlarm/op", "attachment writes/op", "webSocketMessage/op"],
      (/** @type {const} */ (["text", "json"])).flatMap((dialect) =>
        st[dialect].map((r) => [
          dialect,
          r.op,
          r.count,
          (r.writeStatements / r.count).toFixed(2),
          (r.rowsWritten / r.count).toFixed(2),
          (r.alarms / r.count).toFixed(2),
          (r.attachments / r.count).toFixed(2),
          (r.messages / r.count).toFixed(2),
        ]),
      ),
      2,
    ),
    `    rows written per chat, request to exit: ${perChat(st.text).toFixed(2)} (text), ${perChat(st.json).toFixed(2)} (json; target ≤ 3)`,
    "",
    `(c) What storage costs a login and a pairing, ${size} pairs, no deflate, medians of ${s.reps} fresh sessions:`,
    table(
      ["target", "logins/s", "pairings/s", "logins/s per run"],
      nw.map((r) => [r.target, fmt(r.logins), fmt(r.pairings), r.loginRuns.join(" ")]),
    ),
  ];
  return { heartbeat: hb, storage: st, rowsPerChat: { text: perChat(st.text), json: perChat(st.json) }, noWrites: nw, report: lines.join("\n") };
}
