#!/usr/bin/env node
// @ts-check
// `npm run bench`: the real Lobby against a zero-logic Relay (bench/relay.ts), side by side in one workerd
// (Miniflare directly, or `wrangler dev`: see bench/dev-server.mjs), for logins, pairings and relayed chat lines, without and with permessage-deflate; then
// probes (heartbeats, storage writes per operation, Sec-WebSocket-Extensions) and a profile of the hot path.
// The last line holds the Lobby/Relay ratios against the targets; the exit code is 1 when one is missed.
//
//   npm run bench
//   npm run bench -- --sizes 10,100 --messages 200 --window 4 --reps 5 --dialect json
//   npm run bench -- --src /tmp/patched-src --no-probes    (A/B a patched copy of src/)
//   npm run bench -- --json

import { performance } from "node:perf_hooks";
import { parseArgs } from "node:util";
import { lobbyTarget, relayTarget } from "./clients.mjs";
import { RUNTIMES, makeSnapshot, startDevServer } from "./dev-server.mjs";
import { fmt, table, times } from "./format.mjs";
import { runIsolateProfile } from "./inspector.mjs";
import { measure } from "./measure.mjs";
import { ratioLine, ratios } from "./verdict.mjs";
import { runProbes } from "./probes.mjs";
import { runProfile } from "./profile.mjs";

/** Every benchmark client is one address (127.0.0.1): lift the per-socket rate and the per-address caps. */
const VARS = {
  RATE_PER_SECOND: "1000000",
  RATE_BURST: "1000000",
  MAX_SOCKETS_PER_IP: "1000000",
  LOGINS_PER_MINUTE_PER_IP: "100000000",
};

const USAGE = `usage: npm run bench -- [options]
  --sizes 10,100,1000   pair counts (each size logs in 2×size users per target)
  --messages M          lines each requester sends per run (default: 40,000 lines per run in all, 10,000 with
                        deflate, which relays about a quarter as fast; at least 20 per requester)
  --window W            lines in flight per requester (default 8)
  --reps R              relay runs per target, size and deflate setting: medians, and p50/p99 over all their lines
                        (default 5; at most 3 at sizes that need fresh sessions)
  --bytes B             length of a chat line (default 64)
  --dialect text|json   what the Lobby's clients speak (default text; the web client speaks json)
  --concurrency C       logins or pairings in flight (default 64)
  --src DIR             run another copy of src/ (to A/B a change) instead of the repository's
  --runtime R           miniflare (default: clients talk to workerd directly) or wrangler (wrangler dev, with its
                        proxy workerd in front of the runtime)
  --flags F,G           extra compatibility flags (e.g. no_web_socket_compression)
  --aa                  an A/A run: the Relay against a second copy of itself (label "Relay B") instead of the
                        Lobby, to show how far apart two identical objects measure on this machine
  --no-probes           skip the heartbeat, storage, Sec-WebSocket-Extensions and no-write probes
  --no-profile          skip the profiles (isolate through the inspector; Node micro-benchmarks)
  --json                print one JSON document instead of the tables`;

/**
 * @typedef {object} Options
 * @property {number[]} sizes
 * @property {number | null} messages
 * @property {number} window
 * @property {number} reps
 * @property {number} bytes
 * @property {"text" | "json"} dialect
 * @property {number} concurrency
 * @property {string | undefined} src
 * @property {string[]} flags
 * @property {import("./dev-server.mjs").Runtime} runtime
 * @property {boolean} probes
 * @property {boolean} profile
 * @property {boolean} json
 * @property {boolean} aa
 */

