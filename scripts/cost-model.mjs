#!/usr/bin/env node
// @ts-check
// What Parley costs on Cloudflare, from the published Durable Objects prices and the counts `npm run bench`
// measured (storage rows written per login, per chat from request to exit, per line, and when a web user's socket
// closes; 0 webSocketMessage calls per heartbeat).
//
//   npm run -s bench -- --json > bench.json && node scripts/cost-model.mjs --bench bench.json
//   node scripts/cost-model.mjs [--rows-per-chat 3] [--lines-per-chat 40] ...
//
// Marginal prices, Workers Paid plan (the monthly included amounts are left out, so the figures are what each
// unit adds once the included allowance is used): https://developers.cloudflare.com/durable-objects/platform/pricing
//   requests            $0.15 per million; incoming WebSocket messages are billed 20:1 (20 messages = 1 request);
//                       alarm invocations are requests; outgoing messages are free
//   duration            $12.50 per million GB-s, at 128 MB, while the object is running or idle-but-not-hibernatable;
//                       a hibernatable idle object is not billed
//   SQLite rows written $1.00 per million

import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";

/** The counts, as last measured here; `--bench FILE` reads them from a bench run instead. */
const DEFAULTS = {
  "rows-per-login": 0,
  "rows-per-chat": 3,
  "rows-per-line": 0,
  "rows-per-departure": 2,
  "lines-per-chat": 40,
  "ping-seconds": 20,
  "sweep-seconds": 15,
  "handler-ms": 0.02,
};
/** @typedef {keyof typeof DEFAULTS} Count */

const { values } = parseArgs({
  options: {
    bench: { type: "string" },
    ...Object.fromEntries(Object.keys(DEFAULTS).map((k) => [k, { type: /** @type {const} */ ("string") }])),
  },
});

/**
 * The counts a bench run measured: `npm run -s bench -- --json > bench.json` (the probes must have run).
 * @param {string} file
 * @returns {{ counts: Partial<Record<Count, number>>, source: string }}
 */
function fromBench(file) {
  const text = readFileSync(file, "utf8");
  // `npm run bench` (without -s) prints its own banner before the JSON.
  const report = JSON.parse(text.startsWith("{") ? text : text.slice(text.indexOf("\n{") + 1));
  // The web client's dialect: JSON. Its users may resume, so their departures write (an away row, then its end).
  const storage = report.probes?.storage?.json;
  if (!Array.isArray(storage)) throw new Error(`${file}: no storage probe in it; run the bench with its probes (no --no-probes)`);
  /** @param {string} op */
  const rowsPer = (op) => {
    const row = storage.find((/** @type {{ op: string }} */ r) => r.op === op);
    if (!row) throw new Error(`${file}: the storage probe has no "${op}" row`);
    return row.rowsWritten / row.count;
  };
  const ended = storage.some((/** @type {{ op: string }} */ r) => r.op === "away window ends");
  // The handler's time per line: the Lobby's runtime CPU per relayed line, at its busiest size without deflate.
  const perLine = report.rows
    .filter((/** @type {{ target: string, deflate: boolean }} */ r) => r.target === "Lobby" && !r.deflate)
    .map((/** @type {{ runtimeUsPerMsg: number }} */ r) => r.runtimeUsPerMsg);
  return {
    counts: {
      "rows-per-login": rowsPer("login"),
      "rows-per-chat": rowsPer("chat (request to exit)"),
      "rows-per-line": rowsPer("chat line"),
      ...(ended ? { "rows-per-departure": rowsPer("departure (close)") + rowsPer("away window ends") } : {}),
      ...(perLine.length ? { "handler-ms": Math.max(...perLine) / 1000 } : {}),
    },
    source: `${file} (${report.snapshot})`,
  };
}

const bench = values.bench ? fromBench(values.bench) : null;
/** Explicit flags win over the bench's counts, which win over the defaults. @param {Count} k */
const n = (k) => {
  const flag = /** @type {Record<string, string | undefined>} */ (values)[k];
  return flag !== undefined ? Number(flag) : (bench?.counts[k] ?? DEFAULTS[k]);
};

const PRICE = { perRequest: 0.15 / 1e6, perGbS: 12.5 / 1e6, perRowWritten: 1 / 1e6 };
const GB = 128 / 1024;
const MONTH_S = 30 * 24 * 3600;
const usd = (/** @type {number} */ x) => `$${x.toFixed(x < 0.01 ? 5 : x < 1 ? 3 : 2)}`;
/** A count per operation: whole, or to two decimals. @param {number} x */
const fixed = (x) => (Number.isInteger(x) ? String(x) : x.toFixed(2));

