#!/usr/bin/env node
// @ts-check
// `npm run bench`: the real Lobby against a zero-logic Relay (bench/relay.ts), side by side in one workerd
// (Miniflare directly, or `wrangler dev`: see scripts/dev-server.mjs), for logins, pairings and relayed chat lines,
// without and with permessage-deflate; then probes (heartbeats, storage writes per operation,
// Sec-WebSocket-Extensions) and a profile of the isolate during relay runs (bench/inspector.mjs).
// The last line holds the Lobby/Relay ratios against the targets; the exit code is 1 when one is missed.
//
//   npm run bench
//   npm run bench -- --sizes 10,100 --messages 200 --window 4 --reps 5 --dialect json
//   npm run bench -- --src /tmp/patched-src --no-probes    (A/B a patched copy of src/)
//   npm run bench -- --json

import { performance } from "node:perf_hooks";
import { LIFTED_LIMITS, RUNTIMES, snapshot, startDevServer } from "../scripts/dev-server.mjs";
import { list, oneOf, readArgs, text, whole } from "../scripts/lib/args.mjs";
import { fmt, table, times } from "../scripts/lib/figures.mjs";
import { runIsolateProfile } from "./inspector.mjs";
import { measure } from "./measure.mjs";
import { runProbes } from "./probes.mjs";
import { lobbyTarget, relayTarget } from "./targets.mjs";
import { ratioLine, ratios } from "./verdict.mjs";

const o = readArgs("npm run bench -- [options]", {
  sizes: { arg: "10,100,1000", help: "pair counts (each size logs in 2×size users per target)", default: "10,100,1000", read: list(whole()) },
  messages: {
    arg: "M",
    help: "lines each requester sends per run (default: 40,000 lines per run in all, 10,000 with\ndeflate, which relays about a quarter as fast; at least 20 per requester)",
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
  flags: { arg: "F,G", help: "extra compatibility flags (e.g. no_web_socket_compression)", default: "", read: list(text) },
  aa: { help: 'an A/A run: the Relay against a second copy of itself (label "Relay B") instead of the\nLobby, to show how far apart two identical objects measure on this machine' },
  "no-probes": { help: "skip the heartbeat, storage, Sec-WebSocket-Extensions and no-write probes" },
  "no-profile": { help: "skip the isolate profile through the inspector" },
  json: { help: "print one JSON document instead of the tables" },
});

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

async function main() {
  const log = o.json ? (/** @type {string} */ _line) => {} : (/** @type {string} */ line) => console.error(line);
  const began = performance.now();
  const under = o.runtime === "miniflare" ? "Miniflare (workerd directly)" : "wrangler dev";
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
  // One copy of the code for both runtimes started below, so that the profile sees the code the timed runs ran.
  const code = snapshot(o.src);
  const start = (inspector = false) =>
    startDevServer({ runtime: o.runtime, config: "bench/wrangler.toml", dir: code.dir, vars: LIFTED_LIMITS, flags: o.flags, inspector, logLevel: "warn" });
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
  try {
    log(`starting ${under} on a snapshot of ${code.description} …`);
    dev = await start();
    log(`ready at ${dev.url} in ${((performance.now() - began) / 1000).toFixed(1)} s`);
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
    if (!o["no-probes"]) probes = await runProbes(dev, side, Math.min(100, Math.max(...o.sizes)), log);
    await dev.stop();
    if (!o["no-profile"]) {
      // A fresh runtime on the same snapshot: see bench/inspector.mjs for why.
      dev = await start(true);
      isolate = await runIsolateProfile(dev, side, Math.min(100, Math.max(...o.sizes)), log);
      await dev.stop();
    }
  } catch (err) {
    if (dev) console.error(dev.output().slice(-4000));
    throw err;
  } finally {
    await dev?.stop();
    code.remove();
  }
  const verdict = o.aa ? ratios(rows, "Relay B", "Relay") : ratios(rows);
  const elapsed = (performance.now() - began) / 1000;

  if (o.json) {
    console.log(
      JSON.stringify({ options: o, snapshot: code.description, rows, ratios: verdict, probes, isolate, elapsedSecs: elapsed }, null, 2),
    );
  } else {
    console.log(
      `\nParley bench (${elapsed.toFixed(0)} s): ${code.description}, under ${under}\n` +
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
    console.log(`\n${ratioLine(verdict)}`);
  }
  process.exitCode = verdict.missed.length ? 1 : 0;
}

main().catch((err) => {
  console.error(err instanceof Error ? (err.stack ?? err.message) : err);
  process.exitCode = 2;
});
