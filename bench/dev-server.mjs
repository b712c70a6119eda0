// @ts-check
// Starts the bench worker (bench/wrangler.toml) under `wrangler dev` on free loopback ports, and stops it again.
// It runs a snapshot (makeSnapshot): src/ and the bench worker copied to a temporary directory first, because
// wrangler dev rebuilds and restarts on every change to a file it bundled, and people edit src/ while a benchmark
// runs (a restart mid-run drops every socket and shows up as lost messages).

import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { cpSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { ROOT, startDevServer as start } from "../scripts/dev-server.mjs";

export { ROOT };

/**
 * @typedef {object} DevServer
 * @property {string} http  http://127.0.0.1:PORT
 * @property {string} ws    ws://127.0.0.1:PORT
 * @property {() => string} output  what wrangler printed
 * @property {() => ServerCpu | null} serverCpu  CPU time the two workerd processes used so far, null off Linux
 * @property {number} inspectorPort  wrangler's DevTools proxy for the worker's isolate (GET /json lists it)
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
  mkdirSync(join(dir, "bench"));
  for (const file of ["wrangler.toml", "worker.ts", "relay.ts"]) cpSync(join(ROOT, "bench", file), join(dir, "bench", file));
  const hash = createHash("sha256");
  for (const file of readdirSync(join(dir, "src"), { recursive: true, encoding: "utf8" }).sort()) {
    try {
      hash.update(file).update(readFileSync(join(dir, "src", file)));
    } catch {
      // a directory
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
 * @param {Record<string, string>} opts.vars  `--var NAME:VALUE`
 * @param {string[]} [opts.flags]  `--compatibility-flags`
 * @param {number} [opts.timeoutMs]
 * @returns {Promise<DevServer>}
 */
export async function startDevServer({ snapshot, vars, flags = [], timeoutMs = 90_000 }) {
  // wrangler logs every request it proxies; thousands of upgrades of noise on a 2-core machine is load we do not want.
  const dev = await start({ dir: snapshot.dir, config: "bench/wrangler.toml", vars, flags, timeoutMs, logLevel: "warn" });
  return {
    http: dev.url,
    ws: `ws://127.0.0.1:${dev.port}`,
    output: dev.output,
    serverCpu: () => serverCpu(dev.pid, dev.port),
    inspectorPort: dev.inspectorPort,
    snapshot: snapshot.description,
    stop: dev.stop,
  };
}

/** Clock ticks per second for /proc/PID/stat; 100 on every Linux we run on. */
const TICKS = 100;

/**
 * @typedef {object} ServerCpu
 * @property {number} runtime  ms of CPU used by the workerd that runs the bench worker and its Durable Objects
 * @property {number} runtimePid  that workerd's pid: a new one means wrangler restarted the runtime
 * @property {number} proxy    ms used by wrangler dev's proxy workerd, which every frame passes through locally
 *                             (and which does not exist in production)
 */

/**
 * CPU time used so far by the workerd processes in process group `pgid`, from /proc (Linux only): how much work
 * the server did, which noise from other processes on the machine changes far less than it changes wall-clock
 * rates. The proxy is the workerd listening on `port`; the runtime is the other one.
 * @param {number} pgid
 * @param {number} port
 * @returns {ServerCpu | null}
 */
export function serverCpu(pgid, port) {
  let entries;
  try {
    entries = readdirSync("/proc");
  } catch {
    return null;
  }
  const cpu = { runtime: 0, runtimePid: 0, proxy: 0 };
  let found = false;
  for (const entry of entries) {
    if (!/^\d+$/.test(entry)) continue;
    let stat;
    let cmdline;
    try {
      stat = readFileSync(`/proc/${entry}/stat`, "utf8");
      // "pid (comm) state ppid pgrp …": comm may hold spaces, so split after its closing paren.
      const close = stat.lastIndexOf(")");
      if (stat.slice(stat.indexOf("(") + 1, close) !== "workerd") continue;
      const fields = stat.slice(close + 2).split(" ");
      if (Number(fields[2]) !== pgid) continue;
      cmdline = readFileSync(`/proc/${entry}/cmdline`, "utf8");
      const ms = ((Number(fields[11]) + Number(fields[12])) * 1000) / TICKS;
      if (cmdline.includes(`entry=127.0.0.1:${port}`)) cpu.proxy += ms;
      else {
        cpu.runtime += ms;
        cpu.runtimePid = Number(entry);
      }
      found = true;
    } catch {
      continue; // gone meanwhile
    }
  }
  return found ? cpu : null;
}
