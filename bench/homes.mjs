// @ts-check
// `npm run bench -- --homes N`: what spreading a namespace over N home Lobbies (HOMES=N, src/homes.ts) costs, in one
// run against one server with HOMES=N and, beside it, one with HOMES unset (one Lobby):
//   - relayed chat lines per second and their p99 where both users of each pair are on the same home, and where they
//     are on different homes (the requester then visits its partner's home: each line it sends is forwarded there,
//     and each line it is sent comes back), both ways round; the ratios cross/same against the issue's targets;
//   - logins per second through the directory (HOMES=N) against one Lobby;
//   - the calls between objects per login, per chat set up and per line, counted by the bench's worker
//     (bench/homes/worker.ts counts every `notes`, `roster`, `present` and directory call made on an object).
// Like run.mjs, the configurations' runs interleave (A, B, C, C, B, A, …) so that the noise of the machine falls on
// all of them alike, and p50/p99 are over every line of all the runs.

import { cpSync } from "node:fs";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { LIFTED_LIMITS, ROOT, configFlags, snapshot, startDevServer } from "../scripts/dev-server.mjs";
import { Client, closeAll, limiter, pairUp } from "../scripts/lib/client.mjs";
import { fmt, median, table, times } from "../scripts/lib/figures.mjs";
import { pooled, relayRun } from "./measure.mjs";
import { lobbyTarget, openAll, relayFlow } from "./targets.mjs";

/** @typedef {import("../scripts/dev-server.mjs").DevServer} DevServer */
/** @typedef {import("./targets.mjs").Pair} Pair */
/** @typedef {Record<string, number>} Calls  calls made on objects by other objects, by kind (bench/homes/worker.ts) */

/** The issue's bars for cross-home chat, as ratios to same-home chat on the same server. */
export const HOMES_TARGETS = { throughput: 0.5, p99: 2 };

/** Users per timed login batch, into a namespace already holding the size's users (as measure.mjs's LOGIN_BATCH). */
const LOGIN_BATCH = 200;

/**
 * Lines per run in all, over every requester. Half of run.mjs's 40,000: a cross-home line costs more, and a run
 * of about a second at the slower of the configurations keeps the whole bench within a few minutes.
 */
const LINES_PER_RUN = 20_000;

/**
 * @typedef {object} HomesOptions  the subset of run.mjs's options this mode reads
 * @property {number} homes
 * @property {number[]} sizes
 * @property {number | undefined} messages
 * @property {number} window
 * @property {number} reps
 * @property {number} bytes
 * @property {"text" | "json"} dialect
 * @property {number} concurrency
 * @property {string | undefined} src
 * @property {import("../scripts/dev-server.mjs").Runtime} runtime
 * @property {boolean} json
 */

/**
 * @typedef {object} Session  users logged in and paired in one namespace of one server
 * @property {DevServer} dev
 * @property {string} ns
 * @property {number} homes  of that server
 * @property {import("../scripts/lib/client.mjs").Client[]} clients
 * @property {Pair[]} pairs  from: the requester (on home i mod N), to: its partner
 * @property {number} batches  login batches so far
 * @property {Calls} loginCalls  per login, while the session's users logged in
 * @property {Calls} pairCalls  per chat, while they paired
 * @property {number} pairings  per second
 */

/**
 * @typedef {object} Row
 * @property {string} label
 * @property {number} size
 * @property {number} rate  median lines/s
 * @property {number[]} rates
 * @property {number} p50
 * @property {number} p99
 * @property {number} lost
 * @property {number} reordered
 * @property {number} runtimeUsPerMsg
 * @property {number} rpcsPerLine  calls between objects per delivered line (every kind)
 * @property {number} notesPerRpc  notes a `notes` call carried, on average (the batching per turn)
 * @property {Calls} lineCalls  per delivered line, by kind
 * @property {Calls} setupCalls  per chat set up (login excluded), by kind
 * @property {number} pairings  per second
 */

/** @param {DevServer} dev @returns {Promise<Calls>} */
async function callsOf(dev) {
  const res = await fetch(`${dev.url}/homes/calls`);
  if (!res.ok) throw new Error(`GET /homes/calls: ${res.status}`);
  return /** @type {Calls} */ (await res.json());
}

