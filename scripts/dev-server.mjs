// @ts-check
// The one launcher of the tests, the load test and the bench: the real worker (wrangler.toml) or the bench worker
// (bench/wrangler.toml) on a snapshot of the code, on free loopback ports, under one of two runtimes, and stopped
// with every process it started, at the end, on an error, or when the caller exits.
//
//   - "wrangler": `wrangler dev`, as a developer runs it (`npm start`). It puts a proxy workerd in front of the
//     runtime (for its hot reload) that relays every frame, buffers on its own and holds about six descriptors
//     per socket.
//   - "miniflare": the same workerd through Miniflare, with the worker bundled by esbuild and clients served from a
//     socket bound to the worker itself (unsafeDirectSockets): nothing stands between a client and the runtime,
//     as on Cloudflare's edge (Miniflare's usual entry is a worker of its own that rewrites requests: it sets
//     CF-Connecting-IP, for one). The bench and the attack tests run here.

import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { build } from "esbuild";
import { Log, LogLevel, Miniflare } from "miniflare";
import { unstable_getMiniflareWorkerOptions } from "wrangler";
import { QUIET_ENV } from "./dev.mjs";
import { cmdline, processes, rssBytes } from "./lib/procs.mjs";
import { ROOT, snapshot } from "./lib/snapshot.mjs";

export { ROOT, snapshot };

const WRANGLER = join(ROOT, "node_modules/wrangler/bin/wrangler.js");
const HOST = "127.0.0.1";

/**
 * Vars that lift the per-socket rate limit and the per-address caps, for the load test and the bench: their
 * thousands of users all come from 127.0.0.1, and those limits, there against abuse, must not be what a run measures.
 */
export const LIFTED_LIMITS = {
  RATE_PER_SECOND: "1000000",
  RATE_BURST: "1000000",
  MAX_SOCKETS_PER_IP: "1000000",
  LOGINS_PER_MINUTE_PER_IP: "100000000",
};

/**
 * The compatibility flags a wrangler config sets, read as wrangler reads them: the bench's worker runs with the real
 * worker's (wrangler.toml's), so that what it measures is what is deployed.
 * @param {string} dir  the code, laid out like the repository
 * @param {string} [config]
 * @returns {string[]}
 */
export function configFlags(dir, config = "wrangler.toml") {
  return unstable_getMiniflareWorkerOptions(join(dir, config)).workerOptions.compatibilityFlags ?? [];
}

/** @typedef {"wrangler" | "miniflare"} Runtime */
export const RUNTIMES = /** @type {const} */ (["wrangler", "miniflare"]);

/** @returns {Promise<number>} a port that was free on 127.0.0.1 a moment ago */
export function freePort() {
  return new Promise((res, rej) => {
    const srv = createServer();
    srv.once("error", rej);
    srv.listen(0, HOST, () => {
      const address = srv.address();
      const port = typeof address === "object" && address ? address.port : 0;
      srv.close(() => res(port));
    });
  });
}

/**
 * CPU time the server's processes used so far, in ms.
 * @typedef {object} ServerCpu
 * @property {number} runtime  the workerd that runs the worker and its Durable Objects
 * @property {number} runtimePid  that workerd's pid: a new one means the runtime restarted (every socket dropped)
 * @property {number} proxy  wrangler dev's proxy workerd, which every frame crosses locally (0 under Miniflare)
 * @property {number} wrangler  wrangler's own Node processes (0 under Miniflare)
 */

/**
 * @typedef {object} DevServer
 * @property {Runtime} runtime
 * @property {string} url  http://127.0.0.1:PORT
 * @property {string} wsUrl  ws://127.0.0.1:PORT/ws
 * @property {number} port
 * @property {number} inspectorPort  V8's inspector for the worker's isolate; 0 when none was opened
 * @property {number} pid  wrangler's (the process group of every process it runs), or Miniflare's workerd
 * @property {string} source  which code runs (see snapshot)
 * @property {string | null} persistDir  where Durable Object storage is kept in files; null when in memory
 * @property {() => string} output  everything the runtime printed so far, the worker's console included
 * @property {(pattern: RegExp, opts?: { from?: number, timeoutMs?: number }) => Promise<string>} waitForOutput
 *   the first match of `pattern` in the output after offset `from`
 * @property {() => ServerCpu | null} cpu  null off Linux
 * @property {() => number} rss  resident memory of its workerd processes, in bytes (0 off Linux)
 * @property {() => Promise<void>} stop
 */