/** @returns {Options} */
function readOptions() {
  const { values } = parseArgs({
    options: {
      sizes: { type: "string", default: "10,100,1000" },
      messages: { type: "string" },
      window: { type: "string", default: "8" },
      reps: { type: "string", default: "5" },
      bytes: { type: "string", default: "64" },
      dialect: { type: "string", default: "text" },
      concurrency: { type: "string", default: "64" },
      src: { type: "string" },
      flags: { type: "string", default: "" },
      runtime: { type: "string", default: "miniflare" },
      "no-probes": { type: "boolean", default: false },
      "no-profile": { type: "boolean", default: false },
      json: { type: "boolean", default: false },
      aa: { type: "boolean", default: false },
      help: { type: "boolean", default: false },
    },
  });
  if (values.help) {
    console.log(USAGE);
    process.exit(0);
  }
  /** @param {string} name @param {string | undefined} raw */
  const count = (name, raw) => {
    const n = Number(raw);
    if (!Number.isSafeInteger(n) || n < 1) throw new Error(`--${name} needs a whole number ≥ 1, not ${JSON.stringify(raw)}\n${USAGE}`);
    return n;
  };
  const dialect = values.dialect;
  if (dialect !== "text" && dialect !== "json") throw new Error(`--dialect is text or json\n${USAGE}`);
  const runtime = RUNTIMES.find((r) => r === values.runtime);
  if (!runtime) throw new Error(`--runtime is ${RUNTIMES.join(" or ")}\n${USAGE}`);
  return {
    sizes: String(values.sizes).split(",").map((s) => count("sizes", s.trim())),
    messages: values.messages === undefined ? null : count("messages", values.messages),
    window: count("window", values.window),
    reps: count("reps", values.reps),
    bytes: count("bytes", values.bytes),
    dialect,
    concurrency: count("concurrency", values.concurrency),
    src: values.src,
    flags: String(values.flags).split(",").filter(Boolean),
    runtime,
    probes: !values["no-probes"],
    profile: !values["no-profile"],
    json: Boolean(values.json),
    aa: Boolean(values.aa),
  };
}

/** @param {import("./measure.mjs").Row[]} rows */
export function rowsTable(rows) {
  // wrangler dev's proxy workerd has a column of its own; under Miniflare there is none.
  const proxy = rows.some((r) => r.proxyUsPerMsg > 0);
  return table(
    [
      "target", "pairs", "deflate", "logins/s", "runtime µs/login", "pairings/s", "rx B/user", "msgs/s", "p50 ms", "p99 ms",
      "lost", "reordered", "rx B/msg", "runtime µs/msg", ...(proxy ? ["proxy µs/msg"] : []), "client µs/msg", "msgs/s per run",
    ],
    rows.map((r) => [
      r.target,
      r.size,
      r.deflate ? (r.negotiated ? "negotiated" : "refused") : "no",
      fmt(r.logins),
      r.runtimeUsPerLogin.toFixed(0),
      fmt(r.pairings),
      fmt(r.rxBytesPerUser),
      fmt(r.rate),
      r.p50.toFixed(1),
      r.p99.toFixed(1),
      r.lost,
      r.reordered,
      r.rxBytesPerMsg.toFixed(1),
      r.runtimeUsPerMsg.toFixed(1),
      ...(proxy ? [r.proxyUsPerMsg.toFixed(1)] : []),
      r.clientUsPerMsg.toFixed(1),
      r.rates.join(" ") + (r.together ? "" : " (fresh sessions)"),
    ]),
    3,
  );
}