/** What was counted between two readings, divided by `per`. @param {Calls} before @param {Calls} after @param {number} per */
function callsPer(before, after, per) {
  /** @type {Calls} */
  const out = {};
  for (const [kind, n] of Object.entries(after)) {
    const d = n - (before[kind] ?? 0);
    if (d) out[kind] = d / per;
  }
  return out;
}

/** Calls between objects, notes apart: a `notes` call is one RPC, the notes it carries are not. @param {Calls} c */
const rpcs = (c) => Object.entries(c).reduce((sum, [kind, n]) => (kind.startsWith("note.") ? sum : sum + n), 0);

/** Two decimals, or two significant digits below 0.01 (a liveness check now and then, over thousands of lines). */
const per = (/** @type {number} */ n) => (n >= 0.01 ? n.toFixed(2) : n.toPrecision(2));

/** "notes 0.25 (input 1.00), lookup 1.00" @param {Calls} c */
function callsText(c) {
  const notes = Object.entries(c).filter(([k]) => k.startsWith("note."));
  const inner = notes.map(([k, n]) => `${k.slice(5)} ${per(n)}`).join(", ");
  const others = Object.entries(c).filter(([k]) => !k.startsWith("note.") && k !== "notes");
  const parts = [...(c.notes ? [`notes ${per(c.notes)}${inner ? ` (${inner})` : ""}`] : []), ...others.map(([k, n]) => `${k} ${per(n)}`)];
  return parts.join(", ") || "none";
}

/**
 * Opens and logs in one user per name, each on the home `homeOf` names; timed.
 * @param {DevServer} dev
 * @param {string} ns
 * @param {{ name: string, home: number }[]} users
 * @param {import("./targets.mjs").Target} target
 * @param {number} concurrency
 */
async function logIn(dev, ns, users, target, concurrency) {
  const accounts = users.map(({ name, home }) => ({ url: new URL(`/ws?lobby=${ns}&home=${home}`, dev.wsUrl).href, name }));
  return openAll(target, accounts, { concurrency });
}

/**
 * A fresh namespace with `size` pairs: pair i's requester on home i mod N, its partner on the same home, or (cross)
 * on the next one. The requester asks, the partner accepts: across homes the requester's record moves to its
 * partner's home, and stays there while they chat.
 * @param {DevServer} dev
 * @param {number} homes  the server's HOMES
 * @param {"same" | "cross" | "one"} layout
 * @param {number} size
 * @param {import("./targets.mjs").Target} target
 * @param {number} concurrency
 * @returns {Promise<Session>}
 */
async function openSession(dev, homes, layout, size, target, concurrency) {
  const ns = `${layout}-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}`;
  // One login and departure on every home first, so that no timed login pays for constructing a home or a shard.
  const warm = await logIn(dev, ns, Array.from({ length: homes }, (_, k) => ({ name: `warm${k}`, home: k })), target, concurrency);
  await closeAll(warm.clients);
  /** @type {{ name: string, home: number }[]} */
  const users = [];
  for (let i = 0; i < size; i++) {
    users.push({ name: `r${i}`, home: i % homes }, { name: `p${i}`, home: (layout === "cross" ? i + 1 : i) % homes });
  }
  const c0 = await callsOf(dev);
  const login = await logIn(dev, ns, users, target, concurrency);
  const c1 = await callsOf(dev);
  try {
    /** @type {Pair[]} */
    const pairs = [];
    for (let i = 0; i < size; i++) pairs.push({ from: /** @type {Client} */ (login.clients[2 * i]), to: /** @type {Client} */ (login.clients[2 * i + 1]) });
    const run = limiter(concurrency);
    const start = performance.now();
    await Promise.all(pairs.map(({ from, to }) => run(() => pairUp(from, to))));
    const secs = (performance.now() - start) / 1000;
    const c2 = await callsOf(dev);
    return {
      dev,
      ns,
      homes,
      clients: login.clients,
      pairs,
      batches: 0,
      loginCalls: callsPer(c0, c1, users.length),
      pairCalls: callsPer(c1, c2, size),
      pairings: size / secs,
    };
  } catch (err) {
    await closeAll(login.clients);
    throw err;
  }
}

