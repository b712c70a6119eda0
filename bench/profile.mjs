// @ts-check
// Where a relayed chat line's time goes, measured in Node on the very modules the worker runs: esbuild bundles
// src/lobby.ts and bench/relay.ts (with `cloudflare:workers` replaced by a stand-in) into a temporary directory,
// both objects are built over fake sockets and storage exactly as they are rebuilt after hibernation (attachments
// plus the peers table), and then:
//   - the whole webSocketMessage of each, for one chat line from a paired user, text and JSON dialect: time, and
//     bytes allocated (the garbage the collector must clear later);
//   - each piece of the Lobby's hot path on its own: take, the socket's kept chat route, then chatLine (text) or
//     parseJson (JSON), and messageFrame.
// Node's V8 is not workerd's, so read the numbers as shares and differences, not as the runtime's.

import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { performance } from "node:perf_hooks";
import { getHeapSpaceStatistics } from "node:v8";
import { build } from "esbuild";
import { ROOT } from "./dev-server.mjs";
import { table } from "./format.mjs";

const LINE = "the quick brown fox jumps over the lazy dog whi 1234 5678.901";

/** Stands in for `cloudflare:workers` and the runtime's globals, just enough to construct the objects. */
const STUB = `
export class DurableObject {
  constructor(ctx, env) { this.ctx = ctx; this.env = env; }
}
globalThis.WebSocketRequestResponsePair ??= class { constructor(request, response) { this.request = request; this.response = response; } };
`;

/**
 * @param {string} code  a snapshot directory (src/ and bench/), see makeSnapshot
 * @param {string} dir  where to write the bundle
 */
async function bundle(code, dir) {
  const src = join(code, "src");
  const entry = join(dir, "entry.ts");
  const abs = (/** @type {string} */ p) => JSON.stringify(resolve(p));
  writeFileSync(
    entry,
    [
      `export { Lobby } from ${abs(join(src, "lobby.ts"))};`,
      `export { Relay } from ${abs(join(code, "bench/relay.ts"))};`,
      `export { chatLine, messageFrame, parseJson } from ${abs(join(src, "protocol.ts"))};`,
      `export { chatRoute } from ${abs(join(src, "rules.ts"))};`,
      `export { fullBucket, take } from ${abs(join(src, "rate-limit.ts"))};`,
      `export { readConfig } from ${abs(join(src, "config.ts"))};`,
    ].join("\n"),
  );
  writeFileSync(join(dir, "stub.js"), STUB);
  const outfile = join(dir, "bundle.mjs");
  await build({
    entryPoints: [entry],
    bundle: true,
    format: "esm",
    platform: "neutral",
    target: "es2022",
    outfile,
    alias: { "cloudflare:workers": join(dir, "stub.js") },
    logLevel: "error",
  });
  return import(pathToFileURL(outfile).href);
}

/** A hibernatable socket as the objects use it: attachment, tags, send. */
class FakeSocket {
  /** @param {unknown} att @param {string[]} tags */
  constructor(att, tags = []) {
    this.att = structuredClone(att);
    this.tags = tags;
    this.sent = 0;
    this.last = "";
  }
  /** @param {unknown} v */
  serializeAttachment(v) {
    this.att = structuredClone(v);
  }
  deserializeAttachment() {
    return structuredClone(this.att);
  }
  /** @param {string} frame */
  send(frame) {
    this.sent++;
    this.last = frame;
  }
  close() {}
}

/**
 * @param {FakeSocket[]} sockets
 * @param {{ peers?: object[], requests?: object[] }} rows
 */
function fakeCtx(sockets, rows = {}) {
  const cursor = (/** @type {object[]} */ list) => Object.assign([...list], { rowsWritten: 0, rowsRead: list.length });
  return {
    id: { toString: () => "profile" },
    storage: {
      sql: {
        /** @param {string} query */
        exec(query) {
          if (/^SELECT key, peer FROM peers/.test(query)) return cursor(rows.peers ?? []);
          if (/^SELECT \* FROM requests/.test(query)) return cursor(rows.requests ?? []);
          return cursor([]);
        },
      },
      getAlarm: async () => null,
      setAlarm: async () => {},
    },
    setWebSocketAutoResponse() {},
    /** @param {string} [tag] */
    getWebSockets: (tag) => (tag ? sockets.filter((s) => s.tags.includes(tag)) : sockets),
    acceptWebSocket() {},
    getWebSocketAutoResponseTimestamp: () => null,
    /** @param {() => Promise<void>} fn */
    blockConcurrencyWhile: (fn) => fn(),
  };
}

