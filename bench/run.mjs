#!/usr/bin/env node
// @ts-check
// `npm run bench`: the real Lobby against a zero-logic Relay (bench/relay.ts), side by side in one workerd
// (Miniflare directly, or `wrangler dev`: see scripts/dev-server.mjs), for logins, pairings and relayed chat lines,
// with clients that do not and that do offer permessage-deflate (refused: the bench worker gets wrangler.toml's
// compatibility flags); then the compression decision (bench/compression.mjs: a browser-like client in a runtime
// with and without no_web_socket_compression), probes (heartbeats, storage rows per operation and per chat) and a
// profile of the isolate during relay runs (bench/inspector.mjs); last, how fast a lobby of 1,000 to 30,000 idle
// sockets wakes from hibernation (bench/wake.mjs, about six minutes; --wake-sizes none skips it).
// The last line holds the Lobby/Relay ratios against the targets; the exit code is 1 when one is missed.
// With --homes N, instead: same-home against cross-home chat, logins through the directory and the calls between
// objects, on a server with HOMES=N beside one with a single Lobby (bench/homes.mjs, a few minutes).
//
//   npm run bench
//   npm run bench -- --sizes 10,100 --messages 200 --window 4 --reps 5 --dialect json
//   npm run bench -- --src /tmp/patched-src --no-probes    (A/B a patched copy of src/)
//   npm run bench -- --json
//   npm run bench -- --homes 4    (--sizes, --messages, --window, --reps, --bytes, --dialect, --concurrency, --src,
//                                  --runtime and --json apply; the rest is the Lobby/Relay bench's)

import { performance } from "node:perf_hooks";
import { LIFTED_LIMITS, RUNTIMES, configFlags, snapshot, startDevServer } from "../scripts/dev-server.mjs";
import { list, oneOf, readArgs, text, whole } from "../scripts/lib/args.mjs";
import { fmt, table, times } from "../scripts/lib/figures.mjs";
import { NO_COMPRESSION, compressionReport, compressionRuns } from "./compression.mjs";
import { benchHomes } from "./homes.mjs";
import { measureWake } from "./wake.mjs";
import { runIsolateProfile } from "./inspector.mjs";
import { measure } from "./measure.mjs";
import { runProbes } from "./probes.mjs";
import { lobbyTarget, relayTarget } from "./targets.mjs";
import { ratioLine, ratios } from "./verdict.mjs";

const o = readArgs("npm run bench -- [options]", {
  sizes: { arg: "N,M", help: "pair counts (each size logs in 2×size users per target) (default 10,100,1000; with --homes 10,100)", read: list(whole()) },
  messages: {
    arg: "M",
    help: "lines each requester sends per run (default: 40,000 lines per run in all, 10,000 where\ndeflate is negotiated, which relays about a quarter as fast; at least 20 per requester)",
    read: whole(),
  },
  window: { arg: "W", help: "lines in flight per requester", default: "8", read: whole() },
  reps: {
    arg: "R",
    help: "relay runs per target, size and deflate setting: medians, and p50/p99 over all their lines\n(at most 3 at sizes that need fresh sessions)",
    default: "5",
    read: whole(),
  },
  bytes: { arg: "B", help: "length of a chat line", default: "64", read: whole() },
  dialect: { arg: "text|json", help: "what the Lobby's clients speak (the web client speaks json)", default: "text", read: oneOf("text", "json") },
  concurrency: { arg: "C", help: "logins or pairings in flight", default: "64", read: whole() },
  src: { arg: "DIR", help: "run another copy of src/ (to A/B a change) instead of the repository's", read: text },
  runtime: {
    arg: RUNTIMES.join("|"),
    help: "miniflare: clients talk to workerd directly; wrangler: wrangler dev, with its proxy workerd in\nfront of the runtime",
    default: "miniflare",
    read: oneOf(...RUNTIMES),
  },
  flags: { arg: "F,G", help: "compatibility flags besides wrangler.toml's, which the bench worker always gets", default: "", read: list(text) },
  aa: { help: 'an A/A run: the Relay against a second copy of itself (label "Relay B") instead of the\nLobby, to show how far apart two identical objects measure on this machine' },
  "no-probes": { help: "skip the heartbeat, storage, Sec-WebSocket-Extensions and no-write probes" },
  "no-profile": { help: "skip the isolate profile through the inspector" },
  "wake-sizes": {
    arg: "N,M|none",
    help: "idle sockets in the lobbies whose wake from hibernation is timed (Miniflare only)",
    default: "1000,10000,30000",
    read: (raw) => (raw === "none" ? [] : list(whole())(raw)),
  },
  "no-compression": { help: `skip the compression decision (a browser-like client with and without ${NO_COMPRESSION})` },
  json: { help: "print one JSON document instead of the tables" },
  homes: {
    arg: "N",
    help: "instead: same-home vs cross-home chat, logins through the directory and calls between objects,\non a server with HOMES=N beside one with a single Lobby (bench/homes.mjs)",
    read: whole(),
  },
});
// A cross-home chat of 1,000 pairs is three sessions of 2,000 sockets: the homes bench stops at 100 unless told.
const sizes = o.sizes ?? (o.homes ? [10, 100] : [10, 100, 1000]);