/**
 * LOGIN_BATCH more users into a session's namespace, spread over its homes (timed), closed again.
 * @param {Session} session
 * @param {import("./targets.mjs").Target} target
 * @param {number} concurrency
 */
async function loginBatch(session, target, concurrency) {
  const { dev } = session;
  const b = session.batches++;
  const users = Array.from({ length: LOGIN_BATCH }, (_, j) => ({ name: `b${b}-${j}`, home: j % session.homes }));
  const c0 = await callsOf(dev);
  const cpu0 = dev.cpu();
  const login = await logIn(dev, session.ns, users, target, concurrency);
  const cpu1 = dev.cpu();
  const c1 = await callsOf(dev);
  await closeAll(login.clients);
  return {
    logins: LOGIN_BATCH / login.secs,
    runtimeUsPerLogin: cpu0 && cpu1 ? ((cpu1.runtime - cpu0.runtime) * 1000) / LOGIN_BATCH : NaN,
    calls: callsPer(c0, c1, LOGIN_BATCH),
  };
}

/**
 * @param {HomesOptions} o
 * @param {(line: string) => void} log
 */
export async function benchHomes(o, log) {
  const began = performance.now();
  if (o.homes < 2) throw new Error("--homes needs 2 or more homes: with one, there is nothing to cross");
  const code = snapshot(o.src);
  // snapshot() copies the workers the other benches run; this one is added to the copy here.
  cpSync(join(ROOT, "bench/homes"), join(code.dir, "bench/homes"), { recursive: true });
  const flags = configFlags(code.dir);
  const target = lobbyTarget(o.dialect);
  /** @type {import("./measure.mjs").Settings} */
  const settings = {
    dialect: o.dialect,
    window: o.window,
    bytes: o.bytes,
    reps: o.reps,
    concurrency: o.concurrency,
    messages: (size) => o.messages ?? Math.max(20, Math.round(LINES_PER_RUN / size)),
  };
  // As run.mjs: the rate limits lifted, and the slow-reader budget far enough away that a burst of lines does not
  // close a partner whose answer to a check is still queued behind them.
  const vars = { ...LIFTED_LIMITS, MAX_UNREAD_BYTES: String(16 << 20) };
  const start = (/** @type {Record<string, string>} */ more) =>
    startDevServer({ runtime: o.runtime, config: "bench/homes/wrangler.toml", dir: code.dir, vars: { ...vars, ...more }, flags, logLevel: "warn" });
  /** @type {DevServer | null} */
  let spread = null;
  /** @type {DevServer | null} */
  let one = null;
  /** @type {Row[]} */
  const rows = [];
  /** @type {{ size: number, homes: { logins: number, cpu: number, calls: Calls }, one: { logins: number, cpu: number } }[]} */
  const logins = [];
  try {
    log(`starting two servers (HOMES=${o.homes}, and HOMES unset) under ${o.runtime} on a snapshot of ${code.description} …`);
    // Both at once, so that their runs interleave; the one not being measured is idle.
    [spread, one] = await Promise.all([start({ HOMES: String(o.homes) }), start({})]);
    for (const size of o.sizes) {
      /** @type {Session[]} */
      const sessions = [];
      try {
        const same = await openSession(spread, o.homes, "same", size, target, o.concurrency);
        sessions.push(same);
        const cross = await openSession(spread, o.homes, "cross", size, target, o.concurrency);
        sessions.push(cross);
        const lone = await openSession(one, 1, "one", size, target, o.concurrency);
        sessions.push(lone);
        log(
          `  ${size} pairs: pairings/s same home ${fmt(same.pairings)}, cross-home ${fmt(cross.pairings)}, one Lobby ${fmt(lone.pairings)}; ` +
            `calls per cross-home chat set up: ${callsText(cross.pairCalls)}`,
        );
        const reversed = (/** @type {Pair[]} */ pairs) => pairs.map(({ from, to }) => ({ from: to, to: from }));
        const configs = [
          { label: "same home", session: same, pairs: same.pairs },
          { label: "cross, visitor sends", session: cross, pairs: cross.pairs },
          { label: "cross, host sends", session: cross, pairs: reversed(cross.pairs) },
          { label: "one Lobby (HOMES=1)", session: lone, pairs: lone.pairs },
        ];
        // relayRun's session: what it reads of one (the target, the pairs, whether deflate was offered).
        const asRun = (/** @type {typeof configs[number]} */ c) =>
          /** @type {import("./measure.mjs").Session} */ ({ target, deflate: false, pairs: c.pairs, room: c.session.ns, batches: 0, clients: [], negotiated: "", pairings: 0, rxBytesPerUser: 0 });
        // Untimed, as long as a timed run: the first timed run must not pay for the JIT.
        for (const c of configs) await relayFlow(target, c.pairs, { messages: settings.messages(size, false), window: o.window, bytes: o.bytes });
        /** @type {Map<string, { runs: import("./measure.mjs").Run[], calls: Calls[] }>} */
        const results = new Map(configs.map((c) => [c.label, { runs: [], calls: [] }]));
        for (let rep = 0; rep < o.reps; rep++) {
          for (const c of rep % 2 ? [...configs].reverse() : configs) {
            const before = await callsOf(c.session.dev);
            const result = await relayRun(c.session.dev, settings, asRun(c));
            const calls = callsPer(before, await callsOf(c.session.dev), Math.max(1, result.messages));
            const r = /** @type {{ runs: import("./measure.mjs").Run[], calls: Calls[] }} */ (results.get(c.label));
            r.runs.push(result);
            r.calls.push(calls);
            log(
              `  ${c.label.padEnd(22)} ${size} pairs #${rep + 1}: ${fmt(result.rate)} lines/s, p99 ${result.p99.toFixed(1)} ms, ` +
                `runtime ${result.runtimeUsPerMsg.toFixed(1)} µs/line, RPCs/line ${rpcs(calls).toFixed(3)}` +
                (result.lost || result.reordered ? `, LOST ${result.lost}, REORDERED ${result.reordered}` : ""),
            );
          }
        }
        for (const c of configs) {
          const r = /** @type {{ runs: import("./measure.mjs").Run[], calls: Calls[] }} */ (results.get(c.label));
          const delivered = r.runs.reduce((sum, x) => sum + x.messages, 0);
          // Calls over all the runs' lines, not a median of ratios: the batching varies from run to run.
          /** @type {Calls} */
          const lineCalls = {};
          r.calls.forEach((calls, i) => {
            for (const [kind, n] of Object.entries(calls)) lineCalls[kind] = (lineCalls[kind] ?? 0) + (n * (r.runs[i]?.messages ?? 0)) / delivered;
          });
          rows.push({
            label: c.label,
            size,
            rate: median(r.runs.map((x) => x.rate)),
            rates: r.runs.map((x) => Math.round(x.rate)),
            p50: pooled(r.runs, 0.5),
            p99: pooled(r.runs, 0.99),
            lost: r.runs.reduce((sum, x) => sum + x.lost, 0),
            reordered: r.runs.reduce((sum, x) => sum + x.reordered, 0),
            runtimeUsPerMsg: median(r.runs.map((x) => x.runtimeUsPerMsg)),
            rpcsPerLine: rpcs(lineCalls),
            notesPerRpc: lineCalls.notes ? Object.entries(lineCalls).reduce((s, [k, n]) => (k.startsWith("note.") ? s + n : s), 0) / lineCalls.notes : 0,
            lineCalls,
            setupCalls: c.session.pairCalls,
            pairings: c.session.pairings,
          });
        }
        // After the relay runs (as run.mjs): batches of logins into the same-home namespace and into the one
        // Lobby, each holding the size's users, in the order A, B, B, A…
        /** @type {{ homes: Awaited<ReturnType<typeof loginBatch>>[], one: Awaited<ReturnType<typeof loginBatch>>[] }} */
        const batches = { homes: [], one: [] };
        for (let rep = 0; rep < o.reps; rep++) {
          /** @type {[ "homes" | "one", Session ][]} */
          const order = [["homes", same], ["one", lone]];
          for (const [which, session] of rep % 2 ? order.reverse() : order) {
            const b = await loginBatch(session, target, o.concurrency);
            batches[which].push(b);
            log(`  logins ${which === "homes" ? `HOMES=${o.homes}` : "one Lobby"} ${size} pairs #${rep + 1}: ${fmt(b.logins)} logins/s (runtime ${b.runtimeUsPerLogin.toFixed(0)} µs/login; ${callsText(b.calls)})`);
          }
        }
        const lastCalls = batches.homes.at(-1)?.calls ?? {};
        logins.push({
          size,
          homes: { logins: median(batches.homes.map((b) => b.logins)), cpu: median(batches.homes.map((b) => b.runtimeUsPerLogin)), calls: lastCalls },
          one: { logins: median(batches.one.map((b) => b.logins)), cpu: median(batches.one.map((b) => b.runtimeUsPerLogin)) },
        });
      } finally {
        for (const s of sessions) await closeAll(s.clients);
      }
    }
  } catch (err) {
    for (const dev of [spread, one]) if (dev) console.error(dev.output().slice(-3000));
    throw err;
  } finally {
    await Promise.all([spread?.stop(), one?.stop()]);
    code.remove();
  }

  const verdict = judge(rows);
  const elapsed = (performance.now() - began) / 1000;
  if (o.json) {
    console.log(JSON.stringify({ options: o, snapshot: code.description, flags, rows, logins, verdict, elapsedSecs: elapsed }, null, 2));
  } else {
    console.log(
      `\nParley homes bench (${elapsed.toFixed(0)} s): ${code.description}, under ${o.runtime}, flags: ${flags.join(", ") || "none"}\n` +
        `HOMES=${o.homes} against one Lobby (HOMES unset), two servers side by side; ${o.dialect} dialect, window ${o.window}, ` +
        `${o.bytes}-byte lines, ${settings.messages(o.sizes[0] ?? 1, false)} lines per requester at ${o.sizes[0]} pairs, medians of ${o.reps} runs\n` +
        `pair i: requester on home i mod ${o.homes}; partner on the same home, or (cross) on home i+1 mod ${o.homes}, ` +
        `which the requester visits ("visitor sends": the requester's lines; "host sends": its partner's)\n`,
    );
    console.log(
      table(
        ["layout", "pairs", "pairings/s", "lines/s", "p50 ms", "p99 ms", "lost", "reordered", "runtime µs/line", "RPCs/line", "notes/RPC", "lines/s per run"],
        rows.map((r) => [
          r.label, r.size, fmt(r.pairings), fmt(r.rate), r.p50.toFixed(1), r.p99.toFixed(1), r.lost, r.reordered,
          r.runtimeUsPerMsg.toFixed(1), r.rpcsPerLine.toFixed(3), r.notesPerRpc ? r.notesPerRpc.toFixed(2) : "-", r.rates.join(" "),
        ]),
        2,
      ),
    );
    console.log(`\nCross-home/same-home at each size (targets: lines/s ≥${HOMES_TARGETS.throughput}×, p99 ≤${HOMES_TARGETS.p99}×):`);
    console.log(
      table(
        ["pairs", "direction", "lines/s", "p99", "same home vs one Lobby: lines/s", "p99"],
        verdict.each.map((e) => [e.size, e.direction, times(e.throughput), times(e.p99), times(e.sameVsOne.throughput), times(e.sameVsOne.p99)]),
        2,
      ),
    );
    console.log(`\nLogins through the directory (HOMES=${o.homes}, spread over the homes) against one Lobby, batches of ${LOGIN_BATCH}:`);
    console.log(
      table(
        ["pairs present", `HOMES=${o.homes} logins/s`, "one Lobby logins/s", "ratio", `HOMES=${o.homes} µs/login`, "one Lobby µs/login"],
        logins.map((l) => [l.size, fmt(l.homes.logins), fmt(l.one.logins), times(l.homes.logins / l.one.logins), l.homes.cpu.toFixed(0), l.one.cpu.toFixed(0)]),
        1,
      ),
    );
    const biggest = rows.filter((r) => r.size === Math.max(...o.sizes));
    const setupOf = (/** @type {string} */ label) => biggest.find((r) => r.label === label)?.setupCalls ?? {};
    const linesOf = (/** @type {string} */ label) => rows.filter((r) => r.label === label);
    console.log(`\nCalls between objects (counted by bench/homes/worker.ts, not derived):`);
    console.log(`  per login (HOMES=${o.homes}):             ${callsText(logins.at(-1)?.homes.calls ?? {})}`);
    console.log(`  per chat set up, same home:        ${callsText(setupOf("same home"))}`);
    console.log(`  per chat set up, cross-home:       ${callsText(setupOf("cross, visitor sends"))}`);
    for (const label of ["same home", "cross, visitor sends", "cross, host sends"]) {
      for (const r of linesOf(label)) console.log(`  per line, ${`${label}, ${r.size} pairs:`.padEnd(34)} ${callsText(r.lineCalls)}`);
    }
    console.log(`\n${verdictLine(verdict)}`);
  }
  process.exitCode = verdict.missed.length ? 1 : 0;
}