/**
 * @param {object} [opts]
 * @param {Runtime} [opts.runtime]  default wrangler
 * @param {string} [opts.config]  the wrangler config, relative to the code: "wrangler.toml" (default) or "bench/wrangler.toml"
 * @param {Record<string, string>} [opts.vars]  over the config's [vars], as `--var NAME:VALUE` overrides them
 * @param {boolean} [opts.openLobbies]  serve every `?lobby=NAME` (LOBBY_NAMES=*, under `vars`): tests and tools
 *   each open a fresh lobby, which a deployment does not allow by default (default true)
 * @param {string} [opts.src]  run this copy of src/ instead of the repository's (in the snapshot; not with `dir`)
 * @param {string} [opts.dir]  the code to run, laid out like the repository (default: a fresh snapshot, removed by stop)
 * @param {string[]} [opts.flags]  extra compatibility flags
 * @param {boolean} [opts.persist]  keep Durable Object storage in files (wrangler dev always does)
 * @param {string} [opts.persistDir]  wrangler dev only: keep that storage here rather than in a directory of the
 *   server's own, which stop removes; with `port` and `dir`, a second server takes over from one that was killed
 *   (test/e2e/restart.test.ts: a deploy or a crash, then the same lobby again)
 * @param {number} [opts.port]  wrangler dev only: listen on this port (default: a free one)
 * @param {boolean} [opts.inspector]  open V8's inspector under Miniflare (wrangler dev always does); off by default,
 *   since an open inspector may cost the isolate time
 * @param {string} [opts.logLevel]  wrangler's --log-level; "log" (default) keeps the worker's console output
 * @param {number} [opts.timeoutMs]  how long wrangler dev may take to answer GET /health
 * @returns {Promise<DevServer>}
 */
export async function startDevServer(opts = {}) {
  const { runtime = "wrangler", src, dir, openLobbies = true } = opts;
  const code = dir ? { dir, description: dir, remove: () => {} } : snapshot(src);
  const tmp = mkdtempSync(join(tmpdir(), "parley-dev-"));
  const vars = { ...(openLobbies ? { LOBBY_NAMES: "*" } : {}), ...opts.vars };
  const cleanUp = () => {
    process.off("exit", cleanUp);
    code.remove();
    rmSync(tmp, { recursive: true, force: true });
  };
  // Also when the caller exits without stopping it (each runtime stops its processes then, too).
  process.on("exit", cleanUp);
  try {
    const server = await (runtime === "miniflare" ? miniflare : wrangler)({ ...opts, vars, code: code.dir, tmp });
    const { stop } = server;
    return { ...server, runtime, wsUrl: `ws://${HOST}:${server.port}/ws`, source: code.description, stop: () => stop().finally(cleanUp) };
  } catch (err) {
    cleanUp();
    throw err;
  }
}

/**
 * @typedef {object} Started  what each runtime provides
 * @property {string} url
 * @property {number} port
 * @property {number} inspectorPort
 * @property {number} pid
 * @property {string | null} persistDir
 * @property {Output["output"]} output
 * @property {Output["waitForOutput"]} waitForOutput
 * @property {DevServer["cpu"]} cpu
 * @property {DevServer["rss"]} rss
 * @property {() => Promise<void>} stop  idempotent
 */

/**
 * @typedef {NonNullable<Parameters<typeof startDevServer>[0]> & { vars: Record<string, string>, code: string, tmp: string }} Launch
 */

/**
 * @param {Launch} o
 * @returns {Promise<Started>}
 */