/** @param {import("./measure.mjs").Row[]} rows */
function rowsTable(rows) {
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

/** RESUME_GRACE_MS in the bench's runtime: short, so that the storage probe sees an away window end. */
const PROBE_GRACE_MS = 2000;

async function main() {
  const log = o.json ? (/** @type {string} */ _line) => {} : (/** @type {string} */ line) => console.error(line);
  if (o.homes !== undefined) return benchHomes({ ...o, homes: o.homes, sizes }, log);
  const began = performance.now();
  const under = o.runtime === "miniflare" ? "Miniflare (workerd directly)" : "wrangler dev";
  // One copy of the code for both runtimes started below, so that the profile sees the code the timed runs ran.
  const code = snapshot(o.src);
  // The bench worker runs with the deployed worker's flags (wrangler.toml), and the command line's besides.
  const flags = [...new Set([...configFlags(code.dir), ...o.flags])];
  // Whether a client that offers deflate gets it: not from a runtime with the flag, unless wrangler dev's proxy
  // (which negotiates on its own) stands in front of it.
  const deflates = o.runtime === "wrangler" || !flags.includes(NO_COMPRESSION);
  /** @type {import("./measure.mjs").Settings} */
  const settings = {
    dialect: o.dialect,
    window: o.window,
    bytes: o.bytes,
    reps: o.reps,
    concurrency: o.concurrency,
    // Runs of about a second: a shorter run's p99 is decided by whether one scheduler hiccup fell into it.
    messages: (size, deflate) => o.messages ?? Math.max(20, Math.round((deflate && deflates ? 10_000 : 40_000) / size)),
  };
  // A JSON client that closes is away this long; the storage probe waits its window out (production: 30 s).
  // The slow-reader budget too: with the rate limit lifted a requester sends thousands of lines a second, and a
  // partner's answer to its check (src/unread.ts), sent the moment the check arrived, was seen processed only after
  // another 128 KiB had gone to it: the partner was closed as not reading and its pair's lines counted lost (in about
  // one bench session in three, at 10 pairs). At the default 20 lines a second that budget is over a second away.
  const vars = { ...LIFTED_LIMITS, MAX_UNREAD_BYTES: String(16 << 20), RESUME_GRACE_MS: String(PROBE_GRACE_MS) };
  const start = (inspector = false, withFlags = flags) =>
    startDevServer({ runtime: o.runtime, config: "bench/wrangler.toml", dir: code.dir, vars, flags: withFlags, inspector, logLevel: "warn" });
  /** @type {import("../scripts/dev-server.mjs").DevServer | null} */
  let dev = null;
  for (const signal of /** @type {const} */ (["SIGINT", "SIGTERM"])) {
    process.once(signal, () => {
      void (dev?.stop() ?? Promise.resolve()).then(() => {
        code.remove();
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
  /** @type {ReturnType<typeof compressionReport> & { flagged: unknown, unflagged: unknown } | null} */
  let compression = null;
  try {
    log(`starting ${under} on a snapshot of ${code.description} …`);
    dev = await start();
    log(`ready at ${dev.url} in ${((performance.now() - began) / 1000).toFixed(1)} s`);
    let round = 0;
    for (const size of sizes) {
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
    // Both clients of the compression runs relay as many lines, as many as a run where deflate is negotiated.
    // All the repetitions (runs of a second at 10,000 lines): a browser-like client refused deflate sends what a
    // plain one does, and only enough runs tell that from the noise of a shared machine.
    const compressing = { ...settings, messages: (/** @type {number} */ size) => o.messages ?? Math.max(20, Math.round(10_000 / size)) };
    const sideSize = Math.min(100, Math.max(...sizes));
    // Under wrangler dev its proxy negotiates compression with the client, whatever the worker's flags say.
    if (!o["no-compression"] && o.runtime === "miniflare") {
      // Both clients on this runtime, then on one started with the flag turned the other way.
      const deployed = flags.includes(NO_COMPRESSION);
      log(`compression: ${deployed ? "with" : "without"} ${NO_COMPRESSION} (as wrangler.toml says)`);
      const asConfigured = await compressionRuns(dev, compressing, sideSize, log);
      await dev.stop();
      log(`compression: ${deployed ? "without" : "with"} ${NO_COMPRESSION}`);
      dev = await start(false, deployed ? flags.filter((f) => f !== NO_COMPRESSION) : [...flags, NO_COMPRESSION]);
      const other = await compressionRuns(dev, compressing, sideSize, log);
      await dev.stop();
      const [flagged, unflagged] = deployed ? [asConfigured, other] : [other, asConfigured];
      compression = { ...compressionReport({ flagged, unflagged, deployed, size: sideSize, dialect: o.dialect, reps: compressing.reps }), flagged, unflagged };
      dev = await start();
    }
    if (!o["no-probes"]) probes = await runProbes(dev, side, sideSize, PROBE_GRACE_MS, log);
    await dev.stop();
    if (!o["no-profile"]) {
      // A fresh runtime on the same snapshot: see bench/inspector.mjs for why.
      dev = await start(true);
      isolate = await runIsolateProfile(dev, side, Math.min(100, Math.max(...sizes)), log);
      await dev.stop();
    }
  } catch (err) {
    if (dev) console.error(dev.output().slice(-4000));
    throw err;
  } finally {
    await dev?.stop();
    code.remove();
  }
  // Each size in runtimes of its own (bench/wake.mjs): the relay runs' sockets must not share the isolate.
  const wake = o.runtime === "miniflare" && o["wake-sizes"].length ? await measureWake({ sizes: o["wake-sizes"], src: o.src, log }) : null;
  const verdict = o.aa ? ratios(rows, "Relay B", "Relay") : ratios(rows);
  const elapsed = (performance.now() - began) / 1000;

  if (o.json) {
    console.log(
      JSON.stringify({ options: o, snapshot: code.description, flags, rows, ratios: verdict, compression, probes, isolate, wake, elapsedSecs: elapsed }, null, 2),
    );
  } else {
    console.log(
      `\nParley bench (${elapsed.toFixed(0)} s): ${code.description}, under ${under}, flags: ${flags.join(", ") || "none"}\n` +
        `${o.aa ? "Relay B vs Relay (A/A)" : "Lobby vs zero-logic Relay"}, ${o.dialect} dialect, window ${o.window}, ${o.bytes}-byte lines, ` +
        `${settings.messages(sizes[0] ?? 1, false)} lines per requester at ${sizes[0]} pairs (${settings.messages(sizes[0] ?? 1, true)} ` +
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
    if (compression) console.log(`\n${compression.report}`);
    if (probes) console.log(`\n${probes.report}`);
    if (isolate) console.log(`\n${isolate.report}`);
    if (wake) console.log(`\n${wake.report}`);
    console.log(`\n${ratioLine(verdict)}`);
  }
  // Deflate negotiated despite the flag fails the bench; the rate ratio is reported, as the worst cell is.
  process.exitCode = verdict.missed.length || (compression && !compression.refused) || (wake && !wake.met) ? 1 : 0;
}

main().catch((err) => {
  console.error(err instanceof Error ? (err.stack ?? err.message) : err);
  process.exitCode = 2;
});