const ENV = { RATE_PER_SECOND: "1000000", RATE_BURST: "1000000", MAX_SOCKETS_PER_IP: "1000000", LOGINS_PER_MINUTE_PER_IP: "100000000" };

/**
 * ns per call: the best of five rounds of `n` calls, after a warm-up round.
 * @param {number} n
 * @param {() => unknown} fn
 */
function timeSync(n, fn) {
  let best = Infinity;
  let sink = 0;
  for (let round = 0; round < 6; round++) {
    const start = performance.now();
    for (let i = 0; i < n; i++) if (fn()) sink++;
    const ns = ((performance.now() - start) * 1e6) / n;
    if (round > 0) best = Math.min(best, ns);
  }
  if (sink < 0) console.log(sink);
  return best;
}

/**
 * The same for an async handler, awaited call by call as the runtime delivers events to one object.
 * @param {number} n
 * @param {() => Promise<unknown>} fn
 */
async function timeAsync(n, fn) {
  let best = Infinity;
  for (let round = 0; round < 6; round++) {
    const start = performance.now();
    for (let i = 0; i < n; i++) await fn();
    const ns = ((performance.now() - start) * 1e6) / n;
    if (round > 0) best = Math.min(best, ns);
  }
  return best;
}

const newSpaceUsed = () => getHeapSpaceStatistics().find((space) => space.space_name === "new_space")?.space_used_size ?? 0;

/**
 * Bytes allocated per call: V8's young generation grows by what a batch of calls allocates, unless a scavenge ran
 * in between (then it shrank, and the batch is discarded). The median over the batches that grew. What the
 * garbage collector later has to clear, and so what its pauses in the relay's latency tail are made of.
 * @param {() => Promise<unknown>} fn
 */
async function bytesPerCall(fn, batch = 100, rounds = 200) {
  /** @type {number[]} */
  const samples = [];
  for (let round = 0; round < rounds; round++) {
    const before = newSpaceUsed();
    for (let i = 0; i < batch; i++) await fn();
    const after = newSpaceUsed();
    if (after > before) samples.push((after - before) / batch);
  }
  samples.sort((a, b) => a - b);
  return samples.length ? /** @type {number} */ (samples[Math.floor(samples.length / 2)]) : NaN;
}

/**
 * @param {{ code?: string, log: (line: string) => void, n?: number }} opts  `code`: a snapshot directory
 *   (makeSnapshot), so that the profile sees the code the timed runs ran; the repository by default
 */