// --- 1 million relayed chat lines ---------------------------------------------------------------------------
const lines = 1e6;
const chats = lines / n("lines-per-chat");
const linesRequests = lines / 20; // each line arrives once (incoming, 20:1); its delivery is outgoing (free)
const chatRequests = (chats * 3) / 20; // connect, y, exit: three incoming frames per chat
const rows = chats * n("rows-per-chat") + chats * 2 * n("rows-per-login") + lines * n("rows-per-line");
// Duration: at least the handlers' own time; at most, a lobby that never goes 10 s without a frame is awake the
// whole time the lines take (here: the same lines spread at 100 per second).
const busyS = (lines * n("handler-ms")) / 1000;
const awakeS = lines / 100;
const relay = {
  requests: (linesRequests + chatRequests) * PRICE.perRequest,
  rows: rows * PRICE.perRowWritten,
  durationLow: busyS * GB * PRICE.perGbS,
  durationHigh: awakeS * GB * PRICE.perGbS,
};

// --- 10,000 connected, idle users for a month -----------------------------------------------------------------
const users = 10_000;
const pings = (users * MONTH_S) / n("ping-seconds");
// The sweep alarm runs only while someone is in a chat or a request; counted here as if it ran all month (an upper
// bound: a truly idle lobby has no alarm).
const sweeps = MONTH_S / n("sweep-seconds");
const hibernating = {
  // Heartbeats are answered by setWebSocketAutoResponse without waking the object (bench: 0 webSocketMessage
  // calls for 1,000 pings); the model charges them as incoming messages anyway, as an upper bound.
  pings: (pings / 20) * PRICE.perRequest,
  sweeps: sweeps * PRICE.perRequest,
  duration: sweeps * (n("handler-ms") * users / 1000) * GB * PRICE.perGbS, // each sweep looks at every socket
};
const awake = {
  // Without hibernation (the socket accepted by the worker, or the object kept busy): every ping runs the
  // handler, and the object is billed for the whole month.
  pings: (pings / 20) * PRICE.perRequest,
  duration: MONTH_S * GB * PRICE.perGbS,
};

console.log("Parley on Cloudflare Durable Objects: marginal cost (beyond the plan's included amounts)");
console.log(bench ? `counts measured by the bench: ${bench.source}\n` : "counts: as last measured here (--bench FILE reads a bench run's)\n");
console.log(`1 million relayed chat lines (${n("lines-per-chat")} lines per chat, so ${chats.toLocaleString("en")} chats):`);
console.log(`  requests   ${usd(relay.requests)}   (${(linesRequests + chatRequests).toLocaleString("en")} billed requests: incoming frames at 20:1)`);
console.log(`  storage    ${usd(relay.rows)}   (${rows.toLocaleString("en")} rows written: ${fixed(n("rows-per-chat"))} per chat from request to exit, ${fixed(n("rows-per-login"))} per login; ${fixed(n("rows-per-line"))} per line)`);
console.log(`  duration   ${usd(relay.durationLow)} to ${usd(relay.durationHigh)}   (handler time only, to awake throughout at 100 lines/s)`);
console.log(`  total      ${usd(relay.requests + relay.rows + relay.durationLow)} to ${usd(relay.requests + relay.rows + relay.durationHigh)}`);
console.log(
  `  and per web user who leaves: ${fixed(n("rows-per-departure"))} rows (${usd(n("rows-per-departure") * PRICE.perRowWritten * 1e6)} a million): ` +
    "away for the resume window when its socket closes, then gone\n",
);
console.log(`10,000 connected idle users for a month (a ping every ${n("ping-seconds")} s each):`);
const base = hibernating.sweeps + hibernating.duration;
console.log(`  with hibernation     ${usd(base)}   (${sweeps.toLocaleString("en")} sweep alarms ${usd(hibernating.sweeps)}, duration ${usd(hibernating.duration)}), or ${usd(base + hibernating.pings)} if auto-answered pings are billed as messages`);
console.log(`  without hibernation  ${usd(awake.pings + awake.duration)}   (pings ${usd(awake.pings)}, duration ${usd(awake.duration)}: awake all month)`);
