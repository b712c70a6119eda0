// @ts-check
// Starts the bench worker (bench/worker.ts, bindings in bench/wrangler.toml) on a free loopback port, and stops it.
//
// Two ways, for the same workerd (the one wrangler 4.86.0 ships):
//   - "miniflare" (the default): Miniflare directly, with the worker bundled by esbuild. Clients talk to workerd
//     itself, as they talk to Cloudflare's edge runtime in production.
//   - "wrangler": `wrangler dev`, which puts a second workerd in front as a proxy (for its hot reload). Every frame
//     then crosses two processes; on a 2-core machine that proxy costs about half as much CPU per relayed line as
//     the runtime itself, competes with it and with the clients for the cores, and holds about six descriptors per
//     client socket (so 1,000 pairs of both targets do not fit under a 20,000-file limit at once).
// The timed runs use the first: it is the runtime with the least local proxy in the way. `--runtime wrangler`
// keeps the second for comparison.
//
// Either runs a snapshot (makeSnapshot): src/ and the bench worker copied to a temporary directory first, because
// wrangler dev rebuilds and restarts on every change to a file it bundled, and people edit src/ while a benchmark
// runs (a restart mid-run drops every socket and shows up as lost messages).

import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { cpSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { build } from "esbuild";
import { Log, LogLevel, Miniflare } from "miniflare";
import { unstable_getMiniflareWorkerOptions } from "wrangler";
import { ROOT, freePort, startDevServer as startWrangler } from "../scripts/dev-server.mjs";

export { ROOT };

/** @typedef {"miniflare" | "wrangler"} Runtime */
export const RUNTIMES = /** @type {const} */ (["miniflare", "wrangler"]);

/**
 * How many client sockets may be open at once under a 20,000-file limit (this machine's, hard). workerd holds one
 * descriptor per socket; wrangler dev's proxy about six, and past its limit new sockets are reset.
 */
const MAX_OPEN_SOCKETS = { miniflare: 8000, wrangler: 2400 };

/**
 * @typedef {object} DevServer
 * @property {string} http  http://127.0.0.1:PORT
 * @property {string} ws    ws://127.0.0.1:PORT
 * @property {Runtime} runtime
 * @property {number} maxOpenSockets  client sockets that may be open at once (see MAX_OPEN_SOCKETS)
 * @property {() => string} output  what the runtime printed (the worker's console included)
 * @property {() => ServerCpu | null} serverCpu  CPU time the workerd processes used so far, null off Linux
 * @property {number} inspectorPort  DevTools for the worker's isolate (GET /json lists it); 0 if not opened
 * @property {string} snapshot  which code runs: git commit, uncommitted changes, and a hash of the src/ copy
 * @property {() => Promise<void>} stop
 */

/**
 * @typedef {object} Snapshot
 * @property {string} dir  holds src/ and bench/ (worker.ts, relay.ts, wrangler.toml)
 * @property {string} description  git commit, uncommitted changes, and a hash of the src/ copy
 * @property {() => void} remove
 */

/**
 * Copies `src` (default: the repository's src/) and the bench worker into a temporary directory.
 * @param {string} [src]
 * @returns {Snapshot}
 */
export function makeSnapshot(src = join(ROOT, "src")) {
  const dir = mkdtempSync(join(tmpdir(), "parley-bench-"));
  cpSync(src, join(dir, "src"), { recursive: true });
  // The wire the server imports (public/wire/), beside src/ as in the repository.
  cpSync(join(ROOT, "public", "wire"), join(dir, "public", "wire"), { recursive: true });
  mkdirSync(join(dir, "bench"));
  for (const file of ["wrangler.toml", "worker.ts", "relay.ts"]) cpSync(join(ROOT, "bench", file), join(dir, "bench", file));
  const hash = createHash("sha256");
  for (const root of ["src", "public/wire"]) {
    for (const file of readdirSync(join(dir, root), { recursive: true, encoding: "utf8" }).sort()) {
      try {
        hash.update(file).update(readFileSync(join(dir, root, file)));
      } catch {
        // a directory
      }
    }
  }
  let git = "no git";
  try {
    const head = execFileSync("git", ["rev-parse", "--short", "HEAD"], { cwd: ROOT, encoding: "utf8" }).trim();
    const dirty = execFileSync("git", ["status", "--porcelain", "--", "src"], { cwd: ROOT, encoding: "utf8" }).trim();
    git = `git ${head}${dirty ? " + uncommitted src/ changes" : ""}`;
  } catch {
    // not a checkout
  }
  const from = resolve(src) === join(ROOT, "src") ? "src/" : src;
  return {
    dir,
    description: `${from} at ${git}, sha256 ${hash.digest("hex").slice(0, 12)}`,
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}

/**
 * @param {object} opts
 * @param {Snapshot} opts.snapshot  the code to run (see makeSnapshot)
 * @param {Record<string, string>} opts.vars  the worker's vars (wrangler's `--var NAME:VALUE`)
 * @param {string[]} [opts.flags]  extra compatibility flags
 * @param {Runtime} [opts.runtime]
 * @param {boolean} [opts.inspector]  open V8's inspector (for the isolate profile); wrangler dev always does
 * @param {number} [opts.timeoutMs]
 * @returns {Promise<DevServer>}
 */
export async function startDevServer({ snapshot, vars, flags = [], runtime = "miniflare", inspector = false, timeoutMs = 90_000 }) {
  if (runtime === "miniflare") return startMiniflare(snapshot, vars, flags, inspector);
  // wrangler logs every request it proxies; thousands of upgrades of noise on a 2-core machine is load we do not want.
  const dev = await startWrangler({ dir: snapshot.dir, config: "bench/wrangler.toml", vars, flags, timeoutMs, logLevel: "warn" });
  return {
    runtime,
    maxOpenSockets: MAX_OPEN_SOCKETS.wrangler,
    http: dev.url,
    ws: `ws://127.0.0.1:${dev.port}`,
    output: dev.output,
    serverCpu: () => serverCpu((fields) => Number(fields[2]) === dev.pid, dev.port),
    inspectorPort: dev.inspectorPort,
    snapshot: snapshot.description,
    stop: dev.stop,
  };
}

/**
 * @param {Snapshot} snapshot
 * @param {Record<string, string>} vars
 * @param {string[]} flags
 * @param {boolean} inspector
 * @returns {Promise<DevServer>}
 */
async function startMiniflare(snapshot, vars, flags, inspector) {
  const inspectorPort = inspector ? await freePort() : 0;
  const worker = await startMiniflareWorker({
    entry: join(snapshot.dir, "bench/worker.ts"),
    config: join(snapshot.dir, "bench/wrangler.toml"),
    vars,
    flags,
    inspectorPort,
  });
  return {
    runtime: "miniflare",
    maxOpenSockets: MAX_OPEN_SOCKETS.miniflare,
    http: worker.http,
    ws: worker.http.replace(/^http/, "ws"),
    output: worker.output,
    // Miniflare's workerd is a child of this process; there is no proxy in front of it.
    serverCpu: () => serverCpu((fields) => Number(fields[1]) === process.pid, null),
    inspectorPort,
    snapshot: snapshot.description,
    stop: worker.stop,
  };
}

/**
 * @typedef {object} MiniflareWorker
 * @property {string} http  http://127.0.0.1:PORT, where clients reach the worker
 * @property {() => string} output  what workerd printed so far (the worker's console included)
 * @property {(listener: () => void) => () => void} onOutput  calls `listener` on every new output; returns an unsubscribe
 * @property {() => Promise<void>} stop
 */

/**
 * Runs one worker under Miniflare directly (no wrangler dev, so no proxy workerd in front): bundled by esbuild,
 * with its compatibility date, flags and Durable Object bindings read from its wrangler config by wrangler itself.
 * The bench runs its bench worker this way; the attack tests (test/e2e/runtime.ts) run the real worker with `direct`.
 * @param {object} opts
 * @param {string} opts.entry  the worker's main module
 * @param {string} opts.config  its wrangler config
 * @param {Record<string, string>} opts.vars  the worker's vars over the config's (wrangler's `--var NAME:VALUE`)
 * @param {string[]} [opts.flags]  extra compatibility flags
 * @param {number} [opts.inspectorPort]  open V8's inspector on this port; 0 (the default) opens none
 * @param {boolean} [opts.direct]  serve clients from a socket bound to the worker itself (unsafeDirectSockets)
 *   rather than through Miniflare's entry worker, which rewrites requests on their way in (it sets
 *   CF-Connecting-IP, for one)
 * @param {string} [opts.persistTo]  keep Durable Object storage in files under this directory (default: in memory)
 * @returns {Promise<MiniflareWorker>}
 */
export async function startMiniflareWorker({ entry, config, vars, flags = [], inspectorPort = 0, direct = false, persistTo }) {
  const bundle = await build({
    entryPoints: [entry],
    bundle: true,
    format: "esm",
    platform: "neutral",
    target: "es2022",
    conditions: ["workerd", "worker", "browser"],
    external: ["cloudflare:*"],
    write: false,
    logLevel: "error",
  });
  const fromConfig = unstable_getMiniflareWorkerOptions(config).workerOptions;
  let output = "";
  /** @type {Set<() => void>} */
  const listeners = new Set();
  /** @param {Buffer} d */
  const append = (d) => {
    output += d;
    for (const listener of listeners) listener();
  };
  const mf = new Miniflare({
    modules: true,
    script: bundle.outputFiles[0]?.text ?? "",
    // The compatibility date, flags and Durable Object bindings, as wrangler itself reads them from the config.
    compatibilityDate: fromConfig.compatibilityDate,
    compatibilityFlags: [...(fromConfig.compatibilityFlags ?? []), ...flags],
    durableObjects: fromConfig.durableObjects,
    // The config's [vars], and over them the caller's (as `--var` overrides them for wrangler dev).
    bindings: { ...fromConfig.bindings, ...vars },
    host: "127.0.0.1",
    port: await freePort(),
    ...(direct ? { unsafeDirectSockets: [{ host: "127.0.0.1", port: await freePort() }] } : {}),
    ...(persistTo ? { durableObjectsPersist: persistTo } : {}),
    // Only when asked: production runs no inspector, and an open one may cost the isolate time.
    ...(inspectorPort ? { inspectorPort } : {}),
    // No fetch of Request.cf from Cloudflare (this machine has no internet); the Lobby does not read it.
    cf: false,
    log: new Log(LogLevel.WARN),
    handleRuntimeStdio(stdout, stderr) {
      stdout.on("data", append);
      stderr.on("data", append);
    },
  });
  const entryUrl = await mf.ready;
  const http = direct ? (await mf.unsafeGetDirectURL()).origin : entryUrl.origin;
  let stopped = false;
  return {
    http,
    output: () => output,
    onOutput: (listener) => {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    stop: async () => {
      if (stopped) return;
      stopped = true;
      await mf.dispose();
    },
  };
}

/** Clock ticks per second for /proc/PID/stat; 100 on every Linux we run on. */
const TICKS = 100;

/**
 * @typedef {object} ServerCpu
 * @property {number} runtime  ms of CPU used by the workerd that runs the bench worker and its Durable Objects
 * @property {number} runtimePid  that workerd's pid: a new one means wrangler restarted the runtime
 * @property {number} proxy    ms used by wrangler dev's proxy workerd, which every frame passes through locally
 *                             (and which does not exist in production; 0 under Miniflare)
 */

/**
 * CPU time used so far by the workerd processes `mine` picks (by the fields of /proc/PID/stat after the name), from
 * /proc (Linux only): how much work the server did, which noise from other processes on the machine changes far
 * less than it changes wall-clock rates. The proxy is the workerd listening on `proxyPort` (wrangler dev's); the
 * runtime is the other one.
 * @param {(fields: string[]) => boolean} mine
 * @param {number | null} proxyPort
 * @returns {ServerCpu | null}
 */
export function serverCpu(mine, proxyPort) {
  const processes = workerdProcesses().filter((p) => mine(p.fields));
  if (processes.length === 0) return null;
  const cpu = { runtime: 0, runtimePid: 0, proxy: 0 };
  for (const { pid, fields, cmdline } of processes) {
    const ms = ((Number(fields[11]) + Number(fields[12])) * 1000) / TICKS;
    if (proxyPort !== null && cmdline.includes(`entry=127.0.0.1:${proxyPort}`)) cpu.proxy += ms;
    else {
      cpu.runtime += ms;
      cpu.runtimePid = pid;
    }
  }
  return cpu;
}

/**
 * @typedef {object} WorkerdProcess
 * @property {number} pid
 * @property {string[]} fields  /proc/PID/stat after the command name: [0] state, [1] ppid, [2] pgrp, … [11] utime
 * @property {string} cmdline  its arguments, NUL-separated
 */

/**
 * Every workerd process on this machine, read from /proc (Linux only: none elsewhere).
 * @returns {WorkerdProcess[]}
 */
export function workerdProcesses() {
  let entries;
  try {
    entries = readdirSync("/proc");
  } catch {
    return [];
  }
  /** @type {WorkerdProcess[]} */
  const found = [];
  for (const entry of entries) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, "utf8");
      // "pid (comm) state ppid pgrp …": comm may hold spaces, so split after its closing paren.
      const close = stat.lastIndexOf(")");
      if (stat.slice(stat.indexOf("(") + 1, close) !== "workerd") continue;
      found.push({ pid: Number(entry), fields: stat.slice(close + 2).split(" "), cmdline: readFileSync(`/proc/${entry}/cmdline`, "utf8") });
    } catch {
      continue; // gone meanwhile
    }
  }
  return found;
}