async function wrangler({ code, tmp, vars, config = "wrangler.toml", flags = [], logLevel = "log", timeoutMs = 90_000, ...o }) {
  const port = o.port ?? (await freePort());
  const inspectorPort = await freePort();
  const persistDir = o.persistDir ?? join(tmp, "state");
  const args = [
    WRANGLER, "dev",
    "-c", join(code, config),
    "--ip", HOST,
    "--port", String(port),
    "--inspector-ip", HOST,
    "--inspector-port", String(inspectorPort),
    // Storage outside the code, so that nothing workerd writes is near what wrangler watches.
    "--persist-to", persistDir,
    "--show-interactive-dev-session=false",
    "--log-level", logLevel,
    ...Object.entries(vars).flatMap(([k, v]) => ["--var", `${k}:${v}`]),
    ...flags.flatMap((f) => ["--compatibility-flags", f]),
  ];
  // Its own process group, so that stopping it also stops the workerd processes it spawned.
  const child = spawn(process.execPath, args, {
    cwd: code,
    detached: true,
    env: { ...process.env, ...QUIET_ENV, CI: "true", NO_COLOR: "1" },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const pid = /** @type {number} */ (child.pid);
  const out = new Output("wrangler dev");
  child.stdout?.on("data", out.append);
  child.stderr?.on("data", out.append);
  let exited = false;
  const exit = new Promise((res) => child.once("exit", () => res((exited = true))));
  // Last resort when the caller dies without stopping it.
  const onExit = () => killGroup(pid, "SIGKILL");
  process.on("exit", onExit);
  /** @type {Promise<void> | null} */
  let stopping = null;
  const stop = () =>
    (stopping ??= (async () => {
      if (!exited) {
        killGroup(pid, "SIGTERM");
        const timer = setTimeout(() => killGroup(pid, "SIGKILL"), 5000);
        await exit;
        clearTimeout(timer);
      }
      // workerd may outlive wrangler by a moment; anything left in the group goes now.
      killGroup(pid, "SIGKILL");
      process.off("exit", onExit);
    })());

  const url = `http://${HOST}:${port}`;
  const started = Date.now();
  for (;;) {
    if (exited) {
      await stop();
      throw new Error(`wrangler dev exited before answering /health:\n${out.text}`);
    }
    try {
      const res = await fetch(`${url}/health`, { signal: AbortSignal.timeout(5000) });
      if (res.ok) break;
    } catch {
      // not listening yet
    }
    if (Date.now() - started > timeoutMs) {
      await stop();
      throw new Error(`wrangler dev did not answer /health within ${timeoutMs} ms:\n${out.text}`);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  // The proxy is the workerd on the public port; the runtime, the other one.
  const workerds = () => processes((p) => p.pgrp === pid && p.name === "workerd");
  const isProxy = (/** @type {number} */ p) => cmdline(p).includes(`entry=${HOST}:${port} `);
  return {
    url, port, inspectorPort, pid, persistDir,
    output: out.output, waitForOutput: out.waitForOutput,
    cpu: () => {
      const group = processes((p) => p.pgrp === pid);
      if (group.length === 0) return null;
      const cpu = { runtime: 0, runtimePid: 0, proxy: 0, wrangler: 0 };
      for (const p of group) {
        if (p.name !== "workerd") cpu.wrangler += p.cpuMs;
        else if (isProxy(p.pid)) cpu.proxy += p.cpuMs;
        else {
          cpu.runtime += p.cpuMs;
          cpu.runtimePid = p.pid;
        }
      }
      return cpu;
    },
    rss: () => workerds().reduce((sum, p) => sum + rssBytes(p.pid), 0),
    stop,
  };
}

/**
 * @param {Launch} o
 * @returns {Promise<Started>}
 */
async function miniflare({ code, tmp, vars, config = "wrangler.toml", flags = [], persist = false, inspector = false }) {
  // The compatibility date, flags, Durable Object bindings, [vars] and entry, as wrangler itself reads the config.
  const fromConfig = unstable_getMiniflareWorkerOptions(join(code, config));
  const bundle = await build({
    entryPoints: [fromConfig.main ?? ""],
    bundle: true,
    format: "esm",
    platform: "neutral",
    target: "es2022",
    conditions: ["workerd", "worker", "browser"],
    external: ["cloudflare:*"],
    write: false,
    logLevel: "error",
  });
  const { workerOptions } = fromConfig;
  const persistDir = persist ? join(tmp, "state") : null;
  const inspectorPort = inspector ? await freePort() : 0;
  const out = new Output("the runtime");
  // This server's workerd: the child of this process that was not there before it started.
  const children = () => processes((p) => p.ppid === process.pid && p.name === "workerd").map((p) => p.pid);
  const before = new Set(children());
  const mf = new Miniflare({
    modules: true,
    script: bundle.outputFiles[0]?.text ?? "",
    compatibilityDate: workerOptions.compatibilityDate,
    compatibilityFlags: [...(workerOptions.compatibilityFlags ?? []), ...flags],
    durableObjects: workerOptions.durableObjects,
    bindings: { ...workerOptions.bindings, ...vars },
    host: HOST,
    port: await freePort(),
    unsafeDirectSockets: [{ host: HOST, port: await freePort() }],
    ...(persistDir ? { durableObjectsPersist: persistDir } : {}),
    ...(inspectorPort ? { inspectorPort } : {}),
    // No fetch of Request.cf from Cloudflare (this machine is offline); the worker does not read it.
    cf: false,
    log: new Log(LogLevel.WARN),
    handleRuntimeStdio(stdout, stderr) {
      stdout.on("data", out.append);
      stderr.on("data", out.append);
    },
  });
  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    await mf.dispose();
  };
  try {
    await mf.ready;
    const url = (await mf.unsafeGetDirectURL()).origin;
    const pids = children().filter((pid) => !before.has(pid));
    if (pids.length === 0 && process.platform === "linux") throw new Error("Miniflare started, but no new workerd child of this process is in /proc");
    const mine = () => processes((p) => pids.includes(p.pid));
    return {
      url, port: Number(new URL(url).port), inspectorPort, pid: pids[0] ?? 0, persistDir,
      output: out.output, waitForOutput: out.waitForOutput,
      cpu: () => {
        const procs = mine();
        if (procs.length === 0) return null;
        return { runtime: procs.reduce((sum, p) => sum + p.cpuMs, 0), runtimePid: procs[0]?.pid ?? 0, proxy: 0, wrangler: 0 };
      },
      rss: () => pids.reduce((sum, pid) => sum + rssBytes(pid), 0),
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}

/** What a runtime printed, and waiting for a line of it. */
class Output {
  text = "";
  /** @type {Set<() => void>} */
  listeners = new Set();

  /** @param {string} who  for the timeout's message */
  constructor(who) {
    this.who = who;
  }

  /** @param {Buffer} chunk */
  append = (chunk) => {
    this.text += chunk;
    for (const listener of this.listeners) listener();
  };

  output = () => this.text;

  /** @type {DevServer["waitForOutput"]} */
  waitForOutput = (pattern, { from = 0, timeoutMs = 30_000 } = {}) =>
    new Promise((resolve, reject) => {
      const check = () => {
        const match = this.text.slice(from).match(pattern);
        if (!match) return;
        done();
        resolve(match[0]);
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error(`${this.who} never printed ${pattern} in ${timeoutMs} ms; it printed:\n${this.text.slice(from).slice(-3000)}`));
      }, timeoutMs);
      const done = () => {
        clearTimeout(timer);
        this.listeners.delete(check);
      };
      this.listeners.add(check);
      check();
    });
}

/**
 * @param {number} pgid
 * @param {NodeJS.Signals} signal
 */
function killGroup(pgid, signal) {
  try {
    process.kill(-pgid, signal);
  } catch {
    // already gone
  }
}