/**
 * Cross-home against same-home at each size and in each direction; over all sizes, the geometric mean decides (a
 * single cell is a median of a few runs on a shared machine, as in verdict.mjs), and the worst cell is reported.
 * @param {Row[]} rows
 */
export function judge(rows) {
  const directions = ["cross, visitor sends", "cross, host sends"];
  /** @type {{ size: number, direction: string, throughput: number, p99: number, sameVsOne: { throughput: number, p99: number } }[]} */
  const each = [];
  for (const size of new Set(rows.map((r) => r.size))) {
    const same = rows.find((r) => r.size === size && r.label === "same home");
    const one = rows.find((r) => r.size === size && r.label.startsWith("one Lobby"));
    for (const direction of directions) {
      const cross = rows.find((r) => r.size === size && r.label === direction);
      if (!same || !cross) continue;
      each.push({
        size,
        direction: direction.slice("cross, ".length),
        throughput: cross.rate / same.rate,
        p99: cross.p99 / same.p99,
        sameVsOne: { throughput: one ? same.rate / one.rate : NaN, p99: one ? same.p99 / one.p99 : NaN },
      });
    }
  }
  const geomean = (/** @type {number[]} */ xs) => Math.exp(xs.reduce((s, x) => s + Math.log(x), 0) / xs.length);
  const over = directions.map((d) => {
    const cells = each.filter((e) => d.endsWith(e.direction));
    return {
      direction: d.slice("cross, ".length),
      throughput: geomean(cells.map((e) => e.throughput)),
      p99: geomean(cells.map((e) => e.p99)),
      worstThroughput: Math.min(...cells.map((e) => e.throughput)),
      worstP99: Math.max(...cells.map((e) => e.p99)),
    };
  });
  const lost = rows.reduce((s, r) => s + r.lost, 0);
  const reordered = rows.reduce((s, r) => s + r.reordered, 0);
  const missed = [];
  for (const d of over) {
    if (!(d.throughput >= HOMES_TARGETS.throughput)) missed.push(`lines/s (${d.direction})`);
    if (!(d.p99 <= HOMES_TARGETS.p99)) missed.push(`p99 (${d.direction})`);
  }
  if (lost) missed.push("lost");
  if (reordered) missed.push("reordered");
  return { each, over, lost, reordered, missed };
}

/** @param {ReturnType<typeof judge>} v */
function verdictLine({ over, lost, reordered, missed }) {
  const x = (/** @type {number} */ n) => times(n, 3);
  return (
    `Cross/same in the worst cell (reported, not judged): ` +
    over.map((d) => `${d.direction}: lines/s ${x(d.worstThroughput)}, p99 ${x(d.worstP99)}`).join("; ") +
    `\nCross/same over all sizes (geometric mean): ` +
    over.map((d) => `${d.direction}: lines/s ${x(d.throughput)} (≥${HOMES_TARGETS.throughput}×), p99 ${x(d.p99)} (≤${HOMES_TARGETS.p99}×)`).join("; ") +
    `; lost ${lost}, reordered ${reordered} (0 at every size) — ${missed.length ? `MISSED: ${missed.join(", ")}` : "all targets met"}`
  );
}