async function main() {
  const o = readOptions();
  const log = o.json ? (/** @type {string} */ _line) => {} : (/** @type {string} */ line) => console.error(line);
  const began = performance.now();
  /** @type {import("./measure.mjs").Settings} */
  const settings = {
    dialect: o.dialect,
    window: o.window,
    bytes: o.bytes,
    reps: o.reps,
    concurrency: o.concurrency,
    // Runs of about a second: a shorter run's p99 is decided by whether one scheduler hiccup fell into it.
    messages: (size, deflate) => o.messages ?? Math.max(20, Math.round((deflate ? 10_000 : 40_000) / size)),
  };
  const snapshot = makeSnapshot(o.src);
  /** @type {import("./dev-server.mjs").DevServer | null} */
  let dev = null;
  for (const signal of /** @type {const} */ (["SIGINT", "SIGTERM"])) {
    process.once(signal, () => {
      void (dev?.stop() ?? Promise.resolve()).then(() => {
        snapshot.remove();
        process.exit(130);
      });
    });
  }
  /** @type {import("./measure.mjs").Row[]} */
  const rows = [];
  /** @type {Awaited<ReturnType<typeof runProbes>> | null} */
  let probes = null;
  /** @type {Awaited<ReturnType<typeof runIsolateProfile>> | null} */
  let isolate = null;
  /** @type {Awaited<ReturnType<typeof runProfile>> | null} */
  let profile = null;
  try {
    log(`starting ${o.runtime === "miniflare" ? "Miniflare (workerd directly)" : "wrangler dev"} on a snapshot of ${snapshot.description} …`);
    dev = await startDevServer({ snapshot, vars: VARS, flags: o.flags, runtime: o.runtime });
    log(`ready at ${dev.http} in ${((performance.now() - began) / 1000).toFixed(1)} s`);
    let round = 0;
    for (const size of o.sizes) {
      for (const deflate of [false, true]) {
        const targets = [o.aa ? { ...relayTarget(o.dialect), label: "Relay B" } : lobbyTarget(o.dialect), relayTarget(o.dialect)];
        if (round++ % 2) targets.reverse();
        const measured = await measure(dev, settings, targets, size, deflate, log);
        rows.push(...measured.sort((a, b) => (a.target < b.target ? -1 : 1)));
      }
    }
    // After the timed runs: the probe's attachment counter patches WebSocket.prototype in the worker's isolate.
    // The probes and the isolate profile count and apportion rather than rank: three runs each keep the whole
    // bench within two minutes.
    const side = { ...settings, reps: Math.min(3, settings.reps) };
    if (o.probes) probes = await runProbes(dev, side, Math.min(100, Math.max(...o.sizes)), log);
    await dev.stop();
    if (o.profile) {
      // A fresh wrangler dev on the same snapshot: see bench/inspector.mjs for why.
      dev = await startDevServer({ snapshot, vars: VARS, flags: o.flags, runtime: o.runtime, inspector: true });
      isolate = await runIsolateProfile(dev, side, Math.min(100, Math.max(...o.sizes)), log);
      await dev.stop();
      profile = await runProfile({ code: snapshot.dir, log });
    }
  } catch (err) {
    if (dev) console.error(dev.output().slice(-4000));
    throw err;
  } finally {
    await dev?.stop();
    snapshot.remove();
  }
  const verdict = o.aa ? ratios(rows, "Relay B", "Relay") : ratios(rows);
  const elapsed = (performance.now() - began) / 1000;

  if (o.json) {
    console.log(
      JSON.stringify({ options: o, snapshot: snapshot.description, rows, ratios: verdict, probes, isolate, profile, elapsedSecs: elapsed }, null, 2),
    );
  } else {
    console.log(
      `\nParley bench (${elapsed.toFixed(0)} s): ${snapshot.description}, under ${o.runtime === "miniflare" ? "Miniflare (workerd directly)" : "wrangler dev"}\n` +
        `${o.aa ? "Relay B vs Relay (A/A)" : "Lobby vs zero-logic Relay"}, ${o.dialect} dialect, window ${o.window}, ${o.bytes}-byte lines, ` +
        `${settings.messages(o.sizes[0] ?? 1, false)} lines per requester at ${o.sizes[0]} pairs (${settings.messages(o.sizes[0] ?? 1, true)} ` +
        `with deflate), medians of ${o.reps} runs\n`,
    );
    console.log(rowsTable(rows));
    console.log(`\n${verdict.subject}/${verdict.baseline} at each size:`);
    console.log(
      table(
        ["pairs", "deflate", "msgs/s", "p99", "logins/s", "runtime CPU/msg"],
        verdict.each.map((e) => [e.size, e.deflate ? "yes" : "no", times(e.throughput), times(e.p99), times(e.logins), times(e.runtimeCpu)]),
        2,
      ),
    );
    if (probes) console.log(`\n${probes.report}`);
    if (isolate) console.log(`\n${isolate.report}`);
    if (profile) console.log(`\n${profile.report}`);
    console.log(`\n${ratioLine(verdict)}`);
  }
  process.exitCode = verdict.missed.length ? 1 : 0;
}

main().catch((err) => {
  console.error(err instanceof Error ? (err.stack ?? err.message) : err);
  process.exitCode = 2;
});