export async function runProfile({ code = ROOT, log, n = 100_000 }) {
  log("profile: bundling src/lobby.ts and bench/relay.ts with esbuild for Node");
  const dir = mkdtempSync(join(tmpdir(), "parley-profile-"));
  try {
    const m = await bundle(code, dir);
    const now = Date.now();
    const config = m.readConfig(ENV);

    /** @param {"text" | "json"} dialect */
    const lobbyPair = (dialect) => {
      const att = { dialect, awaitingTarget: false, heardAt: now, ip: null };
      const a = new FakeSocket({ ...att, sid: "sa", key: "alice", name: "alice" });
      const b = new FakeSocket({ ...att, sid: "sb", key: "bob", name: "bob" });
      const peers = [
        { key: "alice", peer: "bob" },
        { key: "bob", peer: "alice" },
      ];
      // The constructor logs "Lobby woke" when it finds sockets, as it does after hibernation: not news here.
      const log = console.log;
      console.log = () => {};
      try {
        return { lobby: new m.Lobby(fakeCtx([a, b], { peers }), ENV), a, b };
      } finally {
        console.log = log;
      }
    };
    const relayPair = () => {
      const a = new FakeSocket({ id: "ta", name: "alice", stage: "paired", partner: "tb" }, ["ta"]);
      const b = new FakeSocket({ id: "tb", name: "bob", stage: "paired", partner: "ta" }, ["tb"]);
      const relay = new m.Relay(fakeCtx([a, b]), {});
      return { relay, a, b };
    };

    log("profile: whole handlers");
    const text = lobbyPair("text");
    const json = lobbyPair("json");
    const relay = relayPair();
    const jsonLine = JSON.stringify({ type: "say", text: LINE });
    // A sanity check that the fakes reach the partner, or the timings below would measure an error path.
    await text.lobby.webSocketMessage(text.a, LINE);
    await json.lobby.webSocketMessage(json.a, jsonLine);
    await relay.relay.webSocketMessage(relay.a, LINE);
    if (text.b.last !== `alice: ${LINE}` || !json.b.last.includes('"message"') || relay.b.last !== LINE) {
      throw new Error(`profile: a chat line did not reach the partner: ${JSON.stringify([text.b.last, json.b.last, relay.b.last])}`);
    }
    const whole = {
      lobbyText: await timeAsync(n, () => text.lobby.webSocketMessage(text.a, LINE)),
      lobbyJson: await timeAsync(n, () => json.lobby.webSocketMessage(json.a, jsonLine)),
      relay: await timeAsync(n, () => relay.relay.webSocketMessage(relay.a, LINE)),
    };

    const allocated = {
      lobbyText: await bytesPerCall(() => text.lobby.webSocketMessage(text.a, LINE)),
      lobbyJson: await bytesPerCall(() => json.lobby.webSocketMessage(json.a, jsonLine)),
      relay: await bytesPerCall(() => relay.relay.webSocketMessage(relay.a, LINE)),
    };

    log("profile: the Lobby's hot path, step by step");
    const state = text.lobby.state;
    const bucket = m.fullBucket(config, now);
    // The Lobby's private members are plain properties in the bundle.
    const sender = text.lobby.conns.get("sa");
    const parts = [
      ["take (rate limit)", timeSync(n, () => m.take(bucket, now, config))],
      ["the socket's kept chat route", timeSync(n, () => text.lobby.routeOf(sender))],
      ["text: chatRoute (after a step)", timeSync(n, () => m.chatRoute(state, "sa"))],
      ["text: chatLine", timeSync(n, () => m.chatLine(LINE))],
      ["text: messageFrame", timeSync(n, () => m.messageFrame("alice", LINE, "text"))],
      ["json: parseJson (say)", timeSync(n, () => m.parseJson(jsonLine))],
      ["json: messageFrame", timeSync(n, () => m.messageFrame("alice", LINE, "json"))],
    ];
    /** @type {Record<string, number>} */
    const byName = Object.fromEntries(parts);
    const route = "the socket's kept chat route";
    const textParts = ["take (rate limit)", route, "text: chatLine", "text: messageFrame"]
      .map((k) => byName[k] ?? 0)
      .reduce((a, b) => a + b, 0);
    const jsonParts = ["take (rate limit)", route, "json: parseJson (say)", "json: messageFrame"]
      .map((k) => byName[k] ?? 0)
      .reduce((a, b) => a + b, 0);

    const report = [
      `(5b) The Lobby's JavaScript alone: one relayed chat line (${LINE.length} chars) in Node ${process.version}, on the same modules bundled by esbuild`,
      "     (ns per call, best of 5 rounds of " + n.toLocaleString("en-US") + " calls; fake sockets and storage; V8 differs from workerd's):",
      table(
        ["handler", "ns/line", "vs Relay", "bytes allocated/line"],
        [
          ["Relay.webSocketMessage", whole.relay.toFixed(0), "1.00×", allocated.relay.toFixed(0)],
          ["Lobby.webSocketMessage, text", whole.lobbyText.toFixed(0), `${(whole.lobbyText / whole.relay).toFixed(2)}×`, allocated.lobbyText.toFixed(0)],
          ["Lobby.webSocketMessage, json", whole.lobbyJson.toFixed(0), `${(whole.lobbyJson / whole.relay).toFixed(2)}×`, allocated.lobbyJson.toFixed(0)],
        ],
      ),
      "",
      table(["Lobby hot path, piece by piece", "ns/call"], parts.map(([k, v]) => [String(k), Number(v).toFixed(0)])),
      `    text: pieces ${textParts.toFixed(0)} ns of ${whole.lobbyText.toFixed(0)} ns; the other ${(whole.lobbyText - textParts).toFixed(0)} ns are ` +
        "the handler around them (connOf, touch, size check, the send, the async call itself)",
      `    json: pieces ${jsonParts.toFixed(0)} ns of ${whole.lobbyJson.toFixed(0)} ns; the other ${(whole.lobbyJson - jsonParts).toFixed(0)} ns are the handler around them`,
    ].join("\n");
    return { whole, allocated, parts: byName, report };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
